"""polychat's benchmark suite: ``python -m bench`` (or ``polychat bench``) writes BENCHMARKS.md.

Sections (``--sections``): ``tools`` (per-tool load, latency, memory), ``asr`` (real-time
factor and WER per Whisper backend, beam size, compute type), ``tts`` (real-time factor per
voice backend), ``voice`` (voice note in → first spoken audio out, through the Assistant),
``stream`` (the same read off ``Assistant.stream``'s events, where the time goes, and the
chat model's first token against its whole reply),
``server`` (web server start and idle memory), ``load`` (8 conversations at once over the
HTTP API, 5 mixed turns each: p50/p95 per turn kind, errors, server memory before and after),
``compare`` (side by side: a model per request vs the warm manager, transformers vs
CTranslate2 on one checkpoint, fp32 vs int8, streamed vs whole speech) and ``gpu`` (fp16,
attention kernels, Stable Diffusion, batched Whisper; on CUDA only). The report ends with the
defaults these numbers justify.
"""
