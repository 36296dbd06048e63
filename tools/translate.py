"""translate_text: written text from one language to another with Marian (opus-mt) models.

One opus-mt model covers one language pair. When no model exists for a pair, the text
goes through English (fr → hi is fr → en, then en → hi). Long text is cut into
sentences, translated in batches, and put back together paragraph by paragraph.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field

from agent.errors import ModelUnavailableError
from agent.models import loaders
from agent.models.backends import Backend
from agent.sentences import split_sentences
from tools.base import PolychatTool, ToolResult
from agent.languages import detect_language, language_name, resolve_language

log = logging.getLogger(__name__)

PIVOT_LANGUAGE = "en"  # opus-mt has a model from and to English for almost every language
BATCH_SIZE = 8  # sentences per generate() call
NO_SPACE_LANGUAGES = frozenset({"zh", "ja"})  # scripts written without spaces between sentences

BACKENDS: dict[str, tuple[Backend, ...]] = {
    "translate_text": (  # one model per language pair: the source is a template
        Backend(
            "marian",
            loaders.load_marian,
            "Helsinki-NLP/opus-mt-{src}-{tgt}",
            tiny="tiny:marian",
            title="opus-mt {src}-{tgt}",
            module="transformers",
            torch=True,
        ),
    ),
}


class TranslateTextInput(BaseModel):
    text: str = Field(description="The exact text to translate, copied in full (not a summary, not an id).")
    target_language: str | None = Field(
        default=None,
        description="The language to translate into, as a name or ISO code, e.g. 'French', 'hi', 'Deutsch'. "
        "Leave empty for the user's default target language.",
    )
    source_language: str | None = Field(
        default=None,
        description="The language the text is written in, if the user says so; leave empty to detect it.",
    )


def split_paragraphs(text: str) -> list[list[str]]:
    """The sentences of each line of ``text``; a blank line is an empty list."""
    return [split_sentences(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def join_paragraphs(paragraphs: list[list[str]], language: str) -> str:
    """Put translated sentences back into lines, the inverse of ``split_paragraphs``."""
    glue = "" if language in NO_SPACE_LANGUAGES else " "
    return "\n".join(glue.join(sentences) for sentences in paragraphs).strip("\n")


def split_long(sentence: str, count_tokens: Any, limit: int) -> list[str]:
    """Cut a sentence longer than ``limit`` tokens at word boundaries into pieces under it.

    Args:
        sentence: the sentence.
        count_tokens: ``count_tokens(text) -> int``, the tokens text takes (end token included).
        limit: the most tokens one piece may take.
    """
    if count_tokens(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    current: list[str] = []
    used = 1  # the end-of-sentence token
    for word in sentence.split():
        cost = max(1, count_tokens(word) - 1)
        if current and used + cost > limit:
            pieces.append(" ".join(current))
            current, used = [], 1
        current.append(word)
        used += cost
    if current:
        pieces.append(" ".join(current))
    return pieces


class TranslateTextTool(PolychatTool):
    """Text → text in another language, pair by pair, through English when needed."""

    name: str = "translate_text"
    description: str = (
        "Translate written text into another language (e.g. English to French, Spanish to Hindi). "
        "Use when the user asks to translate some text or asks how to say something in another language. "
        "Give the full text itself; for words in a picture run read_image_text first, for speech "
        "transcribe_audio first. Returns only the translation."
    )
    args_schema: type[BaseModel] = TranslateTextInput

    def execute(
        self,
        text: str,
        target_language: str | None = None,
        source_language: str | None = None,
        **_: Any,
    ) -> ToolResult:
        """Translate ``text``.

        Args:
            text: what to translate.
            target_language: name or code; default: the settings' target language.
            source_language: name or code; detected from the text when None.

        Returns:
            The translation as text, with the languages and the route of models in data.

        Raises:
            ToolError: empty or over-long text, or an unknown language name.
            ModelUnavailableError: neither the pair's model nor a route through English is here.
        """
        text = self.check_text(text)
        target = resolve_language(target_language or self.context.settings.target_language)
        data: dict[str, Any] = {"target_language": target}
        if source_language and source_language.strip():
            source, data["source_detection"] = resolve_language(source_language), "given"
        else:
            detected = detect_language(text)
            source, data["source_detection"] = detected or "en", "detected" if detected else "assumed"
            if not detected:
                data["note"] = "Could not tell the language of the text; assumed English."
        data["source_language"] = source

        if source == target:
            note = f"The text is already in {language_name(target)}; nothing to translate."
            return ToolResult(text, data={"text": text, **data, "route": [], "note": note})

        route = self._choose_route(source, target)
        paragraphs = split_paragraphs(text)
        sentences = [sentence for paragraph in paragraphs for sentence in paragraph]
        for leg, (src, tgt) in enumerate(route):
            sentences = self._translate_leg(sentences, src, tgt, leg=leg, legs=len(route))
        translated = iter(sentences)
        result = join_paragraphs([[next(translated) for _ in paragraph] for paragraph in paragraphs], target)
        return ToolResult(result, data={"text": result, **data, "route": [f"{s}-{t}" for s, t in route]})

    # -- models ---------------------------------------------------------------------
    def _model_args(self, src: str, tgt: str) -> dict[str, Any]:
        return {"variant": {"src": src, "tgt": tgt}, **self.context.model_kwargs()}

    def _choose_route(self, source: str, target: str) -> list[tuple[str, str]]:
        """The pairs to run: the direct one if its model loads, else through English."""
        try:
            self.context.models.get(self.name, **self._model_args(source, target))
            return [(source, target)]
        except ModelUnavailableError as direct_missing:
            if PIVOT_LANGUAGE in (source, target):
                raise
            log.debug("No %s-%s model here (%s); trying through English.", source, target, direct_missing)
            route = [(source, PIVOT_LANGUAGE), (PIVOT_LANGUAGE, target)]
            try:
                for src, tgt in route:
                    self.context.models.get(self.name, **self._model_args(src, tgt))
            except ModelUnavailableError:
                raise direct_missing from None
            return route

    def _translate_leg(self, sentences: list[str], src: str, tgt: str, *, leg: int, legs: int) -> list[str]:
        """Translate sentences with the src-tgt model: one output per input sentence."""
        import torch

        with self.context.models.use(self.name, **self._model_args(src, tgt)) as bundle:
            tokenizer, model = bundle.processor, bundle.model
            # Half the positions, so the translation (often longer than its source) fits too.
            limit = min(tokenizer.model_max_length, model.config.max_position_embeddings) // 2

            def count_tokens(piece: str) -> int:
                return len(tokenizer(piece)["input_ids"])

            pieces_per_sentence = [split_long(sentence, count_tokens, limit) for sentence in sentences]
            pieces = [piece for split in pieces_per_sentence for piece in split]
            # Similar lengths in one batch waste less padding; the order is restored below.
            order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
            outputs: list[str] = [""] * len(pieces)
            batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
            for done, batch in enumerate(batches, start=1):
                inputs = tokenizer(
                    [pieces[i] for i in batch], return_tensors="pt", padding=True, truncation=True, max_length=limit
                ).to(bundle.device)
                with torch.inference_mode():
                    generated = model.generate(**inputs)
                for i, decoded in zip(batch, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                    outputs[i] = decoded.strip()
                self.context.report(self.name, leg * len(batches) + done, legs * len(batches))

        glue = "" if tgt in NO_SPACE_LANGUAGES else " "
        joined, position = [], 0
        for split in pieces_per_sentence:
            joined.append(glue.join(outputs[position : position + len(split)]))
            position += len(split)
        return joined
