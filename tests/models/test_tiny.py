"""The tiny random models load with the standard classes and run end to end, offline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from agent.models import tiny
from agent.models.tiny import MARKER_NAME, TINY_FORMAT_VERSION, TINY_KINDS, build_tiny, ensure_tiny

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

MAX_FOLDER_BYTES = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and far faster than on two on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by this module's tests; models are built on first use."""
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture
def image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_ensure_tiny_builds_once_and_stays_small(kind: str, tiny_cache: Path) -> None:
    folder = ensure_tiny(kind, tiny_cache)
    marker = folder / MARKER_NAME
    assert folder == tiny_cache / kind
    assert json.loads(marker.read_text()) == {"kind": kind, "format": TINY_FORMAT_VERSION}
    assert 0 < folder_size(folder) < MAX_FOLDER_BYTES
    mtime = marker.stat().st_mtime_ns
    assert ensure_tiny(kind, tiny_cache) == folder
    assert marker.stat().st_mtime_ns == mtime
    assert not [p for p in tiny_cache.iterdir() if p.name.startswith(".")]


def test_stale_cache_is_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "hifigan"
    folder.mkdir()
    (folder / MARKER_NAME).write_text(json.dumps({"kind": "hifigan", "format": -1}))
    assert ensure_tiny("hifigan", tmp_path) == folder
    assert json.loads((folder / MARKER_NAME).read_text())["format"] == TINY_FORMAT_VERSION
    assert (folder / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hifigan"]


def test_racing_builders_both_get_a_good_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    both_built = threading.Barrier(2, timeout=60)

    def build_then_wait(kind: str, dest: Path) -> Path:
        build_tiny(kind, dest)
        both_built.wait()  # both staging folders are complete before either is renamed
        return dest

    monkeypatch.setattr(tiny, "build_tiny", build_then_wait)
    with ThreadPoolExecutor(max_workers=2) as pool:
        folders = list(pool.map(lambda _: ensure_tiny("hifigan", tmp_path), range(2)))
    assert folders == [tmp_path / "hifigan"] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hifigan"]
    assert (tmp_path / "hifigan" / "model.safetensors").is_file()


def test_unknown_kind_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown tiny model kind 'gpt-9'"):
        build_tiny("gpt-9", tmp_path / "x")
    with pytest.raises(ValueError):
        ensure_tiny("gpt-9", tmp_path)


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny("hifigan", tmp_path / "a") / "model.safetensors"
    second = build_tiny("hifigan", tmp_path / "b") / "model.safetensors"
    assert first.read_bytes() == second.read_bytes()


def test_whisper(tiny_cache: Path) -> None:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = ensure_tiny("whisper", tiny_cache)
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder)
    audio = np.random.default_rng(0).standard_normal(16_000 * 2).astype(np.float32) * 0.1
    features = processor(audio, sampling_rate=16_000, return_tensors="pt").input_features
    assert features.shape == (1, 80, 3000)
    tokenizer = processor.tokenizer

    translated = model.generate(
        features, language="fr", task="translate", max_new_tokens=8, return_dict_in_generate=True
    ).sequences
    assert translated[0, :4].tolist() == tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|fr|>", "<|translate|>", "<|notimestamps|>"]
    )
    text = processor.batch_decode(translated, skip_special_tokens=True)[0]
    assert isinstance(text, str) and text.isprintable()

    assert model.detect_language(features).item() == tokenizer.convert_tokens_to_ids("<|en|>")
    for kwargs in ({"task": "transcribe"}, {}):  # language detection; {} uses forced_decoder_ids
        detected = model.generate(features, max_new_tokens=8, **kwargs)
        assert isinstance(processor.batch_decode(detected, skip_special_tokens=True)[0], str)

    timed = model.generate(features, language="en", return_timestamps=True, max_new_tokens=12)
    assert tokenizer.decode(timed[0], decode_with_timestamps=True).startswith("<|0.00|>")
    assert "<|" not in tokenizer.decode(timed[0], skip_special_tokens=True)

    long_audio = np.tile(audio, 20)  # 40 s: long-form generation over 30 s windows
    inputs = processor(
        long_audio, sampling_rate=16_000, return_tensors="pt", truncation=False,
        padding="longest", return_attention_mask=True,
    )
    assert inputs.input_features.shape[-1] > 3000
    long_out = model.generate(
        inputs.input_features, attention_mask=inputs.attention_mask, language="en",
        return_timestamps=True, return_segments=True, max_new_tokens=12,
    )
    segments = long_out["segments"][0]
    assert len(segments) >= 2 and float(segments[-1]["end"]) == pytest.approx(40.0, abs=0.1)
    assert isinstance(processor.batch_decode(long_out["sequences"], skip_special_tokens=True)[0], str)


@pytest.mark.parametrize("kind", ["blip-caption", "blip-vqa"])
def test_blip(kind: str, tiny_cache: Path, image: Image.Image) -> None:
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipProcessor

    folder = ensure_tiny(kind, tiny_cache)
    processor = BlipProcessor.from_pretrained(folder)
    if kind == "blip-caption":
        model = BlipForConditionalGeneration.from_pretrained(folder)
        prompts: list[str | None] = [None, "a picture of"]
    else:
        model = BlipForQuestionAnswering.from_pretrained(folder)
        prompts = ["what colour is the car?"]
    for prompt in prompts:
        inputs = processor(images=image, text=prompt, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=5)
        assert out.shape[0] == 1 and out.shape[1] > 1
        assert isinstance(processor.decode(out[0], skip_special_tokens=True), str)


def test_trocr(tiny_cache: Path, image: Image.Image) -> None:
    from transformers import TrOCRProcessor, VisionEncoderDecoderModel

    folder = ensure_tiny("trocr", tiny_cache)
    processor = TrOCRProcessor.from_pretrained(folder)
    model = VisionEncoderDecoderModel.from_pretrained(folder)
    pixel_values = processor(images=image, return_tensors="pt").pixel_values
    assert pixel_values.shape == (1, 3, 32, 32)
    out = model.generate(pixel_values, max_new_tokens=6)
    assert out[0, 0].item() == model.config.decoder_start_token_id
    assert processor.batch_decode(out, skip_special_tokens=True)[0].isprintable()


def test_speecht5_with_hifigan(tiny_cache: Path) -> None:
    from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Processor

    processor = SpeechT5Processor.from_pretrained(ensure_tiny("speecht5", tiny_cache))
    model = SpeechT5ForTextToSpeech.from_pretrained(tiny_cache / "speecht5")
    vocoder = SpeechT5HifiGan.from_pretrained(ensure_tiny("hifigan", tiny_cache))
    input_ids = processor(text="Hi there.", return_tensors="pt")["input_ids"]
    speaker = torch.randn(1, 512)
    spectrogram = model.generate_speech(input_ids, speaker_embeddings=speaker)
    # The tiny model never predicts "stop": it speaks up to maxlenratio=20 frames per token.
    assert spectrogram.shape == (20 * input_ids.shape[1], 80)
    waveform = model.generate_speech(input_ids, speaker_embeddings=speaker, vocoder=vocoder, maxlenratio=4.0).numpy()
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert waveform.size == 4 * input_ids.shape[1] * 256  # 256 samples per mel frame
    assert 1e-3 < np.abs(waveform).max() <= 1.0  # audible noise, not silence
    assert vocoder.config.sampling_rate == 16_000


def test_marian(tiny_cache: Path) -> None:
    from transformers import MarianMTModel, MarianTokenizer

    folder = ensure_tiny("marian", tiny_cache)
    tokenizer = MarianTokenizer.from_pretrained(folder)
    model = MarianMTModel.from_pretrained(folder)
    batch = tokenizer(["Hello world.", "The cat sits on the sofa."], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=8)
    texts = tokenizer.batch_decode(out, skip_special_tokens=True)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


@pytest.mark.parametrize("size", [64, 32, None])
def test_stable_diffusion(size: int | None, tiny_cache: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(ensure_tiny("stable-diffusion", tiny_cache))
    pipeline.set_progress_bar_config(disable=True)
    result = pipeline(
        "a red cat", height=size, width=size, num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    )
    assert isinstance(result.images[0], Image.Image)
    assert result.images[0].size == (size or 64, size or 64)  # default: 8 latents x 8 (VAE scale)


def test_chat(tiny_cache: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = ensure_tiny("chat", tiny_cache)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    prompt_length = inputs["input_ids"].shape[1]
    assert out.shape[1] > prompt_length
    assert tokenizer.decode(out[0, prompt_length:], skip_special_tokens=True).isprintable()
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id
