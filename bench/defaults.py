"""The report's last part: each default polychat ships, the row that justifies it, and a verdict.

The verdicts follow fixed rules on the measured numbers (written next to each rule), so
a run on another machine can reach another verdict; "change suggested" means the numbers
of this run argue against what the code does now.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.common import RunConfig
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, Section, fmt, ratio

ENGINE_SPEEDUP_TO_SWITCH = 1.5  # × faster on the same checkpoint before another engine is worth a default change
WER_TOLERANCE = 0.02  # absolute WER two settings may differ by and still count as equally accurate
BEAM_COST_TO_QUESTION = 1.3  # × time beam 5 may cost over beam 1 before the beam size is questioned
THREADS_TOLERANCE = 1.10  # × the best thread count's time the default may take and still be kept
INT8_TOLERANCE = 1.10  # × float32's time int8 may take and still be kept (it also halves the memory)
CER_TOLERANCE = 0.02  # absolute CER two OCR engines may differ by and still count as equally accurate
TTS_SPEEDUP_TO_SWITCH = 3.0  # × lower real-time factor before another voice engine is worth a default change
STREAMING_GAIN = 1.5  # × sooner first audio before streaming is worth the extra plumbing
DETECTION_SHARE = 0.25  # share of a voice turn's transcription that language detection may take before it is questioned
SDPA_TOLERANCE = 1.05  # × eager attention's speed SDPA may fall short by and still be kept

NOT_MEASURED = "not measured in this run"


def _findings(sections: Iterable[Section], kind: str) -> Any:
    for section in sections:
        if kind in section.findings:
            return section.findings[kind]
    return None


def _asr(rows: list[dict[str, Any]] | None, **match: Any) -> dict[str, Any] | None:
    for row in rows or []:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _wer(row: dict[str, Any]) -> str:
    return "—" if row.get("wer") is None else f"{row['wer']:.2f}"


def asr_engine(sections: list[Section]) -> list[str]:
    from agent.models.catalog import preferred_backends

    first = preferred_backends("transcribe_audio")[0]
    now = f"`{first}` first when installed (`tried_first` in the tool's `BACKENDS`), the other engine next"
    engines = _findings(sections, "engines") or {}
    best = [(dims, speed) for (dims, engine, compute), speed in engines.items() if engine == "CTranslate2"
            and compute == "int8" and speed is not None]
    if not best:
        return ["ASR engine on CPU", now, "compare (b)", NOT_MEASURED, "—"]
    dims, speed = best[-1]  # the largest checkpoint measured
    numbers = (f"CTranslate2 int8 is {speed:.1f}× faster than transformers fp32 on the same "
               f"whisper-{dims}-size checkpoint")
    quantized = engines.get((dims, "transformers + dynamic int8", "int8 (Linear)"))
    if quantized is not None:
        numbers += f" (transformers with dynamic int8: {quantized:.1f}×)"
    if speed >= ENGINE_SPEEDUP_TO_SWITCH and first != "faster-whisper":
        verdict = "**change suggested**: on CPU, prefer faster-whisper (int8) whenever its weights are present"
    else:
        verdict = "keep"
    return ["ASR engine on CPU", now, "compare (b), whisper rows", numbers, verdict]


def asr_compute_type(sections: list[Section]) -> list[str]:
    rows = _findings(sections, "asr")
    int8 = _asr(rows, model="whisper-base", compute_type="int8", beams=5, threads=0)
    fp32 = _asr(rows, model="whisper-base", compute_type="float32", beams=5, threads=0)
    now = "int8 on CPU (`agent.models.loaders.load_faster_whisper`)"
    if not int8 or not fp32:
        return ["faster-whisper compute type", now, "asr", NOT_MEASURED, "—"]
    numbers = f"RTF {int8['rtf']:.2f} (WER {_wer(int8)}) vs float32 RTF {fp32['rtf']:.2f} (WER {_wer(fp32)})"
    same_accuracy = (int8.get("wer") or 0) <= (fp32.get("wer") or 0) + WER_TOLERANCE
    fast_enough = int8["rtf"] <= fp32["rtf"] * INT8_TOLERANCE
    verdict = "keep" if fast_enough and same_accuracy else "**change suggested**: float32"
    return ["faster-whisper compute type", now, "asr, whisper-base int8/float32 beam 5", numbers, verdict]


def asr_beam(sections: list[Section]) -> list[str]:
    from tools.transcribe import BEAM_SIZE

    rows = _findings(sections, "asr")
    one = _asr(rows, model="whisper-base", compute_type="int8", beams=1, threads=0)
    five = _asr(rows, model="whisper-base", compute_type="int8", beams=5, threads=0)
    now = f"beam {BEAM_SIZE} (`tools.transcribe.BEAM_SIZE`)"
    if not one or not five:
        return ["Whisper beam size", now, "asr", NOT_MEASURED, "—"]
    cost = ratio(five["rtf"], one["rtf"]) or 1.0
    numbers = (f"beam 5: RTF {five['rtf']:.2f}, WER {_wer(five)}; beam 1: RTF {one['rtf']:.2f}, WER {_wer(one)} "
               f"(beam 5 costs {cost:.2f}×)")
    better = five.get("wer") is not None and one.get("wer") is not None and five["wer"] + 0.005 < one["wer"]
    if better or cost <= BEAM_COST_TO_QUESTION:
        verdict = "keep" + (" (more accurate)" if better else " (costs little)")
    else:
        verdict = ("**question**: beam 1 was as accurate here and cheaper, but these are clean synthetic voices; "
                   "keep 5 unless latency matters more than hard audio")
    return ["Whisper beam size", now, "asr, whisper-base int8 beam 1/5", numbers, verdict]


def asr_threads(sections: list[Section]) -> list[str]:
    rows = _findings(sections, "asr")
    from bench.sec_speech import THREAD_CHOICES

    found = {t: _asr(rows, model="whisper-base", compute_type="int8", beams=5, threads=t) for t in (0, *THREAD_CHOICES)}
    now = "CTranslate2's default (`cpu_threads=0`)"
    if any(row is None for row in found.values()):
        return ["faster-whisper threads", now, "asr (full run only)", NOT_MEASURED, "—"]
    best = min(found, key=lambda t: found[t]["rtf"])
    numbers = ", ".join(f"{'default' if t == 0 else t}: RTF {row['rtf']:.2f}" for t, row in found.items())
    verdict = "keep" if found[0]["rtf"] <= found[best]["rtf"] * THREADS_TOLERANCE else f"**change suggested**: {best}"
    return ["faster-whisper threads", now, "asr, whisper-base int8 beam 5 threads rows", numbers, verdict]


def ocr_engine(sections: list[Section]) -> list[str]:
    from agent.models.catalog import offline_fallbacks

    order = [backend.name for backend, _ in offline_fallbacks("read_image_text")]
    now = " then ".join(order) + " when TrOCR weights are absent"
    rows = {r["backend"]: r for r in _findings(sections, "tools") or []
            if r["tool"] == "read_image_text" and r["label"] == REAL_WEIGHTS}
    if not {"tesseract", "rapidocr"} <= set(rows):
        return ["OCR engine offline", now, "tools", NOT_MEASURED, "—"]
    tess, rapid = rows["tesseract"], rows["rapidocr"]
    numbers = (f"Tesseract {tess['warm']:.2f} s, CER {tess['score']:.2f}; RapidOCR {rapid['warm']:.2f} s, "
               f"CER {rapid['score']:.2f}")
    if abs(tess["score"] - rapid["score"]) > CER_TOLERANCE:
        best = "tesseract" if tess["score"] < rapid["score"] else "rapidocr"
    else:
        best = "tesseract" if tess["warm"] <= rapid["warm"] else "rapidocr"
    verdict = "keep" if order[0] == best else f"**change suggested**: {best} first"
    return ["OCR engine offline", now, "tools, read_image_text rows", numbers, verdict]


def tts_engine(sections: list[Section]) -> list[str]:
    from agent.models.catalog import preferred_backends

    first = preferred_backends("speak_text")[0]
    now = f"`{first}` first when a voice is installed (`tried_first` in the tool's `BACKENDS`), SpeechT5 next"
    rows = _findings(sections, "tts") or []
    piper = next((r for r in rows if r["engine"].startswith("Piper")), None)
    speecht5 = next((r for r in rows if r["engine"].startswith("SpeechT5") and r["label"] == RANDOM_REAL_SIZE), None)
    if not piper or not speecht5:
        return ["TTS engine on CPU", now, "tts (SpeechT5 real size: full run only)", NOT_MEASURED, "—"]
    gain = ratio(speecht5["rtf"], piper["rtf"]) or 0.0
    numbers = f"Piper RTF {piper['rtf']:.2f} vs SpeechT5 + HiFi-GAN (real size) RTF {speecht5['rtf']:.2f}: {gain:.1f}×"
    if gain >= TTS_SPEEDUP_TO_SWITCH and first != "piper":
        verdict = "**change suggested**: on CPU, speak with Piper whenever a Piper voice is installed"
    else:
        verdict = "keep"
    return ["TTS engine on CPU", now, "tts", numbers, verdict]


def _streaming_verdict(gain: float) -> str:
    """The code streams spoken replies already; the numbers say whether that is worth it."""
    if gain >= STREAMING_GAIN:
        return "keep: faces should play `audio.chunk` events as they come"
    return "keep (streaming gained less than the rule asks here, but it costs nothing extra)"


def spoken_replies(sections: list[Section]) -> list[str]:
    now = ("`Assistant.stream` sends each spoken sentence as an `audio.chunk` as soon as it is made "
           "(`respond` collects the whole reply)")
    stream = _findings(sections, "stream")
    voice = _findings(sections, "voice")
    streaming = _findings(sections, "streaming")
    if stream:
        gain = ratio(stream["whole"], stream["first_audio"]) or 0.0
        numbers = (f"voice note in → first audio {stream['first_audio']:.2f} s streamed vs {stream['whole']:.2f} s "
                   f"whole ({gain:.1f}×); target ≤ {stream['target']:.1f} s "
                   f"{'met' if stream['met'] else 'not met'}")
        return ["Spoken replies", now, "stream", numbers, _streaming_verdict(gain)]
    if voice:
        gain = ratio(voice["whole_first_audio"], voice["streaming_first_audio"]) or 0.0
        numbers = (f"first audio {voice['whole_first_audio']:.2f} s whole vs "
                   f"{voice['streaming_first_audio']:.2f} s sentence by sentence ({gain:.1f}×)")
        evidence = "voice"
    elif streaming:
        gain = ratio(streaming["whole"], streaming["first"]) or 0.0
        numbers = f"{streaming['voice']}: whole {streaming['whole']:.2f} s vs first sentence {streaming['first']:.2f} s"
        evidence = "compare (d)"
    else:
        return ["Spoken replies", now, "voice, compare (d)", NOT_MEASURED, "—"]
    return ["Spoken replies", now, evidence, numbers, _streaming_verdict(gain)]


def voice_language(sections: list[Section]) -> list[str]:
    now = "a voice note's language is detected on every turn (`transcribe_audio` gets no language)"
    stream = _findings(sections, "stream")
    if not stream or not stream.get("asr_tool") or stream.get("asr_language_given") is None:
        return ["Voice-note language", now, "stream", NOT_MEASURED, "—"]
    share = 1 - stream["asr_language_given"] / stream["asr_tool"]
    estimate = stream.get("language_given_first_audio")
    numbers = (f"detection is {share:.0%} of the transcription ({stream['asr_tool']:.2f} s detected vs "
               f"{stream['asr_language_given']:.2f} s given)")
    if estimate is not None:
        numbers += f"; first audio {stream['first_audio']:.2f} s now, about {estimate:.2f} s with the language given"
    if share >= DETECTION_SHARE:
        verdict = ("**change suggested**: pass the language when it is known (the session's earlier voice notes, "
                   "or a setting) instead of detecting it on every voice note")
    else:
        verdict = "keep"
    return ["Voice-note language", now, "stream, transcription step table", numbers, verdict]


def model_reuse(sections: list[Section]) -> list[str]:
    now = "models load once and stay loaded (`ModelManager`)"
    found = _findings(sections, "per_request")
    if not found:
        return ["Model reuse", now, "compare (a)", NOT_MEASURED, "—"]
    numbers = "; ".join(f"{task}: {fmt(value)}× slower per request" for task, value in found.items())
    return ["Model reuse", now, "compare (a)", numbers, "keep"]


def quantization(sections: list[Section]) -> list[str]:
    now = "transformers models run in fp32 on CPU (no dynamic quantization)"
    found = _findings(sections, "quant")
    if not found:
        return ["Dynamic int8 on CPU", now, "compare (c)", NOT_MEASURED, "—"]
    numbers = "; ".join(f"{name}: fp32 / int8 time {fmt(v['speedup'])}, top-1 agreement {v['top1']:.0%}"
                        for name, v in found.items())
    verdict = ("keep fp32 (random weights cannot show the quality cost; Whisper gets int8 through CTranslate2, "
               "and torch's quantized tensors are deprecated)")
    return ["Dynamic int8 on CPU", now, "compare (c)", numbers, verdict]


def cuda_dtype(sections: list[Section]) -> list[str]:
    now = "float16 on CUDA (`agent.models.manager.resolve_dtype`)"
    gpu = _findings(sections, "gpu")
    if not gpu:
        return ["dtype on CUDA", now, "gpu", f"{NOT_MEASURED} (needs CUDA: `python -m bench --sections gpu`)", "—"]
    whisper = ratio(gpu["whisper"].get(("float32", "sdpa")), gpu["whisper"].get(("float16", "sdpa")))
    diffusion = ratio(gpu["sd"].get("float32"), gpu["sd"].get("float16"))
    numbers = f"{gpu['card']}: fp16 is {fmt(whisper)}× faster for Whisper, {fmt(diffusion)}× for Stable Diffusion"
    verdict = "keep" if (whisper or 0) >= 1 and (diffusion or 0) >= 1 else "**question**: fp16 was not faster here"
    return ["dtype on CUDA", now, "gpu, Whisper and Stable Diffusion tables", numbers, verdict]


def attention_kernel(sections: list[Section]) -> list[str]:
    now = "SDPA for Whisper (`agent.models.loaders.load_whisper`)"
    gpu = _findings(sections, "gpu")
    if not gpu:
        return ["attention on CUDA", now, "gpu", f"{NOT_MEASURED} (needs CUDA)", "—"]
    speed = ratio(gpu["whisper"].get(("float16", "eager")), gpu["whisper"].get(("float16", "sdpa")))
    numbers = f"{gpu['card']}: SDPA is {fmt(speed)}× the speed of eager attention (float16)"
    verdict = "keep" if (speed or 0) >= 1 / SDPA_TOLERANCE else "**change suggested**: eager"
    return ["attention on CUDA", now, "gpu, Whisper precision table", numbers, verdict]


def render_defaults(sections: list[Section], config: RunConfig) -> str:
    """The "Defaults chosen from these numbers" part of BENCHMARKS.md."""
    rows = [asr_engine(sections), asr_compute_type(sections), asr_beam(sections), asr_threads(sections),
            ocr_engine(sections), tts_engine(sections), spoken_replies(sections), voice_language(sections),
            model_reuse(sections),
            quantization(sections), cuda_dtype(sections), attention_kernel(sections)]
    lines = [
        "## Defaults chosen from these numbers",
        "",
        f"Each default polychat ships, the row above that justifies it, and the verdict of this run "
        f"(`{config.command}`). Verdicts follow fixed rules in `bench/defaults.py`: another engine must be "
        f"{ENGINE_SPEEDUP_TO_SWITCH}× faster on the same checkpoint, WER within {WER_TOLERANCE} counts as equal, "
        f"a voice engine must have a {TTS_SPEEDUP_TO_SWITCH}× lower RTF, streaming must bring the first audio "
        f"{STREAMING_GAIN}× sooner, language detection may take {DETECTION_SHARE:.0%} of a voice note's "
        "transcription.",
        "",
        "| default | in the code now | evidence | numbers | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    lines.append("")
    if config.quick:
        lines += ["This was a `--quick` run (smaller models, fewer runs): use a full run's verdicts for decisions.", ""]
    return "\n".join(lines)
