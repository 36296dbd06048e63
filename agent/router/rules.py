"""The rules-first router: a turn's words and attachments become a Plan without any model.

``route()`` reads only the user's own words. What tools produce later (OCR text,
transcripts, translations) reaches later steps as ``$n.text`` references or as data in
the arguments, and is never routed, so text inside an image cannot give orders.

Importing this module loads no model library (``polychat ask --plan-only`` relies on it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.router.clauses import parse_clause, protect_quotations, split_clauses
from agent.config import Settings, get_settings
from agent.router.plan import Plan, step_ref
from agent.languages import find_language
from agent.router.readers import Cues, Intent, Payload

if TYPE_CHECKING:
    from agent.artifacts import Artifact

NO_IMAGE = "There is no image in this conversation yet; attach one and ask again."
NO_GENERATED_IMAGE = "I haven't made a picture in this conversation yet; ask me to draw something first."
NO_AUDIO = "There is no audio in this conversation yet; attach a recording or send a voice note and ask again."
NOTHING_TO_TRANSLATE = "There is nothing to translate yet; give me the words, e.g. translate 'good morning' to French."
NOTHING_TO_DRAW = "Tell me what to draw, e.g. draw a lighthouse at sunset."
NOTHING_TO_SAY = "There is nothing to read aloud yet; tell me what to say, e.g. say good morning."
EMPTY_MESSAGE = "Type a message, attach an image or send a voice note."
MAX_STEPS = 12  # tool steps in one turn; a longer list of requests is refused with a sentence
TOO_MANY_STEPS = f"That is more than I can do in one turn; ask for at most {MAX_STEPS // 3} things at a time."

@dataclass(frozen=True)
class ConversationState:
    """What the router may know about the conversation so far.

    Attributes:
        latest_image: id of the newest image (uploaded or generated).
        latest_image_generated: whether that image was made by the assistant.
        latest_generated_image: id of the newest image the assistant made.
        latest_uploaded_image: id of the newest image the user sent.
        latest_image_recent: the newest image came in the current or the previous turn.
        latest_audio: id of the newest audio.
        latest_audio_recent: the newest audio came in the current or the previous turn.
        last_text_output: the newest text a tool or the assistant produced ("that", "it").
        last_target_language: the language of the newest translation.
        last_translation_source: the text of the newest translation, when it was given as words.
        last_image_prompt: the prompt of the newest drawing, when it was given as words.
        known_artifacts: the ids of every image and recording in the conversation (named
            ids such as "image-2" must be one of these, or attached in this turn).
    """

    latest_image: str | None = None
    latest_image_generated: bool = False
    latest_generated_image: str | None = None
    latest_uploaded_image: str | None = None
    latest_image_recent: bool = False
    latest_audio: str | None = None
    latest_audio_recent: bool = False
    last_text_output: str | None = None
    last_target_language: str | None = None
    last_translation_source: str | None = None
    last_image_prompt: str | None = None
    known_artifacts: frozenset[str] = frozenset()


ARTIFACT_ID = re.compile(r"(?<![\w-])(image|audio)-(\d+)(?![\w-])", re.IGNORECASE)
"""An artifact named in the user's words: ``image-2``, ``audio-1``."""
UNKNOWN_TARGET = re.compile(r"\s(?:into)\s+(?P<name>[^\W\d_][\w-]*)\s*[.!?]*$", re.IGNORECASE)
"""A translation asked "into <Name>" at the end of its words (checked against the languages polychat knows)."""
NO_SUCH_LANGUAGE = (
    "I don't know a language called {name}; name one I can translate into, such as French, Spanish, German, "
    "Italian, Portuguese or Hindi (e.g. translate 'good morning' into French)."
)


def no_such_artifact(missing: str, known: list[str]) -> str:
    """The sentence for a named image or recording that is not in the conversation."""
    kind = "image" if missing.startswith("image-") else "recording"
    if not known:
        return f"There is no {missing} in this conversation; it has no images or recordings yet. Attach one and ask again."
    listed = ", ".join(known[:-1]) + f" and {known[-1]}" if len(known) > 1 else known[0]
    return f"There is no {missing} in this conversation (no such {kind}); it has {listed}."


def unknown_target_language(intent: Intent) -> str | None:
    """The name of an unknown language a translation was asked into ("into Klingon"), if any."""
    if intent.kind != "translate" or intent.language is not None:
        return None
    payload = intent.payload
    if payload.kind != "literal" or payload.quoted:
        return None
    match = UNKNOWN_TARGET.search(payload.text)
    if match is None or find_language(match["name"]) is not None:
        return None
    return match["name"]


def describe_capabilities() -> str:
    """A short, friendly list of what the agent can do (the reply when no chat model is available)."""
    import prompts

    return prompts.load("capabilities.txt").strip()


def route(
    text: str,
    attachments: Sequence[Artifact],
    state: ConversationState,
    *,
    voice: bool = False,
    settings: Settings | None = None,
) -> Plan:
    """Turn what the user said (and attached) into a plan, by rules.

    Args:
        text: the user's own words (a typed message or a voice note's transcript).
        attachments: the artifacts attached to this turn (already in the session's store).
        state: what the conversation holds (latest image, last output, ...).
        voice: the turn arrived as a voice note; the reply is then spoken
            (``settings.spoken_replies``).
        settings: defaults such as the target language (default: the process-wide settings).

    Returns:
        The plan: tool steps, or ``chat=True`` for conversation, or a fixed ``reply``
        sentence when something needed is missing.
    """
    settings = settings or get_settings()
    text = (text or "").strip()
    images = [a.id for a in attachments if a.kind == "image"]
    audios = [a.id for a in attachments if a.kind == "audio"]
    speak_reply = voice and settings.spoken_replies

    if not text:
        if audios:  # a voice note: its transcript is routed next (the assistant does that first)
            plan = Plan(speak_reply=settings.spoken_replies, user_text="")  # a voice note is a voice turn
            plan.add("transcribe_audio", audio=audios[0])
            return plan
        if images:
            plan = Plan(speak_reply=speak_reply)
            for image in images:
                plan.add("caption_image", image=image)
            return plan
        return Plan(reply=EMPTY_MESSAGE)

    cues = Cues(
        image_attached=bool(images),
        audio_attached=bool(audios),
        image_known=bool(images or state.latest_image),
        image_recent=bool(images) or state.latest_image_recent,
        audio_known=bool(audios or state.latest_audio),
        audio_recent=bool(audios) or state.latest_audio_recent,
    )
    words = text
    named = list(dict.fromkeys(m.group(0).lower() for m in ARTIFACT_ID.finditer(text)))
    if named:  # "describe image-2": that one, or a sentence when there is no such thing
        missing = [n for n in named if n not in state.known_artifacts and n not in images + audios]
        if missing:
            return Plan(reply=no_such_artifact(missing[0], sorted(state.known_artifacts | set(images + audios))))
        images = [n for n in named if n.startswith("image-")] + [i for i in images if i not in named]
        audios = [n for n in named if n.startswith("audio-")] + [a for a in audios if a not in named]
        words = ARTIFACT_ID.sub(lambda m: "this image" if m.group(1).lower() == "image" else "this recording", text)
        cues = replace(cues, image_attached=bool(images), image_known=bool(images or state.latest_image),
                       image_recent=bool(images) or state.latest_image_recent, audio_attached=bool(audios),
                       audio_known=bool(audios or state.latest_audio), audio_recent=bool(audios) or state.latest_audio_recent)
    protected, quotes = protect_quotations(words)
    clauses = split_clauses(protected, quotes, cues)
    intents = [parse_clause(clause, quotes, cues, alone=len(clauses) == 1) for clause in clauses]
    for intent in intents:
        unknown = unknown_target_language(intent)
        if unknown:
            return Plan(reply=NO_SUCH_LANGUAGE.format(name=unknown))
    builder = _PlanBuilder(images, audios, state, settings)
    plan = builder.build(intents)
    plan.user_text = text
    plan.speak_reply = plan.speak_reply or speak_reply
    return plan


class _PlanBuilder:
    """Binds intents to artifacts, earlier steps and the conversation, step by step."""

    def __init__(self, images: list[str], audios: list[str], state: ConversationState, settings: Settings) -> None:
        self.images, self.audios, self.state, self.settings = images, audios, state, settings
        self.plan = Plan()
        self.text_value: str | None = None  # the newest text of this turn: words or "$n.text"
        self.image_value: str | None = None  # the newest image made in this turn: "$n.image"
        self.problem: str | None = None

    def build(self, intents: list[Intent]) -> Plan:
        handlers = {
            "generate": self._generate, "speak": self._speak, "read": self._read, "translate": self._translate,
            "caption": self._look, "ocr": self._look, "vqa": self._look, "transcribe": self._transcribe,
        }
        for intent in intents:
            if intent.kind == "chat":
                self.plan.chat = True
                self.plan.speak_reply |= intent.speak_reply
            else:
                handlers[intent.kind](intent)
            if len(self.plan.steps) > MAX_STEPS:
                self.problem = TOO_MANY_STEPS
            if self.problem:
                return Plan(reply=self.problem)
        if not self.plan.steps and not self.plan.chat:
            self.plan.chat = True
        if self.plan.chat and not self.plan.steps:
            # Conversation about the media just sent: let the chat model see what it holds.
            if self.images:
                self.plan.add("caption_image", image=self.images[0])
            elif self.audios:
                self.plan.add("transcribe_audio", audio=self.audios[0])
        return self.plan

    # -- steps --------------------------------------------------------------------
    def _add(self, tool: str, **args: object) -> str:
        self.text_value = self.plan.add(tool, **args)
        return self.text_value

    def _finish(self, intent: Intent, text: str) -> None:
        """Translate and speak a step's text when the clause asked for it."""
        if intent.language:
            text = self._add("translate_text", text=text, target_language=intent.language)
        if intent.aloud:
            self.plan.add("speak_text", text=text)
            self.text_value = text

    # -- what a clause refers to ------------------------------------------------------
    def _image(self, hint: str | None, explicit: bool) -> str | None:
        if hint == "generated":
            found = self.image_value or self.state.latest_generated_image
            if found is None:
                self.problem = NO_GENERATED_IMAGE
            return found
        if hint == "uploaded":
            found = self.images[0] if self.images else self.state.latest_uploaded_image
        else:
            found = self.image_value or (self.images[0] if self.images else self.state.latest_image)
        if found is None and (explicit or hint):
            self.problem = NO_IMAGE
        return found

    def _audio(self) -> str | None:
        found = self.audios[0] if self.audios else self.state.latest_audio
        if found is None:
            self.problem = NO_AUDIO
        return found

    def _text(self, payload: Payload, missing: str, *, image_first: bool = True) -> str | None:
        """The words a step works on: given, an earlier output, or read from media."""
        if payload.kind == "literal":
            return payload.text
        if payload.kind in ("image", "image_text"):
            image = self._image(payload.hint, explicit=True)
            if image is None:
                return None
            return self._add("read_image_text" if payload.kind == "image_text" else "caption_image", image=image)
        if payload.kind == "audio":
            audio = self._audio()
            return self._add("transcribe_audio", audio=audio) if audio else None
        if self.text_value:
            return self.text_value
        if self.images and image_first:
            return self._add("read_image_text", image=self.images[0])
        if self.audios:
            return self._add("transcribe_audio", audio=self.audios[0])
        if self.state.last_text_output:
            return self.state.last_text_output
        if self.state.latest_image and payload.kind == "text":
            return self._add("read_image_text", image=self.state.latest_image)
        self.problem = missing
        return None

    # -- one handler per kind of intent --------------------------------------------------
    def _generate(self, intent: Intent) -> None:
        payload = intent.payload
        if payload.kind == "literal":
            prompt = payload.text
            if intent.source_language not in (None, "en"):
                prompt = self._add("translate_text", text=prompt, target_language="en",
                                   source_language=intent.source_language)
        elif payload.kind in ("ref", "empty") and self.images and not self.text_value:
            prompt = self._add("caption_image", image=self.images[0])  # "draw this": redraw the picture sent
        elif payload.kind in ("ref", "empty") and not self.text_value and self._just_drew():
            prompt = self.state.last_image_prompt or ""  # "draw it again", "another one"
        else:
            prompt = self._text(payload, NOTHING_TO_DRAW, image_first=False)
            if prompt is None:
                return
        self.plan.add("generate_image", prompt=prompt)
        self.image_value = step_ref(len(self.plan.steps), "image")

    def _just_drew(self) -> bool:
        state = self.state
        return bool(state.latest_image_generated and state.latest_image_recent and state.last_image_prompt)

    def _speak(self, intent: Intent) -> None:
        text = self._text(intent.payload, NOTHING_TO_SAY)
        if text is not None:
            self._finish(intent, text)

    def _read(self, intent: Intent) -> None:
        """"read ...": the writing in a picture, or words already there read aloud."""
        payload, state = intent.payload, self.state
        if payload.kind not in ("ref", "text", "empty"):
            text = self._text(payload, NOTHING_TO_SAY)
        elif self.text_value:
            text = self.text_value
        elif self.images:
            text = self._add("read_image_text", image=self.images[0])
        elif self._means_latest_image(intent):
            text = self._add("read_image_text", image=state.latest_image)
        elif state.last_text_output:  # "read it (to me)": the words said last, spoken
            text, intent = state.last_text_output, replace(intent, aloud=True)
        else:
            self.problem = NOTHING_TO_SAY
            return
        if text is not None:
            self._finish(intent, text)

    def _means_latest_image(self, intent: Intent) -> bool:
        """Whether "read it" means the text in the latest picture rather than the last words said."""
        state = self.state
        if not state.latest_image:
            return False
        if not state.last_text_output or state.latest_image_recent:
            return True
        return intent.payload.kind == "text" and not intent.aloud  # "read the text" about an older picture

    def _translate(self, intent: Intent) -> None:
        state, payload = self.state, intent.payload
        language = intent.language or state.last_target_language or self.settings.target_language
        spoken = payload.kind == "audio" or (
            payload.kind in ("ref", "empty") and self.audios and not self.images and self.text_value is None
        )
        if spoken:
            audio = self._audio()
            if audio is None:
                return
            if language == "en":
                text = self._add("translate_speech", audio=audio)
            else:
                heard = self._add("transcribe_audio", audio=audio)
                text = self._add("translate_text", text=heard, target_language=language)
        else:
            if intent.follow_up and self.text_value is None and not state.last_text_output:
                self.plan.chat = True  # "in English please" with nothing said before: conversation
                return
            if intent.follow_up and state.last_translation_source and self.text_value is None:
                source: str | None = state.last_translation_source
            else:
                source = self._text(payload, NOTHING_TO_TRANSLATE)
            if source is None:
                return
            text = self._add("translate_text", text=source, target_language=language)
        if intent.aloud:
            self.plan.add("speak_text", text=text)

    def _look(self, intent: Intent) -> None:
        """caption_image, read_image_text or answer_image_question on the image meant."""
        image = self._image(intent.payload.hint, intent.explicit)
        if image is None:
            if not self.problem:
                self.plan.chat = True  # "what is this?" with no picture anywhere: conversation
            return
        if intent.kind == "caption":
            text = self._add("caption_image", image=image)
        elif intent.kind == "ocr":
            text = self._add("read_image_text", image=image)
        else:
            text = self._add("answer_image_question", image=image, question=intent.question)
        self.plan.chat |= intent.with_chat
        self._finish(intent, text)

    def _transcribe(self, intent: Intent) -> None:
        audio = self._audio()
        if audio is None:
            return
        if intent.language == "en" and not intent.timestamps:  # "transcribe this in English"
            text = self._add("translate_speech", audio=audio)
            intent = replace(intent, language=None)
        elif intent.timestamps:
            text = self._add("transcribe_audio", audio=audio, timestamps=True)
        else:
            text = self._add("transcribe_audio", audio=audio)
        self.plan.chat |= intent.with_chat
        self._finish(intent, text)
