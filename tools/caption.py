"""caption_image: describe what an image shows in one sentence (BLIP)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field
from PIL import Image

from agent.artifacts import Artifact
from agent.errors import ToolError
from agent.models import loaders
from agent.models.backends import Backend
from agent.models.loaders import Bundle
from agent.media import load_image
from tools.base import PolychatTool, ToolContext, ToolResult

CAPTION_MAX_NEW_TOKENS = 30  # tokens; a BLIP caption is rarely longer than 20
CAPTION_BEAMS = 3  # beam width, as BLIP's authors caption
DESCRIBING = "Describing the image"  # the progress label
MAX_PROMPT_SHARE = 0.5  # of the text model's positions that a prefix or question may fill

# Words BLIP base is known to invent at the start of captions ("arafed woman ...").
_BLIP_ARTIFACTS = re.compile(r"\b(?:arafed|araffe|arafe|araf|arrafed|arafly)\b\s*", re.IGNORECASE)
_TRAILING_PUNCTUATION = " \t\n.,;:!?-–—"

BACKENDS: dict[str, tuple[Backend, ...]] = {
    "caption_image": (
        Backend(
            "transformers",
            loaders.load_blip_caption,
            "Salesforce/blip-image-captioning-base",
            tiny="tiny:blip-caption",
            title="BLIP captioning",
            module="transformers",
            torch=True,
        ),
    ),
}


def open_image_artifact(context: ToolContext, image_id: str) -> tuple[Artifact, Image.Image]:
    """Look up an image artifact by id and decode it (RGB, upright, size-checked).

    Raises:
        ToolError: no such image in the conversation, or the file cannot be decoded.
    """
    artifact = context.artifacts.get(image_id, kind="image")
    return artifact, load_image(artifact.path, max_pixels=context.settings.max_image_pixels)


def text_positions(bundle: Bundle) -> int:
    """How many token positions a BLIP model's text side holds."""
    return int(bundle.model.config.text_config.max_position_embeddings)


def blip_inputs(bundle: Bundle, image: Image.Image, text: str | None, *, what: str) -> dict[str, Any]:
    """The processor's tensors for an image (and optional text), on the model's device and dtype.

    Args:
        bundle: a loaded BLIP model and processor.
        image: the picture.
        text: a caption prefix or a question, or None.
        what: how to name ``text`` in an error ("prefix", "question").

    Raises:
        ToolError: the text has more tokens than the model may take.
    """
    inputs = bundle.processor(images=image, text=text, return_tensors="pt")
    if text is not None:
        limit = int(text_positions(bundle) * MAX_PROMPT_SHARE)
        count = int(inputs["input_ids"].shape[1])
        if count > limit:
            raise ToolError(
                f"The {what} is {count} tokens long and the model reads at most {limit}; use a shorter {what}."
            )
    moved = {name: value.to(bundle.device) for name, value in inputs.items()}
    moved["pixel_values"] = moved["pixel_values"].to(bundle.dtype or moved["pixel_values"].dtype)
    return moved


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _drop_leading_words(text: str, count: int) -> str:
    """``text`` without its first ``count`` words (punctuation between them goes too)."""
    match = re.match(r"\W*" + r"[a-z0-9]+\W*" * count, text, re.IGNORECASE)
    return text[match.end():] if match else text


def clean_caption(continuation: str, prefix: str = "") -> str:
    """Turn BLIP's words into one sentence: the prefix once, capitalised, ending with a period.

    Args:
        continuation: the words BLIP generated after the prefix.
        prefix: the user's start of the caption ("a photograph of"), kept as written.

    Returns:
        The caption, or "" when the model said nothing beyond the prefix.
    """
    text = " ".join(_BLIP_ARTIFACTS.sub("", continuation).split())
    prefix = " ".join(prefix.split()).rstrip(_TRAILING_PUNCTUATION)
    prefix_words = _words(prefix)
    if prefix_words:
        while _words(text)[: len(prefix_words)] == prefix_words:  # the model echoed the prefix
            text = _drop_leading_words(text, len(prefix_words))
        for overlap in range(len(prefix_words), 0, -1):  # "a picture of" + "of a dog"
            if _words(text)[:overlap] == prefix_words[-overlap:]:
                text = _drop_leading_words(text, overlap)
                break
    text = text.strip().rstrip(_TRAILING_PUNCTUATION)
    if not _words(text):
        return ""
    sentence = f"{prefix} {text}" if prefix else text
    return sentence[0].upper() + sentence[1:] + "."


def captions(bundle: Bundle, pictures: list[Image.Image]) -> list[str]:
    """Plain captions (no prefix) of several pictures in one ``generate`` call.

    The tool captions one picture as a batch of one; a cluster replica batches the pictures
    of callers that arrive together (``agent.cluster.services``), which a GPU runs in about
    the time of one.
    """
    import torch

    inputs = blip_inputs(bundle, pictures, None, what="prefix")  # type: ignore[arg-type]
    new_tokens = min(CAPTION_MAX_NEW_TOKENS, text_positions(bundle) - 1)
    with torch.inference_mode():
        output = bundle.model.generate(**inputs, max_new_tokens=new_tokens, num_beams=CAPTION_BEAMS)
    return [clean_caption(bundle.processor.decode(row[1:], skip_special_tokens=True)) for row in output]


def caption_result(image_id: str, caption: str) -> ToolResult:
    """What caption_image answers for a caption of ``image_id`` (empty: it could not describe it)."""
    data = {"caption": caption, "image": image_id}
    if not caption:
        return ToolResult(f"I could not describe {image_id}.", data=data)
    return ToolResult(caption, data=data)


class CaptionImageInput(BaseModel):
    image: str = Field(description="Id of an image in the conversation, e.g. 'image-1'.")
    prefix: str | None = Field(
        default=None,
        description=(
            "Optional start of the caption for the model to continue, e.g. 'a photograph of' "
            "or 'a painting of'. Leave empty for a plain description."
        ),
    )


class CaptionImageTool(PolychatTool):
    """Describe an image in one sentence with BLIP."""

    name: str = "caption_image"
    description: str = (
        "Describe what an image shows, in one sentence. Use when the user asks what is in a "
        "picture, to describe or caption it, or sends an image without saying what to do."
    )
    args_schema: type[BaseModel] = CaptionImageInput

    def execute(self, image: str, prefix: str | None = None) -> ToolResult:
        """Caption an image artifact.

        Args:
            image: the artifact id, e.g. ``image-1``.
            prefix: optional start of the caption for conditional captioning.

        Returns:
            The caption as text; data ``{"caption", "image"}``.
        """
        import torch

        prefix_text = self.check_text(prefix, "prefix") if prefix and prefix.strip() else ""
        artifact, picture = open_image_artifact(self.context, image)
        self.context.report(DESCRIBING, 0, 1)
        with self.context.models.use(self.name, **self.context.model_kwargs()) as bundle:
            if not prefix_text:
                caption = captions(bundle, [picture])[0]
            else:
                inputs = blip_inputs(bundle, picture, prefix_text.lower(), what="prefix")
                prompt_length = int(inputs["input_ids"].shape[1]) - 1  # BLIP drops [SEP]
                new_tokens = min(CAPTION_MAX_NEW_TOKENS, text_positions(bundle) - prompt_length)
                with torch.inference_mode():
                    output = bundle.model.generate(**inputs, max_new_tokens=new_tokens, num_beams=CAPTION_BEAMS)
                continuation = bundle.processor.decode(output[0][prompt_length:], skip_special_tokens=True)
                caption = clean_caption(continuation, prefix_text)
        self.context.report(DESCRIBING, 1, 1)
        return caption_result(artifact.id, caption)
