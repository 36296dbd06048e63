"""Measuring incremental against one-shot transcription on the same recording.

``compare(models, audio)`` feeds a recording to an :class:`IncrementalTranscriber` at the
pace of speech (as a microphone would), then times what is left after the last sample:
``finish()`` against transcribing the whole recording at once, and scores how far the
two texts differ (word error rate)::

    from agent.voice.bench import compare
    result = compare(manager, samples, language="en", model_kwargs={"model": "package:whisper-base"})
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from agent.media import SAMPLE_RATE
from agent.voice.incremental import IncrementalTranscriber, whisper_engine


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of ``reference``, ignoring case and punctuation."""
    ref, hyp = (re.findall(r"[\w']+", text.lower()) for text in (reference, hypothesis))
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != heard))
    return row[-1] / max(1, len(ref))


def compare(
    models: Any,
    audio: np.ndarray,
    *,
    language: str | None = None,
    reference: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    chunk_seconds: float = 0.1,
    realtime: bool = True,
) -> dict[str, Any]:
    """Incremental vs one-shot transcription of one 16 kHz recording.

    Args:
        models: the model manager.
        audio: float samples at 16 kHz, ideally ending where the speech ends.
        language: the language hint (None: detected).
        reference: what was said, to score both texts against it.
        model_kwargs: passed to ``models.use`` (``model=...``).
        chunk_seconds: the size of each chunk fed.
        realtime: feed at the pace of speech (False: as fast as possible).

    Returns:
        ``seconds`` (the recording), ``incremental_s`` (last sample fed → final text),
        ``one_shot_s`` (whole recording → text), ``pieces`` (engine calls while feeding),
        ``tail_calls`` (engine calls in ``finish()``), both texts, ``wer`` (incremental
        against one-shot) and, with a reference, ``wer_incremental`` / ``wer_one_shot``.
    """
    kwargs = dict(model_kwargs or {})
    engine = whisper_engine(models, **kwargs)
    engine(audio[: SAMPLE_RATE], None, language or "en")  # load the model before timing
    chunk = max(1, round(chunk_seconds * SAMPLE_RATE))

    transcriber = IncrementalTranscriber(engine=engine, language=language)
    started = time.perf_counter()
    for start in range(0, audio.size, chunk):
        transcriber.feed(audio[start : start + chunk])
        if realtime:
            time.sleep(max(0.0, started + (start + chunk) / SAMPLE_RATE - time.perf_counter()))
    fed = time.perf_counter()
    pieces = transcriber.calls
    incremental = transcriber.finish()
    incremental_s = time.perf_counter() - fed

    began = time.perf_counter()
    one_shot = str(engine(audio, None, language).get("text", "")).strip()
    one_shot_s = time.perf_counter() - began

    result: dict[str, Any] = {
        "seconds": round(audio.size / SAMPLE_RATE, 2),
        "incremental_s": round(incremental_s, 3),
        "one_shot_s": round(one_shot_s, 3),
        "pieces": pieces,
        "tail_calls": transcriber.calls - pieces,
        "incremental": incremental,
        "one_shot": one_shot,
        "wer": round(word_error_rate(one_shot, incremental), 4),
    }
    if reference is not None:
        result["wer_incremental"] = round(word_error_rate(reference, incremental), 4)
        result["wer_one_shot"] = round(word_error_rate(reference, one_shot), 4)
    return result
