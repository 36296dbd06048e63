"""Readers: one function per kind of request, from a clause's words to an Intent.

Each reader looks at one clause (politeness removed, quotations as placeholders) and
either recognises its kind of request or answers None; :func:`read_clause` asks them in
order. Nothing here knows artifact ids or step numbers: the router binds those later.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from agent.router import phrases
_PLACEHOLDER = re.compile(phrases.QUOTED)


def restore(text: str, quotes: list[str], *, marks: bool = True) -> str:
    """Put quoted passages back in place of their placeholders (in double quotes when ``marks``)."""

    def passage(match: re.Match[str]) -> str:
        words = quotes[int(match.group()[1:-1])]
        return f'"{words}"' if marks else words

    return _PLACEHOLDER.sub(passage, text)


@dataclass
class Payload:
    """The object of a request.

    Attributes:
        kind: ``empty``; ``literal`` (words given); ``ref`` (it / that: an earlier output);
            ``text`` ("the text": an earlier output or an image's text); ``image`` (a
            picture itself); ``image_text`` (the writing in a picture); ``audio``.
        text: the words, for ``literal``.
        quoted: the words were in quotes.
        hint: ``generated`` or ``uploaded`` when the words say which picture.
        source: the object as the user wrote it (quotations as placeholders).
    """

    kind: str = "empty"
    text: str = ""
    quoted: bool = False
    hint: str | None = None
    source: str = ""


@dataclass
class Intent:
    """One thing a clause asks for, before it is bound to artifacts and earlier steps.

    ``kind`` is one of generate, speak, read, translate, caption, ocr, vqa, transcribe, chat.
    """

    kind: str
    payload: Payload = field(default_factory=Payload)
    language: str | None = None  # translate into this language (the target, or "... in French")
    aloud: bool = False  # speak the result
    timestamps: bool = False
    question: str = ""
    source_language: str | None = None  # the language the request was written in (for image prompts)
    explicit: bool = False  # the words name the media ("this photo", "the sign", "the recording")
    follow_up: bool = False  # "and in German?"
    with_chat: bool = False  # the chat model answers too ("summarize this recording")
    speak_reply: bool = False  # a chat reply that should be spoken ("say something nice")

    @property
    def acts(self) -> bool:
        """Whether the clause can stand on its own in a chain (questions and chat cannot)."""
        return self.kind not in ("chat", "vqa")


@dataclass(frozen=True)
class Cues:
    """What the conversation holds, as far as reading a clause needs to know."""

    image_attached: bool = False
    audio_attached: bool = False
    image_known: bool = False
    image_recent: bool = False
    audio_known: bool = False
    audio_recent: bool = False


@dataclass(frozen=True)
class Clause:
    """One clause of a message, ready to be read.

    Attributes:
        text: the clause without politeness or "out loud", quotations as placeholders.
        quotes: the message's quoted passages.
        cues: what the conversation holds.
        alone: the clause is the whole message.
        question: it ended with a question mark.
        capability: it asked "can you ...?" (a question about what the agent can do).
        aloud: it asked for the result out loud.
    """

    text: str
    quotes: list[str]
    cues: Cues
    alone: bool
    question: bool = False
    capability: bool = False
    aloud: bool = False

    def payload(self, words: str) -> Payload:
        return classify_payload(words, self.quotes)

    def generic(self, payload: Payload) -> bool:
        """A capability question about a whole field ("can you read text in images?")."""
        return self.capability and (payload.kind == "empty" or bool(phrases.GENERIC_OBJECT.match(payload.source)))


def tidy(text: str) -> str:
    """Trim punctuation and trailing politeness ("..., please") from a phrase."""
    text = phrases.START_PUNCTUATION.sub("", text)
    trimmed = phrases.TRAILING_FILLERS.sub("", text)
    if len(trimmed.split()) >= 2:  # "say thank you" keeps its object
        text = trimmed
    return phrases.END_PUNCTUATION.sub("", text).strip()


_OBJECT_PRONOUN = re.compile(r"^(?:me|for me|moi|mir)\s+", re.IGNORECASE)
_MAX_REFERENCE_WORDS = 8  # a longer object is words to use, not a pointer to media


def _image_hint(text: str) -> str | None:
    if phrases.GENERATED_HINT.search(text):
        return "generated"
    return "uploaded" if phrases.UPLOADED_HINT.search(text) else None


def classify_payload(words: str, quotes: list[str]) -> Payload:
    """Decide what the object of a request is: given words, an earlier output, or media."""
    text = _OBJECT_PRONOUN.sub("", tidy(words))
    payload = _classify(text, quotes)
    payload.source = text
    return payload


def _classify(text: str, quotes: list[str]) -> Payload:
    if not text:
        return Payload("empty")
    unprefixed = phrases.LITERAL_PREFIX.sub("", text)  # "the word 'hello'"
    for candidate in (text, unprefixed):
        if _PLACEHOLDER.fullmatch(candidate):
            return Payload("literal", quotes[int(candidate[1:-1])], quoted=True)
    hint = _image_hint(text)
    short = len(text.split()) <= _MAX_REFERENCE_WORDS and not _PLACEHOLDER.search(text)
    image_noun = short and bool(phrases.MENTIONS_IMAGE.search(text))
    pointed = bool(phrases.MENTIONS_DETERMINER.search(text))
    if short and phrases.MENTIONS_AUDIO.search(text) and not image_noun:
        return Payload("audio")
    if phrases.TEXT_REFERENCE.match(text):
        return Payload("text")
    if short and phrases.MENTIONS_TEXT.search(text) and (pointed or image_noun):
        return Payload("image_text", hint=hint)
    if (image_noun or (short and hint)) and (pointed or hint or re.match(r"^what(?:'s| is| you)", text, re.IGNORECASE)):
        return Payload("image", hint=hint)
    if phrases.REFERENCE.match(text):
        return Payload("ref")
    return Payload("literal", restore(unprefixed or text, quotes))


_LANGUAGE_TAIL = phrases.rx(
    r"^(?P<body>.*?)[\s,]*(?:(?:in|into|en|auf|im|ins|al)\s+" + phrases.LANGUAGE + r"|"
    + phrases.LANGUAGE.replace("?P<lang>", "?P<lang2>") + r"\s+में)$"
)


def language_tail(text: str) -> tuple[str, str | None]:
    """Split "..., in French" off the end of a clause: (the rest, the language code or None)."""
    match = _LANGUAGE_TAIL.match(text)
    if not match or not match["body"].strip():
        return text, None
    return match["body"].strip(), phrases.language_code(match["lang"] or match["lang2"])


_CLITIC_VERB = re.compile(r"(?:-le|-la|-les|lo|la|le|es)$", re.IGNORECASE)  # tradúcelo, dis-le, léela, sag es
_REPHRASE = re.compile(r"^(?:it|that|this)\s+(?!again\b)(?:more|less|differently|another|in other|better|shorter|"
                       r"simpler|again\s+but)", re.IGNORECASE)
_LANGUAGE_ONLY = phrases.rx(r"^(?:in\s+)?" + phrases.LANGUAGE + r"$")
_REPEAT = re.compile(r"^(?:repeat|répète|répétez|repete|repite|repítelo|repitelo|wiederhole|wiederhol)$", re.IGNORECASE)
_EXPLAIN = re.compile(r"^(?:summari[sz]e|explain|analy[sz]e|talk about|tell me about)$", re.IGNORECASE)
_MEDIA_REFERENCE = phrases.rx(
    r"^(?:this|that|the|my|your|it|ce|cette|cet|esta|este|esa|dieses|das|इस|यह)\s+(?:\w+\s+)?(?:"
    + phrases.IMAGE_NOUN + "|" + phrases.AUDIO_NOUN + r")(?:\s+(?:i|you)\s+.*)?$"
)
_HINDI_QUESTION = phrases.rx(
    r"(?<!" + phrases.W + r")(?:क्या|कौन|कहाँ|कहां|कितने|कितनी|कितना|किस|कैसा|कैसी)(?!" + phrases.W + r")"
)
_WEAK_MENTION = re.compile(r"(?:in|on)\s+(?:it|there|this|that)(?!\w)", re.IGNORECASE)


def _translate(clause: Clause) -> Intent | None:
    """translate X to French, how do you say X in Spanish, traduis X en anglais, and in German?"""
    for pattern in phrases.TRANSLATE_QUESTIONS:
        match = pattern.match(clause.text)
        if match:
            language = match.groupdict().get("lang")
            return Intent("translate", clause.payload(match["text"]),
                          language=phrases.language_code(language) if language else None)
    match = phrases.TRANSLATE_VERB.match(clause.text)
    if match:
        rest, language = match["rest"], None
        for pattern in (phrases.TRANSLATE_LANGUAGE_FIRST, phrases.TRANSLATE_LANGUAGE_LAST):
            found = pattern.match(rest)
            if found:
                rest, language = found["text"], phrases.language_code(found["lang"])
                break
        else:
            rest = phrases.FROM_ONLY.sub("", rest)
        payload = clause.payload(rest)
        if payload.kind == "empty" and _CLITIC_VERB.search(match["verb"]):
            payload = Payload("ref")
        attached = clause.cues.image_attached or clause.cues.audio_attached
        if clause.generic(payload) or (payload.kind == "empty" and not language and clause.alone and not attached):
            return Intent("chat")  # "can you translate?"
        return Intent("translate", payload, language=language)
    match = phrases.TRANSLATE_FOLLOW_UP.match(clause.text)
    if match:
        return Intent("translate", Payload("ref"), language=phrases.language_code(match["lang"]), follow_up=True)
    return None


def _speak(clause: Clause) -> Intent | None:
    """say X, pronounce X, convert X to speech, dis X, di X, sag X, X बोलो."""
    match = phrases.SPEAK_VERB.match(clause.text)
    verb = match["verb"] if match else ""
    if match is None:
        match = next((m for m in (pattern.match(clause.text) for pattern in phrases.SPEAK_PATTERNS) if m), None)
    if match is None:
        return None
    rest = re.sub(r"^mal\s+|\s+aus$", "", match["rest"], flags=re.IGNORECASE)  # sag mal hallo, sprich es aus
    if phrases.SPEAK_NOT.match(rest):
        return Intent("chat", speak_reply=True)  # "speak to me", "dis-moi"
    if _REPHRASE.match(rest) or re.match(r"^say\s*,", clause.text, re.IGNORECASE):
        return Intent("chat")  # "say it differently", "say, what's your name?"
    body, language = language_tail(rest)
    payload = clause.payload(body)
    if payload.kind == "empty" and (_CLITIC_VERB.search(verb) or _REPEAT.match(verb)):
        payload = Payload("ref")
    if payload.kind == "literal" and not payload.quoted and (
        phrases.CHAT_TOPIC.match(payload.text) or _LANGUAGE_ONLY.match(payload.text)
    ):
        return Intent("chat", speak_reply=True)  # "say something nice", "speak French"
    if clause.generic(payload) or (payload.kind == "empty" and (language or clause.alone)):
        return Intent("chat", speak_reply=bool(language))
    if payload.kind == "empty":
        payload = Payload("ref")  # "... and say"
    return Intent("speak", payload, language=language, aloud=True, explicit=payload.kind in ("image", "image_text"))


def _read(clause: Clause) -> Intent | None:
    """read the text (OCR), read it aloud (speech), lis le texte, lee el texto, lies den Text vor, पढ़ो."""
    match = phrases.READ_VERB.match(clause.text) or phrases.HINDI_READ.match(clause.text)
    if match is None:
        return None
    verb, rest = match["verb"].lower(), match["rest"]
    explicit = clause.aloud or verb == "vorlesen" or "सुनाओ" in verb  # out loud, said so
    implicit = verb.endswith(("-moi", "me", "melo"))  # read (it to) me
    head = phrases.READ_ALOUD_HEAD.match(rest)
    if head:
        explicit |= head.group().strip().lower() in ("out", "aloud")
        implicit = True
        rest = rest[head.end():]
    while tail := phrases.READ_ALOUD_TAIL.search(rest):
        explicit |= tail.group().strip().lower() in ("out", "vor", "mir vor")
        implicit = True
        rest = rest[: tail.start()]
    body, language = language_tail(rest)
    payload = clause.payload(body)
    if payload.kind == "empty" and _CLITIC_VERB.search(verb):
        payload = Payload("ref")
    if clause.generic(payload) or (payload.kind == "literal" and not payload.quoted and not explicit):
        return Intent("chat", speak_reply=implicit)  # "read me a story"
    return Intent("read", payload, language=language, aloud=explicit or implicit,
                  explicit=payload.kind in ("image", "image_text"))


def _draw_prompt(text: str) -> tuple[str, str] | None:
    """The prompt and the language of a drawing request, or None."""
    for language, pattern in phrases.DRAW_PATTERNS.items():
        match = pattern.match(text)
        if match:
            return match["prompt"], language
    for language, pattern in phrases.MAKE_PATTERNS.items():
        match = pattern.match(text)
        if match and match["prompt"].strip():
            prompt = match["prompt"]
            styled = match["adjectives"].strip() or not phrases.GENERIC_PICTURE.match(match["noun"])
            if language == "en" and styled and not _PLACEHOLDER.search(prompt):  # keep "a watercolor painting of"
                link = (match["link"] or "").strip().replace(":", "of")
                parts = (match["article"], match["adjectives"], match["noun"], link, prompt)
                prompt = " ".join(part.strip() for part in parts if part and part.strip())
            return prompt, language
    for pattern in phrases.HINDI_DRAW_PATTERNS:
        match = pattern.match(text)
        if match:
            return match["prompt"], "hi"
    return None


def _draw(clause: Clause) -> Intent | None:
    """draw X, paint X, generate an image of X, show me a picture of X, imagine X, dessine X, X का चित्र बनाओ."""
    found = _draw_prompt(clause.text)
    if found is None:
        return None
    prompt, language = found
    payload = clause.payload(phrases.PROMPT_LEAD.sub("", prompt.strip()))
    if payload.kind == "empty" or clause.generic(payload):
        return Intent("chat")  # "can you draw?"
    if payload.kind == "text":
        payload = Payload("ref")
    if payload.kind in ("image", "image_text", "audio") and not _MEDIA_REFERENCE.match(payload.source):
        payload = Payload("literal", restore(payload.source, clause.quotes), source=payload.source)
    return Intent("generate", payload, source_language=language)


def _subtitles(clause: Clause) -> Intent | None:
    """subtitles, timestamps, srt."""
    if not phrases.TIMESTAMPS.search(clause.text):
        return None
    if clause.cues.audio_attached or clause.cues.audio_known or not clause.question:
        return Intent("transcribe", Payload("audio"), timestamps=True, explicit=True)
    return Intent("chat")  # "what are subtitles?"


def _transcribe(clause: Clause) -> Intent | None:
    """transcribe this, what does he say?, qu'est-ce qu'il dit ?, was sagt er?"""
    cues = clause.cues
    match = phrases.TRANSCRIBE_VERB.match(clause.text)
    if match:
        payload = clause.payload(match["rest"])
        if payload.kind in ("image", "image_text"):
            return Intent("ocr", payload, explicit=True)  # "transcribe the handwriting"
        if payload.kind == "literal" and not cues.audio_attached:
            return Intent("chat")
        image_meant = cues.image_attached or (cues.image_known and not cues.audio_known)
        if payload.kind != "audio" and not cues.audio_attached and image_meant:
            return Intent("ocr", payload)
        return Intent("transcribe", Payload("audio"), explicit=True)
    asked = any(pattern.search(clause.text) for pattern in phrases.TRANSCRIBE_QUESTIONS)
    if asked and (cues.audio_attached or cues.audio_known):
        return Intent("transcribe", Payload("audio"))
    return None


def _ocr(clause: Clause) -> Intent | None:
    """what does the sign say?, extract the text, what's written on it?, OCR this."""
    cues = clause.cues
    if phrases.WHAT_DOES_IT_SAY.match(clause.text):  # an image or a recording, whichever is meant
        if cues.audio_attached or (cues.audio_recent and not cues.image_recent and not cues.image_attached):
            return Intent("transcribe", Payload("audio"))
        if cues.image_attached or cues.image_known:
            return Intent("ocr")
        return Intent("transcribe", Payload("audio")) if cues.audio_known else Intent("chat")
    if any(pattern.search(clause.text) for pattern in phrases.OCR_QUESTIONS):
        return Intent("ocr", explicit=True)
    match = phrases.OCR_VERB.match(clause.text)
    if match:
        payload = clause.payload(match["rest"])
        asked_for_ocr = clause.text.lower().startswith("ocr") and payload.kind != "literal"
        if payload.kind in ("image_text", "text") or asked_for_ocr:
            return Intent("ocr", payload, explicit=payload.kind == "image_text")
    return None


def _caption(clause: Clause) -> Intent | None:
    """describe this, what's in the picture?, what do you see?, décris cette image, इसका वर्णन करो."""
    cues = clause.cues
    match = phrases.CAPTION_VERB.match(clause.text) or phrases.HINDI_DESCRIBE.match(clause.text)
    if match:
        verb = match.groupdict().get("verb") or ""
        payload = clause.payload(match["rest"])
        if payload.kind == "empty" and _CLITIC_VERB.search(verb):
            payload = Payload("ref")
        about_recording = _EXPLAIN.match(verb) and cues.audio_attached and payload.kind in ("empty", "ref")
        if payload.kind == "audio" or about_recording:
            return Intent("transcribe", Payload("audio"), explicit=True, with_chat=True)  # "summarize this recording"
        if payload.kind == "image_text":
            return Intent("ocr", payload, explicit=True)
        if payload.kind == "image":
            return Intent("caption", payload, explicit=True)
        if payload.kind in ("empty", "ref", "text"):
            if _EXPLAIN.match(verb) and not (cues.image_attached or cues.image_recent):
                return Intent("chat")  # "explain that"
            return Intent("caption", payload)
        if cues.image_attached and clause.question:  # "can you describe the man's coat?"
            return Intent("vqa", question=_question_text(clause))
        if cues.image_attached:  # "look at my cat!"
            return Intent("caption", with_chat=True)
        return Intent("chat")  # "describe a sunset"
    if any(pattern.search(clause.text) for pattern in phrases.CAPTION_QUESTIONS):
        hint = "generated" if re.search(r"did you", clause.text, re.IGNORECASE) else _image_hint(clause.text)
        explicit = bool(hint) or bool(phrases.MENTIONS_IMAGE.search(clause.text))
        return Intent("caption", Payload("ref", hint=hint), explicit=explicit)
    return None


def _question_text(clause: Clause) -> str:
    question = restore(clause.text, clause.quotes)
    return question + "?" if clause.question and not question.endswith("?") else question


def _question(clause: Clause) -> Intent | None:
    """A question about a picture: one attached, one named ("in the photo"), or one just shown."""
    cues = clause.cues
    if phrases.META_QUESTION.match(clause.text):
        return Intent("chat")  # "what can you do?"
    count = phrases.COUNT.match(clause.text)
    if count and (cues.image_attached or cues.image_known):
        return Intent("vqa", question=f"How many {count['things']} are there?", explicit=cues.image_attached)
    asked = clause.question or phrases.QUESTION_OPENER.match(clause.text) or _HINDI_QUESTION.search(clause.text)
    if not asked:
        return None
    hint = _image_hint(clause.text)
    visual = bool(phrases.VISUAL_QUESTION.match(clause.text))  # how many, what colour, is there ...
    weak = bool(_WEAK_MENTION.search(clause.text) or phrases.IMAGE_MENTION.search(clause.text))  # "in it"
    strong = bool(hint) or (weak and (visual or bool(phrases.MENTIONS_IMAGE.search(clause.text))))  # "in the photo"
    if cues.image_attached or strong or (weak and cues.image_known) or (cues.image_recent and visual):
        return Intent("vqa", Payload("ref", hint=hint), question=_question_text(clause), explicit=strong)
    return None


_READERS: tuple[Callable[[Clause], Intent | None], ...] = (_read, _subtitles, _transcribe, _ocr, _caption, _question)


def read_clause(clause: Clause) -> Intent:
    """What one clause asks for; ``chat`` when no reader recognises it."""
    intent = _translate(clause) or _speak(clause) or _draw(clause)
    if intent is None:
        body, language = language_tail(clause.text)  # "describe it in French"
        if language and body:
            clause = replace(clause, text=body)
        intent = next((found for reader in _READERS if (found := reader(clause))), None) or Intent("chat")
        if language and intent.kind != "chat" and intent.language is None:
            intent.language = language
    if clause.aloud and intent.kind != "chat":
        intent.aloud = True
    return intent
