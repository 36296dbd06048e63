"""read_image_text: read every line of text in an image (TrOCR, Tesseract or RapidOCR).

TrOCR reads one line at a time, so the page is first cut into lines (``tools.ocr_lines``)
and the lines go through the model in batches. Tesseract and RapidOCR read whole pages;
RapidOCR's word boxes are grouped into lines here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from agent.config import Settings
from agent.errors import ToolError
from agent.models import loaders
from agent.models.backends import Backend, Packaged
from agent.models.loaders import Bundle
from tools.base import PolychatTool, ProgressCallback, ToolResult
from tools.caption import open_image_artifact
from tools.ocr_lines import crop_text_lines

log = logging.getLogger(__name__)

TROCR_BATCH = 8  # lines per generate() call
TROCR_MAX_NEW_TOKENS = 96  # tokens per line; a long printed line is about 60
TROCR_BEAMS = 3  # beam width; beams read ambiguous glyphs better than greedy decoding
SAME_LINE_OVERLAP = 0.5  # share of the shorter box's height two boxes must share to be one line
SEAM_OVERLAP_CHARS = 0.5  # characters' width two boxes of a line must overlap to hold a repeated glyph


# -- backends ---------------------------------------------------------------------------------


def _rapidocr_path(settings: Settings) -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent


RAPIDOCR = Packaged("rapidocr", ("rapidocr_onnxruntime",), "RapidOCR PP-OCRv4 (ONNX)", _rapidocr_path)
PACKAGED = (RAPIDOCR,)

# Without TrOCR's hub weights, Tesseract stands in first: it reads printed pages exactly
# where RapidOCR drops spaces (BENCHMARKS.md).
BACKENDS: dict[str, tuple[Backend, ...]] = {
    "read_image_text": (
        Backend(
            "trocr",
            loaders.load_trocr,
            "microsoft/trocr-base-printed",
            tiny="tiny:trocr",
            title="TrOCR",
            module="transformers",
            torch=True,
        ),
        Backend(
            "tesseract",
            loaders.load_tesseract,
            "system:tesseract",
            offline=("system:tesseract",),
            module="pytesseract",
            install="polychat[ocr]",
            recognizes=lambda model: model.startswith("system:"),
        ),
        Backend(
            "rapidocr",
            loaders.load_rapidocr,
            RAPIDOCR.source,
            offline=(RAPIDOCR.source,),
            module="rapidocr_onnxruntime",
            install="polychat[ocr]",
            recognizes=lambda model: model.startswith(RAPIDOCR.source),
        ),
    ),
}


@dataclass(frozen=True)
class WordBox:
    """A piece of text found on a page, with its box in pixels."""

    text: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def middle(self) -> float:
        """The box's vertical centre."""
        return (self.top + self.bottom) / 2


def _drop_seam_repeat(before: WordBox, after: WordBox) -> str:
    """``after``'s text without the characters it repeats from ``before`` where their boxes overlap.

    A detector that splits a line into overlapping boxes makes the recogniser read the
    shared glyphs twice ("Invoice" + "e number").
    """
    shared = before.right - after.left
    char_width = (before.right - before.left) / max(1, len(before.text))
    if shared < SEAM_OVERLAP_CHARS * char_width:
        return after.text
    most = min(len(before.text), len(after.text) - 1, round(shared / char_width) + 1)
    for count in range(most, 0, -1):
        if before.text.endswith(after.text[:count]):
            return after.text[count:].lstrip()
    return after.text


def group_into_lines(words: Sequence[WordBox]) -> list[str]:
    """Group word boxes into lines by vertical overlap: lines top to bottom, words left to right.

    Args:
        words: the boxes, in any order.

    Returns:
        One string per line, its pieces joined by spaces.
    """
    lines: list[list[WordBox]] = []
    for word in sorted(words, key=lambda w: w.middle):
        for line in lines:
            top, bottom = min(w.top for w in line), max(w.bottom for w in line)
            shared = min(bottom, word.bottom) - max(top, word.top)
            shorter = min(bottom - top, word.bottom - word.top)
            if shorter > 0 and shared >= SAME_LINE_OVERLAP * shorter:
                line.append(word)
                break
        else:
            lines.append([word])
    lines.sort(key=lambda line: sum(w.middle for w in line) / len(line))
    texts = []
    for line in lines:
        ordered = sorted(line, key=lambda w: w.left)
        pieces = [ordered[0].text] + [_drop_seam_repeat(a, b) for a, b in zip(ordered, ordered[1:])]
        texts.append(" ".join(piece for piece in pieces if piece))
    return texts


def read_with_trocr(bundle: Bundle, image: Image.Image, report: ProgressCallback) -> list[str]:
    """Cut the page into lines and read each with TrOCR, top to bottom."""
    import torch

    crops = crop_text_lines(image)
    if not crops:
        return []
    decoder_positions = int(bundle.model.config.decoder.max_position_embeddings)
    new_tokens = max(1, min(TROCR_MAX_NEW_TOKENS, decoder_positions - 2))
    lines: list[str] = []
    report("Reading lines", 0, len(crops))
    for start in range(0, len(crops), TROCR_BATCH):
        batch = crops[start : start + TROCR_BATCH]
        pixels = bundle.processor(images=batch, return_tensors="pt").pixel_values
        pixels = pixels.to(bundle.device, dtype=bundle.dtype or pixels.dtype)
        with torch.inference_mode():
            output = bundle.model.generate(pixels, max_new_tokens=new_tokens, num_beams=TROCR_BEAMS)
        lines.extend(bundle.processor.batch_decode(output, skip_special_tokens=True))
        report("Reading lines", start + len(batch), len(crops))
    return lines


def read_with_tesseract(bundle: Bundle, image: Image.Image) -> list[str]:
    """Read the page with Tesseract, keeping its line order (blocks, paragraphs, lines)."""
    tesseract = bundle.model
    try:
        data = tesseract.image_to_data(image, output_type=tesseract.Output.DICT)
    except tesseract.TesseractNotFoundError as e:
        raise ToolError("Tesseract is not installed; install it (e.g. 'apt-get install tesseract-ocr').") from e
    except tesseract.TesseractError as e:
        message = " ".join(str(e.message).split())[:200]
        raise ToolError(f"Tesseract could not read the image ({message}); check the tesseract-ocr install.") from e
    lines: dict[tuple[int, int, int], list[str]] = {}
    for block, paragraph, line, word in zip(data["block_num"], data["par_num"], data["line_num"], data["text"]):
        if word and word.strip():
            lines.setdefault((block, paragraph, line), []).append(word.strip())
    return [" ".join(words) for words in lines.values()]


def read_with_rapidocr(bundle: Bundle, image: Image.Image) -> list[str]:
    """Read the page with RapidOCR and group its boxes into lines."""
    bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])  # what every RapidOCR takes
    result, _ = bundle.model(bgr)
    words = []
    for points, text, _score in result or ():
        ys = [float(y) for _, y in points]
        xs = [float(x) for x, _ in points]
        words.append(WordBox(str(text).strip(), min(xs), min(ys), max(xs), max(ys)))
    return group_into_lines([w for w in words if w.text])


class ReadImageTextInput(BaseModel):
    image: str = Field(description="Id of an image in the conversation that holds text, e.g. 'image-1'.")


class ReadImageTextTool(PolychatTool):
    """Read the printed or handwritten text in an image, every line, top to bottom."""

    name: str = "read_image_text"
    description: str = (
        "Read the text printed or written in an image (a sign, a page, a receipt, a screenshot, "
        "a label), every line, top to bottom. Use when the user asks what an image says or wants "
        "its text, for example to translate it or read it aloud next."
    )
    args_schema: type[BaseModel] = ReadImageTextInput

    def execute(self, image: str) -> ToolResult:
        """Read the text of an image artifact.

        Args:
            image: the artifact id, e.g. ``image-1``.

        Returns:
            The lines joined by newlines as text (a short sentence when there is none);
            data ``{"text", "lines", "backend", "image"}`` where ``text`` is "" when no
            text was found.
        """
        artifact, picture = open_image_artifact(self.context, image)
        kwargs = self.context.model_kwargs()
        backend = self.context.models.choose(self.name, model=kwargs.get("model"), backend=kwargs.get("backend")).backend
        with self.context.models.use(self.name, **kwargs) as bundle:
            if backend == "trocr":
                raw_lines = read_with_trocr(bundle, picture, self.context.report)
            else:
                self.context.report("Reading the text", 0, 1)
                read_page = read_with_tesseract if backend == "tesseract" else read_with_rapidocr
                raw_lines = read_page(bundle, picture)
                self.context.report("Reading the text", 1, 1)
        lines = [cleaned for line in raw_lines if (cleaned := " ".join(line.split()))]
        text = "\n".join(lines)
        log.debug("%s read %d lines from %s", backend, len(lines), artifact.id)
        data = {"text": text, "lines": lines, "backend": backend, "image": artifact.id}
        if not text:
            return ToolResult(f"I found no text in {artifact.id}.", data=data)
        return ToolResult(text, data=data)
