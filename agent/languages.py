"""Language names and ISO 639-1 codes (in English and in each language's own name), and a small detector."""

from __future__ import annotations

import re

from agent.errors import ToolError

# code: (English name, the language's own name, other accepted spellings)
LANGUAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "en": ("English", "English", ("anglais", "inglés", "ingles", "englisch", "अंग्रेज़ी", "अंग्रेजी")),
    "fr": ("French", "français", ("francais", "francés", "frances", "französisch", "फ़्रेंच", "फ्रेंच", "फ्रांसीसी")),
    "es": ("Spanish", "español", ("espanol", "castellano", "espagnol", "spanisch", "स्पेनिश")),
    "de": ("German", "Deutsch", ("allemand", "alemán", "aleman", "जर्मन")),
    "hi": ("Hindi", "हिन्दी", ("हिंदी", "hindí", "hindou")),
    "it": ("Italian", "italiano", ("italien", "italienisch", "इतालवी")),
    "pt": ("Portuguese", "português", ("portugues", "portugués", "portugais", "portugiesisch", "पुर्तगाली")),
    "nl": ("Dutch", "Nederlands", ("néerlandais", "neerlandés", "holandés", "holländisch", "niederländisch")),
    "ru": ("Russian", "русский", ("russe", "ruso", "russisch", "रूसी")),
    "zh": ("Chinese", "中文", ("mandarin", "chinois", "chino", "chinesisch", "चीनी")),
    "ja": ("Japanese", "日本語", ("japonais", "japonés", "japanisch", "जापानी")),
    "ko": ("Korean", "한국어", ("coréen", "coreano", "koreanisch")),
    "ar": ("Arabic", "العربية", ("arabe", "árabe", "arabisch", "अरबी")),
    "tr": ("Turkish", "Türkçe", ("turc", "turco", "türkisch")),
    "pl": ("Polish", "polski", ("polonais", "polaco", "polnisch")),
    "sv": ("Swedish", "svenska", ("suédois", "sueco", "schwedisch")),
    "uk": ("Ukrainian", "українська", ("ukrainien", "ucraniano", "ukrainisch")),
    "vi": ("Vietnamese", "Tiếng Việt", ("vietnamien",)),
    "id": ("Indonesian", "Bahasa Indonesia", ("indonésien",)),
    "bn": ("Bengali", "বাংলা", ("bangla", "बंगाली")),
    "ur": ("Urdu", "اردو", ("उर्दू",)),
    "ta": ("Tamil", "தமிழ்", ("तमिल",)),
    "mr": ("Marathi", "मराठी", ()),
    "fi": ("Finnish", "suomi", ("finnois",)),
    "da": ("Danish", "dansk", ("danois",)),
    "cs": ("Czech", "čeština", ("tchèque",)),
    "el": ("Greek", "Ελληνικά", ("grec", "griego")),
    "he": ("Hebrew", "עברית", ("hébreu",)),
    "ro": ("Romanian", "română", ("roumain",)),
    "hu": ("Hungarian", "magyar", ("hongrois",)),
}

_BY_NAME: dict[str, str] = {}
for _code, (_english, _native, _others) in LANGUAGES.items():
    for _name in (_code, _english, _native, *_others):
        _BY_NAME[_name.casefold()] = _code


def resolve_language(name_or_code: str) -> str:
    """The ISO 639-1 code of a language given by code or by name (any listed spelling).

    Raises:
        ToolError: the language is unknown, with a hint of accepted names.
    """
    key = (name_or_code or "").strip().casefold()
    if key in _BY_NAME:
        return _BY_NAME[key]
    if "-" in key and key.split("-")[0] in LANGUAGES:  # en-US, pt-BR
        return key.split("-")[0]
    raise ToolError(
        f"I don't know the language {name_or_code!r}; use a name like French or an ISO code like fr."
    )


def find_language(name_or_code: str) -> str | None:
    """Like ``resolve_language`` but None when unknown."""
    try:
        return resolve_language(name_or_code)
    except ToolError:
        return None


def language_name(code: str) -> str:
    """The English name of a language code ('fr' -> 'French'); the code itself if unknown."""
    entry = LANGUAGES.get(code)
    return entry[0] if entry else code


def all_language_names() -> list[str]:
    """Every accepted name and code, longest first (for matching inside sentences)."""
    return sorted(_BY_NAME, key=len, reverse=True)


# -- detecting the language of a text -------------------------------------------------
# There is no language-identification model in polychat: the writing system decides for
# non-Latin scripts, and common short words decide between Latin-script languages. Good
# enough for a sentence or more; a single word or a name is often undecidable (None).

# Unicode blocks (inclusive code point ranges) of the scripts that name one language here.
SCRIPTS: dict[str, tuple[tuple[int, int], ...]] = {
    "latin": ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x1E00, 0x1EFF)),
    "devanagari": ((0x0900, 0x097F),),
    "bengali": ((0x0980, 0x09FF),),
    "tamil": ((0x0B80, 0x0BFF),),
    "cyrillic": ((0x0400, 0x04FF),),
    "greek": ((0x0370, 0x03FF),),
    "hebrew": ((0x0590, 0x05FF),),
    "arabic": ((0x0600, 0x06FF), (0x0750, 0x077F)),
    "hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)),
    "kana": ((0x3040, 0x30FF),),
    "han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),
}

# The language a script means when nothing finer is known.
SCRIPT_LANGUAGE: dict[str, str] = {
    "devanagari": "hi",
    "bengali": "bn",
    "tamil": "ta",
    "cyrillic": "ru",
    "greek": "el",
    "hebrew": "he",
    "arabic": "ar",
    "hangul": "ko",
    "kana": "ja",
    "han": "zh",
}

# Letters or words that move a script's text to a sibling language.
SCRIPT_REFINEMENTS: dict[str, tuple[tuple[str, frozenset[str], tuple[str, ...]], ...]] = {
    # script: ((language, telltale letters, telltale words), ...)
    "cyrillic": (("uk", frozenset("іїєґІЇЄҐ"), ()),),
    "arabic": (("ur", frozenset("ٹڈڑںےۓ"), ()),),
    "devanagari": (("mr", frozenset("ळ"), ("आहे", "आणि", "नाही")),),
}

# Frequent short words of the Latin-script languages told apart by word counts.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are was were of to in that it you for with this have has not be on what how my "
        "i your we they he she do at from will would there their can an hello thank a under by into our his "
        "her him them me been if or so but".split()
    ),
    "fr": frozenset(
        "le la les et est un une des du de je vous nous il elle que qui pas ne pour dans sur avec ce "
        "cette sont au aux mais ou très bonjour merci qu j c suis êtes avez ont était a sous chez où en son sa "
        "ses mon ma mes on y leur été fait".split()
    ),
    "es": frozenset(
        "el la los las y es un una de que en no por para con del se lo su está son muy pero como "
        "hola gracias yo tú usted estoy tengo qué cómo hay al a nos también dónde cuando mi tu ella él "
        "nosotros fue".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ein eine ich du sie wir es mit auf für den dem zu von sind auch "
        "wie aber hallo danke guten bin habe haben wird heute sehr im am zum zur unter bei nach aus dass oder "
        "wenn noch nur schon mein dein er ihr uns war".split()
    ),
    "it": frozenset(
        "il lo la gli le e è un una di che non per con sono del della come ma questo ciao grazie io "
        "sei molto anche ho hai mi ti a sul sulla nel nella alla al dei delle dove si ci da dal cosa perché più "
        "lui lei noi voi loro".split()
    ),
    "pt": frozenset(
        "o a os as e é um uma de do da que não em para com por são está mas como muito olá obrigado "
        "eu você isso tenho estou dos das a no na nos nas ao aos se ele ela nós eles onde mais também foi".split()
    ),
    "nl": frozenset(
        "de het een en is niet van dat ik je jij wij zijn met voor op te er maar ook hoe wat hallo "
        "dank goed heb hebben onder bij naar om uit dit deze die zo nog al kan worden werd was hij zij ze we "
        "mijn jouw".split()
    ),
}

# Letters that only some of the Latin-script languages above use: a hint each.
LETTER_HINTS: dict[str, str] = {"ñ": "es", "¿": "es", "¡": "es", "ß": "de", "ä": "de", "ö": "de",
                                "ç": "fr", "œ": "fr", "ê": "fr", "ã": "pt", "õ": "pt", "ĳ": "nl"}
LETTER_HINT_WEIGHT = 0.5  # score of one telltale letter, in stop-word units

_WORD = re.compile(r"[^\W\d_]+")


def script_of(char: str) -> str | None:
    """The script (a key of ``SCRIPTS``) a character belongs to, or None (digits, punctuation)."""
    point = ord(char)
    for script, blocks in SCRIPTS.items():
        if any(low <= point <= high for low, high in blocks):
            return script
    return None


def _dominant_script(text: str) -> str | None:
    counts: dict[str, int] = {}
    for char in text:
        script = script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None
    if counts.get("kana"):  # Japanese mixes kana with Han characters
        counts["kana"] += counts.pop("han", 0)
    return max(counts, key=counts.__getitem__)


def _refine(script: str, text: str) -> str:
    words = set(_WORD.findall(text))
    for code, letters, telltale_words in SCRIPT_REFINEMENTS.get(script, ()):
        if letters.intersection(text) or words.intersection(telltale_words):
            return code
    return SCRIPT_LANGUAGE[script]


def _score_latin(text: str) -> dict[str, float]:
    """Stop-word scores; a word shared by several languages counts as 1/n for each."""
    scores = dict.fromkeys(STOP_WORDS, 0.0)
    for word in _WORD.findall(text.casefold()):
        owners = [code for code, words in STOP_WORDS.items() if word in words]
        for code in owners:
            scores[code] += 1 / len(owners)
    for letter in {c for c in text.casefold() if c in LETTER_HINTS}:
        scores[LETTER_HINTS[letter]] += LETTER_HINT_WEIGHT
    return scores


def detect_language(text: str) -> str | None:
    """Guess the ISO 639-1 code of the language a text is written in.

    The writing system decides for non-Latin scripts (Devanagari → hi, Cyrillic → ru or
    uk, Arabic → ar or ur, kana → ja, Han → zh, Hangul → ko, ...); frequent short words
    decide between en, fr, es, de, it, pt and nl.

    Args:
        text: a sentence or more; single words are often undecidable.

    Returns:
        The code, or None when the text gives no clear sign (no letters, no known words,
        or a tie between languages).
    """
    script = _dominant_script(text or "")
    if script is None:
        return None
    if script != "latin":
        return _refine(script, text)
    ranked = sorted(_score_latin(text).items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score < 1 or best_score == runner_up:
        return None
    return best
