"""read_image_text: line segmentation, box grouping, TrOCR (tiny), Tesseract and RapidOCR (real), the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from agent.errors import ToolError
from tools.ocr import ReadImageTextTool, WordBox, group_into_lines
from tools.ocr_lines import crop_text_lines, find_text_lines, ink_mask, otsu_threshold

REPO = Path(__file__).resolve().parents[2]
PAGE = ["Invoice number 4521", "Ship to: Jane Doe, 42 Elm Street", "Total due: 12.50 EUR"]


def render_lines(
    lines: list[str],
    *,
    size: int = 40,
    spacing: float = 1.6,
    ink: str | tuple[int, int, int] = "black",
    paper: str | tuple[int, int, int] = "white",
    margin: int = 30,
) -> tuple[Image.Image, list[tuple[int, int]]]:
    """Draw lines of text with a TrueType font; return the image and each line's ink rows (top, bottom)."""
    font = ImageFont.load_default(size=size)
    width = max(int(font.getlength(text)) for text in lines) + 2 * margin
    height = int(len(lines) * size * spacing) + 2 * margin
    image = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(image)
    rows = []
    for index, text in enumerate(lines):
        origin = (margin, margin + round(index * size * spacing))
        draw.text(origin, text, font=font, fill=ink)
        _, top, _, bottom = draw.textbbox(origin, text, font=font)
        rows.append((top, bottom))
    return image, rows


def reader(context, backend: str | None = None) -> ReadImageTextTool:
    if backend:
        context.overrides["backend"] = backend
    return ReadImageTextTool(context=context)


def squash(text: str) -> str:
    return "".join(text.split()).lower()


# --------------------------------------------------------------------------- line segmentation


def test_otsu_splits_a_two_tone_image_between_the_tones():
    gray = np.array([[30] * 50 + [220] * 150], dtype=np.uint8)
    assert 30 <= otsu_threshold(gray) < 220


@pytest.mark.parametrize("spacing", [1.6, 1.2, 1.08])
def test_three_rendered_lines_give_three_bands_in_order(spacing):
    image, rows = render_lines(PAGE, spacing=spacing)
    lines = find_text_lines(image)
    assert len(lines) == 3
    for line, (top, bottom) in zip(lines, rows):  # each band holds its own line's ink, top to bottom
        assert line.ink_top <= top + 2 and line.ink_bottom >= bottom - 2
        assert line.top < line.ink_top and line.bottom > line.ink_bottom  # padded
    assert [line.ink_top for line in lines] == sorted(line.ink_top for line in lines)
    assert all(a.ink_bottom <= b.ink_top for a, b in zip(lines, lines[1:]))


def test_margins_are_trimmed_and_padded():
    image, _ = render_lines(["short", "a much longer line of text"], margin=60)
    short, long = find_text_lines(image)
    assert 40 < short.left < 60 and 40 < long.left < 60
    assert short.right < long.right < image.width


def test_light_text_on_dark_is_found_and_cropped_dark_on_light():
    image, rows = render_lines(PAGE, ink="white", paper=(20, 30, 80))
    mask, light_on_dark = ink_mask(image)
    assert light_on_dark and 0 < mask.mean() < 0.3
    assert len(find_text_lines(image)) == 3
    crops = crop_text_lines(image)
    assert len(crops) == 3
    for crop in crops:
        corner = crop.convert("L").getpixel((0, 0))
        assert corner > 128  # paper now light
        assert np.asarray(crop.convert("L")).min() < 64  # ink now dark


def test_a_single_line_stays_one_line():
    image, _ = render_lines(["Hello world"])
    lines = find_text_lines(image)
    assert len(lines) == 1
    assert len(crop_text_lines(image)) == 1


def test_dots_and_accents_are_merged_into_their_line():
    # No ascenders: the dots of the i's sit apart from the rest of the line in the profile.
    image, _ = render_lines(["mini aim", "ooo ii", "é è ô"], size=56)
    assert len(find_text_lines(image)) == 3


def test_a_blank_or_flat_image_has_no_lines():
    assert find_text_lines(Image.new("RGB", (300, 200), "white")) == []
    assert find_text_lines(Image.new("RGB", (300, 200), (90, 90, 90))) == []
    assert crop_text_lines(Image.new("L", (50, 50), 255)) == []


def test_a_speck_is_not_a_line():
    image, _ = render_lines(["Hello"])
    image.putpixel((5, image.height - 5), (0, 0, 0))
    assert len(find_text_lines(image)) == 1


# --------------------------------------------------------------------------- grouping boxes


def test_boxes_group_into_lines_top_to_bottom_and_left_to_right():
    boxes = [
        WordBox("due:", 80, 52, 130, 70),
        WordBox("Invoice", 10, 10, 80, 30),
        WordBox("Total", 10, 50, 70, 72),
        WordBox("4521", 90, 12, 140, 31),
        WordBox("12.50", 140, 51, 200, 71),
    ]
    assert group_into_lines(boxes) == ["Invoice 4521", "Total due: 12.50"]
    assert group_into_lines([]) == []


def test_characters_read_twice_where_boxes_overlap_are_dropped():
    boxes = [WordBox("Invoice", 32, 40, 205, 81), WordBox("e number 4521", 189, 41, 537, 78)]
    assert group_into_lines(boxes) == ["Invoice number 4521"]
    apart = [WordBox("see", 0, 0, 30, 10), WordBox("eagles", 40, 0, 100, 10)]
    assert group_into_lines(apart) == ["see eagles"]


# --------------------------------------------------------------------------- TrOCR (tiny)


@pytest.mark.parametrize("count", [1, 3])
def test_trocr_reads_each_line_in_order(tiny_context, count):
    image, _ = render_lines(PAGE[:count])
    artifact = tiny_context.artifacts.add_image(image)
    progress = []
    tiny_context.progress = lambda label, done, total: progress.append((done, total))
    result = reader(tiny_context).execute(image=artifact.id)
    assert result.data["backend"] == "trocr" and result.data["image"] == artifact.id
    lines = result.data["lines"]
    assert len(lines) == count and all(isinstance(line, str) and line for line in lines)
    assert result.text == result.data["text"] == "\n".join(lines)
    assert progress[0] == (0, count) and progress[-1] == (count, count)


def test_trocr_is_reproducible(tiny_context):
    image, _ = render_lines(PAGE[:2])
    artifact = tiny_context.artifacts.add_image(image)
    tool = reader(tiny_context)
    assert tool.execute(image=artifact.id).text == tool.execute(image=artifact.id).text


def test_an_image_without_text_says_so_and_gives_empty_text(tiny_context):
    artifact = tiny_context.artifacts.add_image(Image.new("RGB", (320, 200), "white"))
    result = reader(tiny_context).execute(image=artifact.id)
    assert result.text == f"I found no text in {artifact.id}."
    assert result.data["text"] == "" and result.data["lines"] == []


def test_unknown_or_audio_ids_are_refused_in_a_sentence(tiny_context):
    from agent.media import encode_wav

    tool = reader(tiny_context)
    with pytest.raises(ToolError, match="There is no image-7 in this conversation"):
        tool.execute(image="image-7")
    audio = tiny_context.artifacts.add_bytes(encode_wav(np.zeros(1600, dtype=np.float32), 16_000))
    with pytest.raises(ToolError, match="is audio, not an image"):
        tool.execute(image=audio.id)


def test_langchain_invoke_returns_the_text(tiny_context):
    artifact = tiny_context.artifacts.add_image(Image.new("RGB", (100, 60), "white"))
    assert reader(tiny_context).invoke({"image": artifact.id}) == f"I found no text in {artifact.id}."


# --------------------------------------------------------------------------- real engines


def _needs_tesseract() -> None:
    pytest.importorskip("pytesseract")
    if shutil.which("tesseract") is None:
        pytest.skip("the tesseract program is not installed")


@pytest.mark.real_weights
@pytest.mark.parametrize(("ink", "paper"), [("black", "white"), ("white", (20, 30, 80))])
def test_tesseract_reads_every_line_exactly_and_in_order(tiny_context, ink, paper):
    _needs_tesseract()
    image, _ = render_lines(PAGE, size=32, ink=ink, paper=paper)
    artifact = tiny_context.artifacts.add_image(image)
    result = reader(tiny_context, "tesseract").execute(image=artifact.id)
    assert result.data["backend"] == "tesseract"
    assert [" ".join(line.split()) for line in result.data["lines"]] == PAGE
    assert result.text == "\n".join(PAGE)


@pytest.mark.real_weights
def test_rapidocr_reads_every_line_and_in_order(tiny_context):
    pytest.importorskip("rapidocr_onnxruntime")
    image, _ = render_lines(PAGE, size=40)
    artifact = tiny_context.artifacts.add_image(image)
    result = reader(tiny_context, "rapidocr").execute(image=artifact.id)
    assert result.data["backend"] == "rapidocr"
    # RapidOCR's recogniser sometimes drops the spaces between English words; the characters must match.
    assert [squash(line) for line in result.data["lines"]] == [squash(line) for line in PAGE]
    assert result.text.count("\n") == 2


@pytest.mark.real_weights
@pytest.mark.parametrize("backend", ["tesseract", "rapidocr"])
def test_real_engines_find_no_text_in_a_blank_image(tiny_context, backend):
    if backend == "tesseract":
        _needs_tesseract()
    else:
        pytest.importorskip("rapidocr_onnxruntime")
    artifact = tiny_context.artifacts.add_image(Image.new("RGB", (400, 240), (245, 245, 245)))
    result = reader(tiny_context, backend).execute(image=artifact.id)
    assert result.data["text"] == "" and result.text == f"I found no text in {artifact.id}."


# --------------------------------------------------------------------------- CLI


def _cli(args: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLYCHAT_DATA_DIR": str(data_dir), "POLYCHAT_PROFILE": "tiny", "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.real_weights
def test_cli_ocr_with_tesseract_prints_json(tmp_path, data_root):
    _needs_tesseract()
    render_lines(PAGE, size=32)[0].save(tmp_path / "page.png")
    done = _cli(["ocr", "page.png", "--backend", "tesseract", "--json"], data_root, tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["text"] == "\n".join(PAGE) and payload["lines"] == PAGE
    assert payload["backend"] == "tesseract" and payload["tool"] == "read_image_text"


def test_cli_ocr_refuses_a_missing_file_in_one_sentence(tmp_path, data_root):
    done = _cli(["ocr", "nowhere.png"], data_root, tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == "polychat: The file nowhere.png does not exist; check the path."


def test_cli_ocr_with_tiny_trocr_prints_one_line_per_text_line(tmp_path, tiny_settings, use_settings, capsys):
    from agent.cli import main
    from agent.models.manager import ModelManager, set_manager

    use_settings(tiny_settings)
    set_manager(ModelManager(tiny_settings))
    render_lines(PAGE)[0].save(tmp_path / "page.png")
    assert main(["ocr", str(tmp_path / "page.png")]) == 0
    assert len(capsys.readouterr().out.rstrip("\n").split("\n")) == 3
    Image.new("RGB", (200, 100), "white").save(tmp_path / "blank.png")
    assert main(["ocr", str(tmp_path / "blank.png"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["text"] == "" and payload["lines"] == [] and payload["backend"] == "trocr"
