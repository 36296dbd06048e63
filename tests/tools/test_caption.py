"""caption_image: caption cleaning, the tiny BLIP end to end, errors, and ``polychat caption``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.errors import ToolError
from tools.base import ToolContext
from tools.caption import CaptionImageTool, clean_caption


def picture() -> Image.Image:
    """A small picture with some structure: a red square on a blue ground."""
    pixels = np.zeros((96, 128, 3), dtype=np.uint8)
    pixels[:] = (30, 60, 200)
    pixels[20:70, 30:90] = (220, 30, 30)
    return Image.fromarray(pixels)


@pytest.fixture
def image_id(tiny_context: ToolContext) -> str:
    return tiny_context.artifacts.add_image(picture(), origin="uploaded").id


# --------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("continuation", "prefix", "expected"),
    [
        ("two cats sleeping on a couch", "", "Two cats sleeping on a couch."),
        ("  a dog running on the beach .  ", "", "A dog running on the beach."),
        ("arafed woman holding an umbrella", "", "Woman holding an umbrella."),
        ("a woman and her dog", "a photograph of", "A photograph of a woman and her dog."),
        ("a photograph of a woman and her dog", "A photograph of", "A photograph of a woman and her dog."),
        ("a photograph of a photograph of a cat", "a photograph of", "A photograph of a cat."),
        ("of a red bus", "A picture of", "A picture of a red bus."),
        ("a cat!", "A painting of:", "A painting of a cat."),
        ("", "", ""),
        ("  ?! ", "", ""),
        ("a photograph of", "a photograph of", ""),
    ],
)
def test_captions_become_one_clean_sentence(continuation, prefix, expected):
    assert clean_caption(continuation, prefix) == expected


# --------------------------------------------------------------------------- tiny BLIP


def test_caption_is_one_sentence(tiny_context, image_id):
    result = CaptionImageTool(context=tiny_context).execute(image=image_id)
    caption = result.data["caption"]
    assert isinstance(caption, str) and caption
    assert result.text == caption
    assert caption[0].isupper() and caption.endswith(".") and "\n" not in caption
    assert result.data["image"] == image_id and result.artifacts == []


def test_caption_is_reproducible(tiny_context, image_id):
    tool = CaptionImageTool(context=tiny_context)
    assert tool.execute(image=image_id).text == tool.execute(image=image_id).text


@pytest.mark.parametrize("prefix", ["a photo of", "A photograph of", "  a picture of  "])
def test_prefix_starts_the_caption_once(tiny_context, image_id, prefix):
    result = CaptionImageTool(context=tiny_context).execute(image=image_id, prefix=prefix)
    caption = result.data["caption"]
    written = " ".join(prefix.split())
    assert caption.startswith(written[0].upper() + written[1:] + " ")
    assert caption.lower().count(written.lower()) == 1
    assert len(caption) > len(written) + 1 and caption.endswith(".")


def test_blank_prefix_is_a_plain_caption(tiny_context, image_id):
    tool = CaptionImageTool(context=tiny_context)
    assert tool.execute(image=image_id, prefix="   ").text == tool.execute(image=image_id).text


def test_progress_is_reported(tiny_context, image_id):
    seen = []
    tiny_context.progress = lambda label, done, total: seen.append((done, total))
    CaptionImageTool(context=tiny_context).execute(image=image_id)
    assert seen == [(0, 1), (1, 1)]


def test_langchain_invoke_returns_the_caption(tiny_context, image_id):
    tool = CaptionImageTool(context=tiny_context)
    assert tool.invoke({"image": image_id}) == tool.execute(image=image_id).text


# --------------------------------------------------------------------------- errors


def test_unknown_image_id_is_one_sentence(tiny_context, image_id):
    with pytest.raises(ToolError, match=r"^There is no image-5 in this conversation; known: image-1\.$"):
        CaptionImageTool(context=tiny_context).execute(image="image-5")


def test_audio_is_not_an_image(tiny_context):
    from agent.media import encode_wav

    audio = tiny_context.artifacts.add_bytes(encode_wav(np.zeros(800, dtype=np.float32), 16_000))
    with pytest.raises(ToolError, match="audio-1 is audio, not an image"):
        CaptionImageTool(context=tiny_context).execute(image=audio.id)


def test_too_long_prefix_is_refused(tiny_context, image_id):
    with pytest.raises(ToolError, match="The prefix is .* tokens long .* use a shorter prefix"):
        CaptionImageTool(context=tiny_context).execute(image=image_id, prefix="a red car " * 20)
    small = ToolContext(
        settings=tiny_context.settings.with_overrides(max_text_chars=10),
        models=tiny_context.models,
        artifacts=tiny_context.artifacts,
    )
    with pytest.raises(ToolError, match="The prefix is 23 characters long; the limit is 10"):
        CaptionImageTool(context=small).execute(image=image_id, prefix="a photograph taken of a")


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tiny_settings, use_settings):
    """``main`` running in this process against the tiny profile."""
    from agent.cli import main
    from agent.models.manager import ModelManager, set_manager

    use_settings(tiny_settings)
    set_manager(ModelManager(tiny_settings))
    return main


def test_cli_caption_prints_the_caption(cli, tmp_path, capsys):
    path = tmp_path / "photo.jpg"
    picture().save(path, quality=90)
    assert cli(["caption", str(path)]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain.endswith(".") and "\n" not in plain
    assert cli(["caption", str(path), "--prefix", "a photo of", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["text"] == payload["caption"] and payload["caption"].startswith("A photo of ")
    assert payload["tool"] == "caption_image"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (None, "The file {path} does not exist; check the path."),
        (lambda p: p.write_bytes(b""), "The file is empty"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "The image file could not be decoded"),
        (lambda p: p.write_text("hello, I am text"), "The file is text"),
    ],
)
def test_cli_caption_bad_files_give_one_sentence(cli, tmp_path, capsys, make, message):
    path = tmp_path / "thing.png"
    if make is not None:
        make(path)
    assert cli(["caption", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith("polychat: " + message.format(path=path))
    assert "Traceback" not in captured.err


def test_cli_caption_refuses_audio(cli, tmp_path, capsys):
    from agent.media import encode_wav

    path = tmp_path / "voice.wav"
    path.write_bytes(encode_wav(np.zeros(1600, dtype=np.float32), 16_000))
    assert cli(["caption", str(path)]) == 1
    assert "The file is audio (audio/wav), not an image" in capsys.readouterr().err
