"""Phrase tables of the rules-first router: what requests look like in English, French,
Spanish, German and Hindi.

Everything here is a regular expression over one clause of the user's message, after
``agent.router.clauses`` has cut the message into clauses and set quotations aside. Patterns
are compiled with :func:`rx`, which ignores case and lets every Devanagari consonant
carry an optional nukta, so "ज़ोर" and "जोर" are the same word.
"""

from __future__ import annotations

import re
import unicodedata

from agent.languages import all_language_names, find_language

W = r"[\w\u0900-\u097F]"  # a word character, Devanagari vowel signs included
NUKTA = "\u093c"
QUOTE_OPEN, QUOTE_CLOSE = "\ue000", "\ue001"  # around the number of a protected quotation
QUOTED = rf"{QUOTE_OPEN}\d+{QUOTE_CLOSE}"


def words(*alternatives: str) -> str:
    """A regex matching any of the phrases (regex snippets) as whole words, longest first."""
    body = "|".join(sorted(alternatives, key=len, reverse=True))
    return rf"(?<!{W})(?:{body})(?!{W})"


def rx(pattern: str) -> re.Pattern[str]:
    """Compile a pattern case-insensitively, with optional nuktas after Devanagari consonants."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", pattern):
        if char == NUKTA:
            continue
        out.append(char)
        if "\u0915" <= char <= "\u0939":
            out.append(NUKTA + "?")
    return re.compile("".join(out), re.IGNORECASE)


def patterns(*sources: str) -> list[re.Pattern[str]]:
    """Compile several patterns with :func:`rx`."""
    return [rx(source) for source in sources]


# -- languages ------------------------------------------------------------------------
def _language_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold().replace(NUKTA, "")


_LANGUAGE_BY_KEY: dict[str, str] = {}
for _name in all_language_names():
    _code = find_language(_name)
    if _code is None or len(_name) <= 2:  # codes such as "it" or "in" are ordinary words in a sentence
        continue
    _LANGUAGE_BY_KEY[_language_key(_name)] = _code
    if _name.casefold().endswith("sch"):  # German inflections: ins Deutsche, auf Englisch, im Französischen
        _LANGUAGE_BY_KEY[_language_key(_name + "e")] = _code
        _LANGUAGE_BY_KEY[_language_key(_name + "en")] = _code

LANG = "(?:" + "|".join(re.escape(k) for k in sorted(_LANGUAGE_BY_KEY, key=len, reverse=True)) + ")"
LANGUAGE = rf"(?<!{W})(?P<lang>{LANG})(?!{W})"


def language_code(name: str) -> str | None:
    """The ISO code of a language name found by :data:`LANGUAGE`, or None."""
    return _LANGUAGE_BY_KEY.get(_language_key(name.strip()))


# -- politeness around a request ---------------------------------------------------------
CAPABILITY = words(
    "can you", "could you", "are you able to", "do you know how to", "is it possible to", "can u",
    "peux-tu", "pouvez-vous", "sais-tu", "puedes", "podrías", "sabes", "kannst du", "könntest du",
    "क्या तुम", "क्या आप",
)
LEADING_FILLERS = rx(r"^(?:" + words(
    "please", "pls", "plz", "kindly", "now", "ok", "okay", "so", "well", "alright", "also", "and", "then",
    "just", "quickly", "hey", "go ahead and", "try to", "try and", "help me", "i want you to",
    "i'd like you to", "i would like you to", "i need you to", "would you mind", "will you", "would you",
    "could you please", "can you please", "would you please", "could you", "can you", "can u",
    "are you able to", "do you know how to", "is it possible to",
    "s'il te plaît", "s'il vous plaît", "stp", "svp", "peux-tu", "pourrais-tu", "pouvez-vous",
    "pourriez-vous", "tu peux", "tu pourrais", "est-ce que tu peux", "est-ce que vous pouvez", "maintenant",
    "alors", "et", "ensuite", "puis", "merci de", "je veux que tu", "je voudrais que tu", "sais-tu",
    "por favor", "puedes", "podrías", "podrias", "puede", "podría", "ahora", "bueno", "y", "luego",
    "quiero que", "sabes", "bitte", "kannst du", "könntest du", "würdest du", "jetzt", "nun", "und",
    "dann", "कृपया", "ज़रा", "अब", "फिर", "और", "अच्छा", "क्या तुम", "क्या आप",
) + r")[\s,:]*")
GREETING = rx(r"^(?:hi|hello|hey|hey there|hi there|good (?:morning|evening|afternoon)|bonjour|salut|hola|"
              r"hallo|namaste|नमस्ते|polychat)\s*[,!.]+\s*")
TRAILING_FILLERS = rx(r"[\s,]*(?:" + words(
    "please", "pls", "plz", "thanks", "thank you", "thx", "for me", "now", "right now", "quickly",
    "s'il te plaît", "s'il vous plaît", "stp", "svp", "merci", "por favor", "gracias", "bitte",
    "danke", "कृपया", "धन्यवाद",
) + r")[\s.!?।…]*$")
END_PUNCTUATION = re.compile(r"[\s.!?¿¡।…]+$")
START_PUNCTUATION = re.compile(r"^[\s¿¡,;:-]+")

# -- words that name things --------------------------------------------------------------
IMAGE_NOUN = words(
    "image", "images", "picture", "pictures", "pic", "pics", "photo", "photos", "photograph", "drawing",
    "painting", "illustration", "screenshot", "snapshot", "selfie", "artwork",
    "dessin", "peinture", "tableau", "imagen", "foto", "fotografía", "dibujo", "pintura", "cuadro",
    "ilustración", "bild", "zeichnung", "gemälde", "तस्वीर", "चित्र", "फोटो", "इमेज", "छवि", "पेंटिंग",
)
AUDIO_NOUN = words(
    "audio", "recording", "voice note", "voice message", "voice memo", "clip", "audio clip", "sound",
    "song", "podcast", "interview", "speech", "enregistrement", "message vocal", "note vocale",
    "grabación", "grabacion", "nota de voz", "mensaje de voz", "aufnahme", "sprachnachricht",
    "sprachnotiz", "ऑडियो", "रिकॉर्डिंग",
)
TEXT_NOUN = words(
    "text", "texts", "words", "writing", "handwriting", "sign", "signs", "receipt", "note", "notes",
    "whiteboard", "blackboard", "board", "menu", "document", "page", "label", "letter", "poster", "slide",
    "card", "license plate", "number plate", "headline", "ticket", "invoice", "form", "sticker", "banner",
    "ingredients", "texte", "panneau", "reçu", "tableau blanc", "étiquette", "affiche", "écrit", "texto",
    "letrero", "cartel", "recibo", "nota", "pizarra", "menú", "documento", "página", "etiqueta", "schild",
    "quittung", "beleg", "notiz", "tafel", "speisekarte", "dokument", "seite", "etikett", "plakat", "zettel",
    "टेक्स्ट", "पाठ", "लिखावट", "साइनबोर्ड", "बोर्ड", "रसीद", "मेनू", "मेन्यू", "दस्तावेज़", "पर्ची",
)
WRITTEN = words(
    "written", "printed", "what it says", "what the text says", "what's written", "what is written",
    "écrit", "escrito", "geschrieben", "लिखा", "लिखा हुआ", "लिखा है",
)
DETERMINER = words(
    "this", "that", "the", "these", "those", "my", "your", "its", "it", "this one", "that one",
    "ce", "cet", "cette", "ces", "le", "la", "les", "l'", "mon", "ma", "mes", "ton", "ta", "este", "esta",
    "ese", "esa", "el", "mi", "tu", "su", "der", "die", "das", "den", "dem", "dieses", "diese", "diesen",
    "mein", "meine", "इस", "यह", "ये", "उस", "वह", "इन",
)
GENERATED_HINT = rx(words(
    r"you (?:just )?(?:made|drew|created|generated|painted|did|produced|sketched|drawn|imagined)",
    r"your (?:drawing|painting|picture|image|creation|sketch)", r"(?:last|latest) generated",
    "generated", r"tu as (?:fait|dessiné|créé|peint)", r"que (?:hiciste|dibujaste|creaste|pintaste)",
    r"du (?:gemalt|gezeichnet|erstellt|gemacht) hast", r"तुमने (?:बनाई|बनाया|बनाए)",
))
UPLOADED_HINT = rx(words(
    r"i (?:just )?(?:sent|uploaded|attached|shared|gave you|posted)", "my (?:photo|picture|image|pic)",
    r"que je t'ai (?:envoyée?|donnée?)", "que te (?:envié|mandé)", r"das ich (?:geschickt|hochgeladen)",
    r"मैंने (?:भेजी|भेजा)",
))
REFERENCE = rx(r"^(?:" + words(
    "it", "that", "this", "these", "those", "this one", "that one", "it again", "that again", "again",
    "another one", "one more", "another",
    "the same", "the result", "the results", "the translation", "the caption", "the description",
    "the answer", "your answer", "the transcript", "the transcription", "the output", "the above",
    r"the (?:last|previous) (?:one|answer|reply|message|result|text|sentence)",
    r"your (?:last |previous )?(?:reply|answer|message|response)", "all of it", "the whole thing",
    r"what you (?:just )?(?:said|wrote|told me|translated|read|found)",
    "le", "la", "les", "ça", "cela", "ceci", "la traduction", "le résultat", "la réponse",
    r"ce que tu (?:as dit|viens de dire)", "lo", "eso", "esto", "ello", "la traducción", "el resultado",
    "la respuesta", "lo que dijiste", "es", "das", "dies", "dieses", "die übersetzung", "das ergebnis",
    "die antwort", "was du gesagt hast", "इसे", "यह", "ये", "इस", "उसे", "वह", "वो", "इसको", "उसको",
    "इसका", "उसका", "इसे फिर से",
) + r")$")
TEXT_REFERENCE = rx(r"^(?:" + words(
    "the text", "this text", "that text", "the words", "le texte", "ce texte", "el texto", "este texto",
    "den text", "der text", "diesen text", "टेक्स्ट", "पाठ",
) + r")$")
LITERAL_PREFIX = rx(r"^(?:the\s+)?(?:word|words|phrase|sentence|expression|term|text)\s*:?\s+(?=\S)|"
                    r"^(?:le mot|la phrase|l'expression|la palabra|la frase|das wort|den satz|der satz)\s+")
GENERIC_OBJECT = rx(r"^(?:any\s+|other\s+|some\s+)?(?:text|texts|images?|pictures?|photos?|audio|speech|voice|"
                    r"languages?|things|stuff|anything|something|text (?:in|from|on) (?:images|pictures|photos)|"
                    r"between languages|" + LANG + r"(?:\s+(?:and|or)\s+" + LANG + r")*|in\s+" + LANG + r")$")
CHAT_TOPIC = rx(r"^(?:" + words(
    "something", "anything", "something nice", "something funny", "something else", "a joke", "a story",
    "a poem", "a riddle", "a fact", "a fun fact", "a few words", "me a story", "me a joke",
    "quelque chose", "une blague", "algo", "un chiste", "etwas", "einen witz", "कुछ", "चुटकुला",
    "एक चुटकुला", "कहानी", "एक कहानी", "कविता",
) + r")")
META_QUESTION = rx(r"^(?:what (?:can|do) you do|what are you|who are you|how are you|what's up|help|"
                   r"what can i (?:do|ask)|how do(?:es)? (?:this|it|you) work)")

# -- aloud -------------------------------------------------------------------------------
ALOUD = rx(r",? ?" + words(
    "out loud", "aloud", "loudly", "out loud for me", "in your voice", "with your voice", "as speech",
    "as audio", "à voix haute", "à haute voix", "en voz alta", "laut", "ज़ोर से", "बोलकर", "बोल कर",
))
READ_ALOUD_TAIL = rx(r"\s+(?:out|back|to me|to us|for me|vor|mir vor)$")
READ_ALOUD_HEAD = rx(r"^(?:out|aloud|back|(?:it\s+)?to me|me|us|mir)(?!" + W + r")\s*")

# -- verbs and sentences -------------------------------------------------------------------
TO_LANGUAGE = (r"(?:(?:in)?to|into|in|en|vers|al|a|ins|in das|in die|auf|nach|zu)\s+"
               r"(?:the\s+|le\s+|l'|el\s+|idioma\s+|langue\s+|la langue\s+)?" + LANGUAGE +
               r"(?:\s+(?:language|langue|idioma|sprache))?")
FROM_LANGUAGE = (r"(?:from|de|du|del|desde|aus|von|vom)\s+(?:the\s+|l'|le\s+|el\s+|dem\s+)?"
                 r"(?:" + LANG + r")(?!" + W + r")(?:\s+(?:language|langue|idioma|sprache))?")

TRANSLATE_VERB = rx(r"^(?P<verb>" + words(
    "translate", "translate for me", "translation of", "give me the translation of", "tradu[cz]e",
    "traduis", "traduisez", "traduire", "traduction de", "traduis-moi", "traduisez-moi", "traduis-le",
    "traduis-la", "traduce", "tradúceme", "traduceme", "tradúcelo", "traducelo", "tradúcela", "traducela",
    "traducir", "traducirlo", "traducirla", "traduzca", "traducción de", "übersetze", "übersetz",
    "übersetzen", "uebersetze", "übersetzung von", "übersetze mir",
) + r")[\s:,-]*(?P<rest>.*)$")
TRANSLATE_LANGUAGE_FIRST = rx(r"^(?:" + FROM_LANGUAGE + r"\s+)?" + TO_LANGUAGE + r"\s*[:,–-]?\s*(?P<text>.*)$")
TRANSLATE_LANGUAGE_LAST = rx(r"^(?P<text>.*?)[\s,]*(?:" + FROM_LANGUAGE + r"\s+)?" + TO_LANGUAGE + r"$")
FROM_ONLY = rx(r"[\s,]*" + FROM_LANGUAGE + r"$")
HINDI_DO = r"(?:करो|करें|करे|कीजिए|करिए|करिये|कर दो|कर दीजिए|करना|कर सकते हो)"
HINDI_TRANSLATE = r"(?:अनुवाद|ट्रांसलेट|translate)\s*" + HINDI_DO + "?"
HINDI_TRANSLATE_DONE = r"(?:अनुवाद|ट्रांसलेट|translate)\s*" + HINDI_DO
HINDI_SAY = r"(?:कहते|बोलते|लिखते)\s+(?:हैं|है)"
TRANSLATE_QUESTIONS = patterns(
    r"^how\s+(?:do|would|can|could|should|does|will)\s+(?:you|i|we|one|someone|people|they)\s+(?:say|write|spell)"
    r"\s+(?P<text>.+?)\s+in\s+" + LANGUAGE + r"$",
    r"^how\s+is\s+(?P<text>.+?)\s+(?:said|written|pronounced)\s+in\s+" + LANGUAGE + r"$",
    r"^what(?:'s|\s+is)\s+the\s+(?:word|term|phrase|expression)\s+for\s+(?P<text>.+?)\s+in\s+" + LANGUAGE + r"$",
    r"^(?:what(?:'s|\s+is)|give\s+me|tell\s+me)\s+the\s+" + LANGUAGE +
    r"\s+(?:word\s+|term\s+|phrase\s+|translation\s+|version\s+|equivalent\s+)?(?:for|of)\s+(?P<text>.+)$",
    r"^what\s+does\s+(?P<text>.+?)\s+mean\s+in\s+" + LANGUAGE + r"$",
    r"^what(?:'s|\s+is|\s+are)\s+(?P<text>.+?)\s+in\s+" + LANGUAGE + r"$",
    r"^(?P<text>" + QUOTED + r")\s+in\s+" + LANGUAGE + r"$",
    r"^comment\s+(?:dit-on|on\s+dit|dire|dis-tu|dites-vous|je\s+dis|se\s+dit|écrit-on)\s+(?P<text>.+?)\s+en\s+"
    + LANGUAGE + r"$",
    r"^(?:que\s+veut\s+dire|c'est\s+quoi|qu'est-ce\s+que)\s+(?P<text>.+?)\s+en\s+" + LANGUAGE + r"$",
    r"^c[oó]mo\s+(?:se\s+dice|digo|dices|se\s+escribe|se\s+traduce)\s+(?P<text>.+?)\s+en\s+" + LANGUAGE + r"$",
    r"^qu[eé]\s+(?:significa|es)\s+(?P<text>.+?)\s+en\s+" + LANGUAGE + r"$",
    r"^wie\s+(?:sagt\s+man|sage\s+ich|heißt|heisst|schreibt\s+man)\s+(?P<text>.+?)\s+(?:auf|in|im)\s+"
    + LANGUAGE + r"$",
    r"^was\s+(?:heißt|heisst|bedeutet|ist)\s+(?P<text>.+?)\s+(?:auf|in|im)\s+" + LANGUAGE + r"$",
    r"^(?P<text>.+?)\s+(?:का|को|की)\s+" + LANGUAGE + r"\s+में\s+" + HINDI_TRANSLATE + r"$",
    r"^(?P<text>.+?)\s+" + LANGUAGE + r"\s+में\s+" + HINDI_TRANSLATE + r"$",
    r"^" + LANGUAGE + r"\s+में\s+" + HINDI_TRANSLATE + r"\s*[:-]?\s*(?P<text>.*)$",
    r"^(?P<text>.+?)\s+(?:को\s+)?" + LANGUAGE + r"\s+में\s+(?:बदलो|बदलें|बदल दो|बताओ)$",
    r"^(?P<text>.+?)\s+(?:को\s+)?" + LANGUAGE + r"\s+में\s+(?:क्या|कैसे)\s+" + HINDI_SAY + r"$",
    r"^" + LANGUAGE + r"\s+में\s+(?P<text>.+?)\s+(?:को\s+)?(?:क्या|कैसे)\s+" + HINDI_SAY + r"$",
    r"^(?P<text>.+?)\s+(?:का|को)\s+" + HINDI_TRANSLATE_DONE + r"$",
)
TRANSLATE_FOLLOW_UP = rx(r"^(?:and|now|what about|how about|et|y|und|और)?\s*(?:in|en|auf|im|ins)?\s*"
                         + LANGUAGE + r"(?:\s+में)?(?:\s+(?:too|please|now|instead|aussi|también|auch))?$")

SPEAK_VERB = rx(r"^(?P<verb>" + words(
    "say", "speak", "pronounce", "voice", "narrate", "announce", "utter", "repeat", "recite", "vocalize",
    "repeat after me", "say back", "speak out", "dis", "dites", "prononce", "prononcez", "répète",
    "répétez", "repete", "dis-le", "dis-la", "di", "dí", "dilo", "dila", "decir", "pronuncia",
    "pronúncialo", "pronuncialo", "decirlo", "repite", "repítelo", "repitelo", "sag", "sage", "sprich",
    "sprech", "wiederhole", "wiederhol", "sag es", "बोलो", "कहो", "बोलिए",
) + r")[\s:,-]*(?P<rest>.*)$")
SPEAK_PATTERNS = patterns(
    (r"^(?:convert|turn|change|make)\s+(?P<rest>.+?)\s+(?:in)?to\s+(?:speech|audio|voice|sound|spoken words|mp3|wav|"
     r"an?\s+audio(?:\s+(?:file|clip))?|a\s+voice\s+(?:note|message|recording))$"),
    r"^(?:text[\s-]to[\s-]speech|tts)\s*[:,-]?\s*(?P<rest>.*)$",
    r"^(?:let\s+me|i\s+want\s+to|i'd\s+like\s+to|can\s+i|i\s+wanna)\s+hear\s+(?P<rest>.+)$",
    r"^(?:convertis|transforme)\s+(?P<rest>.+?)\s+en\s+(?:audio|voix|parole)$",
    r"^(?:convierte|pasa)\s+(?P<rest>.+?)\s+(?:a|en)\s+(?:audio|voz)$",
    r"^(?:wandle|verwandle)\s+(?P<rest>.+?)\s+in\s+(?:sprache|audio)\s+um$",
    r"^(?P<rest>.+?)\s+(?:बोलो|बोलिए|बोलिये|बोलें|बोल दो|बोल के सुनाओ|बोलकर सुनाओ|कहो|कहिए|उच्चारण करो)$",
)
SPEAK_NOT = rx(r"^(?:to|with)\s+(?:me|us)(?!" + W + r")|^(?:slower|faster|louder|softer|more slowly|slowly|clearly|"
               r"quietly|up|what|the question|mir|moi|-moi)(?!" + W + r")")

READ_VERB = rx(r"^(?P<verb>" + words(
    "read", "lis", "lisez", "lire", "lis-moi", "lisez-moi", "lis-le", "lis-la", "lisez-le", "lee", "léeme",
    "leeme", "leer", "leerlo", "leerla", "léelo", "leelo", "léela", "leela", "léemelo", "leemelo", "lies",
    "lese", "lesen", "vorlesen",
) + r")[\s:,-]*(?P<rest>.*)$")
HINDI_READ = rx(r"^(?P<rest>.*?)\s*(?P<verb>पढ़ो|पढ़िए|पढ़िये|पढ़ें|पढ़ दो|पढ़कर सुनाओ|पढ़ के सुनाओ|पढ़ कर सुनाओ|"
                r"पढ़कर बताओ)$")

DRAW_VERBS = {
    "en": words("draw", "paint", "sketch", "illustrate", "doodle", "imagine", "visualize", "visualise",
                "depict", "render"),
    "fr": words("dessine", "dessinez", "dessiner", "peins", "peignez", "peindre", "esquisse", "illustre"),
    "es": words("dibuja", "dibújame", "dibujame", "dibújanos", "dibujar", "pinta", "píntame", "pintame",
                "pintar", "ilustra", "imagina", "bosqueja"),
    "de": words("zeichne", "zeichnen", "zeichnet", "male", "mal", "malen", "skizziere", "illustriere",
                "stell dir vor", "stelle dir vor"),
}
MAKE_VERBS = {
    "en": words("generate", "create", "make", "produce", "render", "design", "give me", "show me", "get me",
                "send me", "i want", "i'd like", "i would like", "i need", "can i have", "can i get",
                "can i see", "let me see", "i want to see", "i'd like to see", "i'd love"),
    "fr": words("crée", "créer", "créez", "génère", "générer", "générez", "fais", "faire", "faites",
                "montre", "donne", "je veux", "je voudrais"),
    "es": words("crea", "créame", "creame", "crear", "genera", "genérame", "generame", "generar", "haz",
                "hazme", "hacer", "muéstrame", "muestrame", "dame", "quiero", "me gustaría"),
    "de": words("erstelle", "erstell", "erstellen", "generiere", "generier", "erzeuge", "erzeug", "mach",
                "mache", "machen", "zeig", "zeige", "gib", "ich möchte", "ich will"),
}
PICTURE_NOUNS = {
    "en": r"(?:image|picture|pic|photo|photograph|drawing|painting|illustration|sketch|artwork|portrait|"
          r"cartoon|render|wallpaper|logo|icon|poster|watercolou?r|graphic)s?",
    "fr": r"(?:image|photo|dessin|illustration|peinture|tableau|portrait|croquis)s?",
    "es": r"(?:imagen|foto|fotografía|dibujo|ilustración|pintura|cuadro|retrato)(?:es|s)?",
    "de": r"(?:bild|foto|zeichnung|illustration|gemälde|grafik|porträt|skizze)(?:er|s)?",
}
GENERIC_PICTURE = rx(r"^(?:image|picture|pic|graphic|artwork|render|imagen|bild|grafik)(?:s|es|er)?$")
PICTURE_LINK = {
    "en": r"(?:of|showing|with|depicting|featuring|about|where|that shows|:)",
    "fr": r"(?:de|d'|du|des|avec|montrant|représentant|:)",
    "es": r"(?:de|del|con|que muestre|:)",
    "de": r"(?:von|vom|mit|eines|einer|einem|:)",
}
OBJECT_PRONOUN = r"(?:[-\s]+(?:me|us|moi|nous|mir|uns)(?!" + W + r"))?"
DRAW_PATTERNS = {
    lang: rx(r"^(?P<verb>" + verb + r")" + OBJECT_PRONOUN + r"[\s:,]*(?P<prompt>.*)$")
    for lang, verb in DRAW_VERBS.items()
}
ARTICLE = r"(?:an?|one|some|the|another|une?|la|le|des|una?|el|ein|eine|einen|das|die|\d+)"
MAKE_PATTERNS = {
    lang: rx(
        r"^(?:" + MAKE_VERBS[lang] + r")" + OBJECT_PRONOUN + r"\s+(?P<article>" + ARTICLE + r"\s+)?"
        r"(?P<adjectives>(?:[\w-]+\s+){0,3}?)(?P<noun>" + PICTURE_NOUNS[lang] + r")"
        r"(?:\s*(?P<link>" + PICTURE_LINK[lang] + r")\s*|\s+(?=\S))(?P<prompt>.*)$"
    )
    for lang in MAKE_VERBS
}
HINDI_PICTURE = r"(?:चित्र|तस्वीर|फोटो|छवि|इमेज|पेंटिंग|ड्राइंग|स्केच)"
HINDI_MAKE = (r"(?:बनाओ|बनाइए|बनाइये|बनाएं|बनाएँ|बना दो|बना दीजिए|बना दें|बनाना|बना सकते हो|बना सकती हो|"
              r"बना सकते हैं|खींचो|दिखाओ|बनाकर दिखाओ)")
HINDI_DRAW_PATTERNS = patterns(
    r"^(?P<prompt>.+?)\s+(?:का|की|के)\s+" + HINDI_PICTURE + r"\s+" + HINDI_MAKE + r"$",
    r"^(?P<prompt>.+?)\s+(?:ड्रा|पेंट|स्केच)\s+(?:करो|करें|कीजिए|कर दो|करिए)$",
    r"^" + HINDI_PICTURE + r"\s+" + HINDI_MAKE + r"\s*[:-]?\s+(?P<prompt>.+)$",
)
PROMPT_LEAD = rx(r"^(?:me|us|for me|moi|mir)\s+|^(?:an?|one)\s+(?:image|picture|pic)\s+of\s+")

OCR_VERB = rx(r"^(?:" + words(
    "extract", "ocr", "scan", "copy", "get", "pull", "grab", "type out", "write out", "give me", "list",
    "show me", "tell me", "find", "extrais", "extraire", "copie", "récupère", "extrae", "copia", "saca",
    "extrahiere", "kopiere", "hol",
) + r")[\s:,-]*(?P<rest>.*)$")
OCR_QUESTIONS = patterns(
    (r"^what\s+(?:does|do|did)\s+(?:the\s+|this\s+|that\s+)?(?:text|words|writing|sign|note|label|board|"
     r"whiteboard|menu|poster|receipt|screen|paper|page|card|letter|ticket)\w*(?:\s+\w+){0,3}\s+say"),
    r"^what(?:'s|\s+is|\s+was)\s+(?:written|printed|typed)",
    r"^what\s+text\s+(?:is|do\s+you\s+see|can\s+you\s+see)", r"^(?:what|which)\s+words\s+(?:are|do)",
    r"^is\s+there\s+(?:any\s+)?text", r"^what(?:'s|\s+is)\s+the\s+text",
    r"^(?:qu'est-ce\s+qui\s+est|qu'est-ce\s+qu'il\s+y\s+a\s+d')\s*écrit", r"^que\s+dit\s+(?:le|la|ce|cette)\s+",
    r"^qu[eé]\s+dice\s+(?:el|la|este|esta|ese|esa)\s+(?:texto|letrero|cartel|nota|recibo|etiqueta)",
    r"^qu[eé]\s+(?:est[aá]\s+escrito|pone)", r"^was\s+steht\s+(?:da|dort|hier|auf|drauf|geschrieben|im|in)",
    r"^was\s+sagt\s+(?:das|die|der)\s+(?:schild|text|zettel|tafel)", r"क्या\s+लिखा\s+(?:है|हुआ\s+है)",
    r"(?:टेक्स्ट|पाठ)\s+(?:निकालो|निकालें|निकाल दो)", r"लिखा\s+हुआ\s+(?:पढ़ो|बताओ)",
)
WHAT_DOES_IT_SAY = rx(
    r"^what\s+(?:does|did)\s+(?:it|this|that)\s+say$|^que\s+dit-il$|^qu[eé]\s+dice$|^was\s+steht\s+da$"
)

TRANSCRIBE_VERB = rx(r"^(?:" + words(
    "transcribe", "transcript of", "transcription of", "give me a transcript of", "give me the transcript of",
    "write down", "speech to text", "transcris", "transcrivez", "transcrire", "transcríbelo", "transcribelo",
    "transcribir", "transkribiere", "transkribier", "transkribieren", "schreib auf", "schreibe auf",
) + r")[\s:,-]*(?P<rest>.*)$")
TRANSCRIBE_QUESTIONS = patterns(
    (r"^what\s+(?:does|did|do)\s+(?:he|she|they|the\s+(?:speaker|person|man|woman|voice|guy|lady|recording|audio|"
     r"voice\s+note|voice\s+message|message|clip))\s+say"),
    r"^what(?:'s|\s+is|\s+are|\s+was)\s+(?:he|she|they|being|the\s+speaker)\s+(?:saying|said)",
    r"^what\s+(?:is|was)\s+said", r"^(?:convert|turn)\s+(?:this|it|the\s+\w+)\s+(?:in)?to\s+text",
    r"^qu'est-ce\s+qu'(?:il|elle|ils|on)\s+dit", r"^que\s+dit-(?:il|elle)",
    r"^qu[eé]\s+(?:dice|dijo)\s+(?:él|ella|la\s+grabación|el\s+audio)(?!\w)",
    r"^was\s+sagt\s+(?:er|sie|man)(?!\w)",
    r"^was\s+wird\s+gesagt", r"(?:ट्रांसक्राइब|प्रतिलेखन|लिप्यंतरण)\s*(?:करो|करें|कीजिए)?$",
    r"^(?:इसे|यह|इसको)\s+लिखो$", r"क्या\s+(?:कहा|बोला|कह\s+रहा|कह\s+रही|बोल\s+रहा|बोल\s+रही)",
)
TIMESTAMPS = rx(words(
    "subtitles?", "subtitle file", "srt", "vtt", "timestamps?", "time stamps?", "time-stamped", "timestamped",
    "timecodes?", "with times", r"captions for (?:the|this|that|my) (?:audio|recording|video|clip)",
    "sous-titres?", "horodatage", "subtítulos", "subtitulos", "marcas de tiempo", "untertitel",
    "zeitstempel", "उपशीर्षक", "सबटाइटल", "टाइमस्टैम्प",
))

CAPTION_VERB = rx(r"^(?P<verb>" + words(
    "describe", "caption", "summarize", "summarise", "explain", "tell me about", "talk about", "analyze",
    "analyse", "give me a description of", "give a description of", "write a caption for",
    "write a description of", "what can you tell me about", "look at", "décris", "décrivez", "décrire",
    "decris", "décris-moi", "décris-la", "décris-le", "décrivez-la", "décrivez-le", "descríbela",
    "descríbelo", "describela", "describelo", "describirla", "describirlo", "descríbeme", "describeme",
    "describir", "descríbemela", "beschreibe", "beschreib", "beschreiben", "beschreibe mir",
) + r")[\s:,-]*(?P<rest>.*)$")
CAPTION_QUESTIONS = patterns(
    (r"^what(?:'s|\s+is)\s+(?:this|that|it|going\s+on|happening)(?:\s+(?:here|there|about|in\s+(?:it|this|that|"
     r"there|here|the\s+\w+|this\s+\w+|that\s+\w+|my\s+\w+)|(?:an?\s+)?(?:image|picture|photo)\s+of))?$"),
    (r"^what(?:'s|\s+is|\s+are)\s+(?:in|on)\s+(?:it|this|that|there|here|(?:the|this|that|my|your)\s+(?:\w+\s+){0,2}"
     r"(?:image|picture|pic|photo|photograph|drawing|painting|screenshot|one)(?:\s+.*)?)$"),
    r"^what\s+(?:do|can)\s+you\s+see(?:\s+.*)?$",
    r"^what\s+(?:does|do)\s+(?:it|this|that|these|the\s+\w+|this\s+\w+)\s+show",
    r"^what\s+am\s+i\s+looking\s+at", r"^what\s+did\s+you\s+(?:just\s+)?(?:draw|make|paint|create|generate|sketch)",
    r"^what\s+is\s+(?:shown|depicted|pictured)", r"^what\s+are\s+(?:these|those)$", r"^what\s+is\s+it$",
    r"^qu'est-ce\s+que\s+(?:c'est|tu\s+vois|vous\s+voyez|(?:ça|cela|l'image|cette\s+image|la\s+photo)\s+montre)",
    r"^que\s+(?:vois-tu|voyez-vous|montre)", r"^qu'y\s+a-t-il\s+(?:sur|dans)",
    r"^c'est\s+quoi(?:\s+(?:ça|cette\s+\w+))?$",
    r"^qu'est-ce\s+qu'il\s+y\s+a\s+(?:sur|dans)", r"^qu[eé]\s+(?:es\s+(?:esto|eso)|ves|hay\s+en|muestra|se\s+ve)",
    r"^was\s+(?:ist\s+(?:das|hier|darauf|auf|in)|siehst\s+du|zeigt|ist\s+zu\s+sehen|sieht\s+man)",
    r"(?:इस|यह|ये|उस)\s+" + HINDI_PICTURE + r"\s+में\s+क्या\s+(?:है|हैं|दिख)", r"^(?:यह|ये)\s+क्या\s+(?:है|हैं)",
    r"(?:तुम्हें|आपको)\s+क्या\s+दिख", HINDI_PICTURE + r"\s+(?:के\s+बारे\s+में|का\s+विवरण)\s+(?:बताओ|बताइए|दो)",
)
HINDI_DESCRIBE = rx(r"^(?P<rest>.*?)\s*(?:का|की)?\s*(?:वर्णन|विवरण|व्याख्या)\s*(?:करो|करें|कीजिए|करिए|कर दो|दो)$")
COUNT = rx(r"^(?:count|compte|cuenta|zähle)\s+(?:the\s+|les\s+|los\s+|las\s+|die\s+)?(?P<things>.+)$")
IMAGE_MENTION = rx(  # "in it", "in the photo", "on this picture", "dans l'image", "तस्वीर में"
    r"(?:in|on|of|from)\s+(?:it|there|this|that|" + DETERMINER + r"\s+(?:\w+\s+){0,2}" + IMAGE_NOUN + r")(?!" + W + r")"
    r"|" + DETERMINER + r"\s+(?:\w+\s+)?" + IMAGE_NOUN + "|" + GENERATED_HINT.pattern
    + r"|(?:dans|sur|en|auf|im|in)\s+(?:l'|la\s+|le\s+|cette\s+|esta\s+|el\s+|dem\s+|diesem\s+)?" + IMAGE_NOUN
    + r"|" + HINDI_PICTURE + r"\s+में"
)
VISUAL_QUESTION = rx(  # questions that only make sense about a picture
    r"^(?:how\s+many|what\s+colou?r|which\s+colou?r|is\s+there|are\s+there|is\s+(?:it|he|she|this|that)|"
    r"are\s+(?:they|these|those)|who\s+is|who's|what\s+(?:is|are)\s+(?:he|she|they|it|the\s+\w+)\s+"
    r"(?:doing|holding|wearing|eating|made\s+of|looking\s+at)|where\s+is|what\s+kind\s+of|"
    r"what\s+breed|what\s+type\s+of|how\s+old|does\s+(?:it|he|she)|do\s+(?:they|you\s+see)|"
    r"combien|de\s+quelle\s+couleur|quelle\s+couleur|y\s+a-t-il|cu[aá]nt[oa]s|de\s+qu[eé]\s+color|"
    r"hay\s+|wie\s+viele|welche\s+farbe|gibt\s+es|कितने|कितनी|किस\s+रंग)"
)
QUESTION_OPENER = rx(r"^(?:" + words(
    "what", "what's", "whats", "who", "who's", "whom", "whose", "where", "where's", "when", "why", "how",
    "which", "is", "are", "isn't", "aren't", "was", "were", "does", "do", "did", "doesn't", "don't", "can",
    "could", "has", "have", "will", "would", "should", "qu'est-ce", "que", "qu'", "qui", "où", "quand",
    "pourquoi", "comment", "combien", "quel", "quelle", "quels", "quelles", "est-ce", "y a-t-il", "qué",
    "quién", "quien", "quiénes", "dónde", "donde", "cuándo", "cómo", "como", "cuánto", "cuántos", "cuánta",
    "cuántas", "cuál", "cuáles", "hay", "está", "están", "wer", "wo", "wann", "warum", "wie", "welche",
    "welcher", "welches", "gibt es", "ist", "sind", "hat",
) + r")|(?:क्या|कौन|कहाँ|कहां|कब|क्यों|कैसे|कैसा|कैसी|कितने|कितनी|कितना|किस|किसका|किसकी)(?!" + W + r")")

# German puts the verb last after a modal ("kannst du eine Katze zeichnen?"); French puts
# a pronoun before an infinitive ("peux-tu le traduire ?"). Both are rewritten verb-first.
VERB_LAST = rx(r"^(?P<rest>.+?)\s+(?P<verb>zeichnen|malen|skizzieren|übersetzen|sagen|aussprechen|vorlesen|lesen|"
               r"beschreiben|transkribieren)$")
VERB_FIRST = {"zeichnen": "zeichne", "malen": "male", "skizzieren": "skizziere", "übersetzen": "übersetze",
              "sagen": "sag", "aussprechen": "sprich", "vorlesen": "lies", "lesen": "lies",
              "beschreiben": "beschreibe", "transkribieren": "transkribiere"}
PRONOUN_INFINITIVE = rx(
    r"^(?:le|la|les|l')\s*(?P<verb>traduire|dire|lire|décrire|répéter|prononcer)(?!" + W + r")"
)
PRONOUN_VERB = {"traduire": "traduis-le", "dire": "dis-le", "lire": "lis-le", "décrire": "décris-la",
                "répéter": "répète", "prononcer": "dis-le"}

# Compiled forms of the noun lists, for "does the clause mention ...?"
MENTIONS_IMAGE = rx(IMAGE_NOUN)
MENTIONS_AUDIO = rx(AUDIO_NOUN)
MENTIONS_TEXT = rx(TEXT_NOUN + "|" + WRITTEN)
MENTIONS_DETERMINER = rx(DETERMINER)
