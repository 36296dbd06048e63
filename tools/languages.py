"""Language names and ISO 639-1 codes, in English and in each language's own name."""

from __future__ import annotations

from agent.errors import ToolError

# code: (English name, the language's own name, other accepted spellings)
LANGUAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "en": ("English", "English", ("anglais", "inglés", "ingles", "englisch", "अंग्रेज़ी", "अंग्रेजी")),
    "fr": ("French", "français", ("francais", "francés", "frances", "französisch", "फ़्रेंच", "फ्रेंच", "फ्रांसीसी")),
    "es": ("Spanish", "español", ("espanol", "castellano", "espagnol", "spanisch", "स्पेनिश")),
    "de": ("German", "Deutsch", ("allemand", "alemán", "aleman", "जर्मन")),
    "hi": ("Hindi", "हिन्दी", ("हिंदी", "hindí", "hindou")),
    "it": ("Italian", "italiano", ("italien", "italienisch")),
    "pt": ("Portuguese", "português", ("portugues", "portugais", "portugiesisch")),
    "nl": ("Dutch", "Nederlands", ("néerlandais", "holländisch", "niederländisch")),
    "ru": ("Russian", "русский", ("russe", "ruso", "russisch")),
    "zh": ("Chinese", "中文", ("mandarin", "chinois", "chino", "chinesisch")),
    "ja": ("Japanese", "日本語", ("japonais", "japonés", "japanisch")),
    "ko": ("Korean", "한국어", ("coréen", "coreano", "koreanisch")),
    "ar": ("Arabic", "العربية", ("arabe", "árabe", "arabisch")),
    "tr": ("Turkish", "Türkçe", ("turc", "turco", "türkisch")),
    "pl": ("Polish", "polski", ("polonais", "polaco", "polnisch")),
    "sv": ("Swedish", "svenska", ("suédois", "sueco", "schwedisch")),
    "uk": ("Ukrainian", "українська", ("ukrainien", "ucraniano", "ukrainisch")),
    "vi": ("Vietnamese", "Tiếng Việt", ("vietnamien",)),
    "id": ("Indonesian", "Bahasa Indonesia", ("indonésien",)),
    "bn": ("Bengali", "বাংলা", ("bangla",)),
    "ur": ("Urdu", "اردو", ()),
    "ta": ("Tamil", "தமிழ்", ()),
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
