"""From the user's words to intents: set quotations aside, cut the message into clauses,
and read what each clause asks for.

Only the user's own words come through here; text that tools produce (OCR, transcripts)
is never parsed, it travels as data in the plan.
"""

from __future__ import annotations

import re
import unicodedata

from agent.router import phrases
from agent.router.readers import Clause, Cues, Intent, Payload, read_clause, tidy

# -- quotations ---------------------------------------------------------------------------
_QUOTATION = re.compile(
    r'"(?P<a>[^"]+)"|“(?P<b>[^”]+)”|„(?P<c>[^“”]+)[“”]|«\s*(?P<d>[^»]+?)\s*»|‘(?P<e>[^’]+)’'
    r"|(?<![\w'])'(?P<f>[^']+)'(?![\w])"
)
_COLON_BODY = phrases.rx(
    r"^(?P<head>[^:\n]{0,80}?(?:translate|tradu\w*|übersetz\w*|say|dis|di|sag|speak|pronounce|read|lis|lee|lies|tts|"
    r"अनुवाद|बोलो)[^:\n]{0,40}):\s*(?P<body>\S[\s\S]*)$"
)
_INNER_APOSTROPHE = re.compile(r"(?<=\w)[’ʼ](?=\w)")
_SPACES = re.compile(r"[^\S\n]+")  # runs of spaces and tabs
_LINE_BREAKS = re.compile(r" ?\n[\s]*")


def protect_quotations(text: str) -> tuple[str, list[str]]:
    """Replace quoted passages (and what follows "translate ...:") with numbered placeholders.

    Outside the quotations, runs of spaces become one space (no pattern then has long
    runs of blanks to try).

    Returns:
        The text with placeholders, and the quoted passages in order.
    """
    text = _INNER_APOSTROPHE.sub("'", unicodedata.normalize("NFC", text))
    quotes: list[str] = []

    def keep(passage: str) -> str:
        quotes.append(passage.strip())
        return f"{phrases.QUOTE_OPEN}{len(quotes) - 1}{phrases.QUOTE_CLOSE}"

    tail = ""
    colon = _COLON_BODY.match(text.strip())
    if colon and not _QUOTATION.fullmatch(colon["body"].strip()):
        text, tail = colon["head"], ": " + keep(colon["body"])
    text = _QUOTATION.sub(lambda m: keep(next(g for g in m.groups() if g is not None)), text)
    text = _LINE_BREAKS.sub("\n", _SPACES.sub(" ", text + tail))
    return text.strip(), quotes


def _verb_first(clause: str) -> str:
    """"eine Katze zeichnen" -> "zeichne eine Katze"; "le traduire en anglais" -> "traduis-le en anglais"."""
    match = phrases.VERB_LAST.match(clause)
    if match:
        verb = match["verb"].lower()
        tail = " vor" if verb == "vorlesen" else " aus" if verb == "aussprechen" else ""
        return f"{phrases.VERB_FIRST[verb]} {match['rest']}{tail}"
    match = phrases.PRONOUN_INFINITIVE.match(clause)
    if match:
        return phrases.PRONOUN_VERB[match["verb"].lower()] + clause[match.end():]
    return clause


def parse_clause(text: str, quotes: list[str], cues: Cues, *, alone: bool) -> Intent:
    """Read one clause (quotations as placeholders) and say what it asks for.

    Args:
        text: the clause.
        quotes: the message's quoted passages (see :func:`protect_quotations`).
        cues: what the conversation holds.
        alone: the clause is the whole message (not one step of a chain).
    """
    stripped = text.strip()
    question = stripped.endswith("?") or stripped.startswith("¿")
    capability = False
    clause = phrases.START_PUNCTUATION.sub("", phrases.GREETING.sub("", stripped))
    while (match := phrases.LEADING_FILLERS.match(clause)) and match.group():
        capability |= bool(re.match(phrases.CAPABILITY, match.group(), re.IGNORECASE))
        clause = clause[match.end():]
    clause = _verb_first(tidy(clause))
    aloud = bool(phrases.ALOUD.search(clause))
    clause = phrases.ALOUD.sub("", clause).strip(" ,")
    if not clause:
        return Intent("speak", Payload("ref"), aloud=True) if aloud else Intent("chat")
    return read_clause(Clause(clause, quotes, cues, alone, question, capability and question, aloud))


# -- cutting a message into clauses -------------------------------------------------------
_CONNECTOR = phrases.words(
    "and then", "and also", "and after that", "after that", "afterwards", "then", "and", "also", "plus",
    "et ensuite", "et puis", "puis", "ensuite", "et", "y luego", "y después", "y despues", "luego", "después",
    "y", "und dann", "danach", "dann", "und", "और फिर", "फिर", "और", "तथा", "एवं",
)
_SOFT_BREAK = phrases.rx(r"\s*[,;]\s*(?:" + _CONNECTOR + r"\s+)?|\s+" + _CONNECTOR + r"\s+")
_HARD_BREAK = re.compile(r"(?<=[.!?।])\s+|\s*\n+\s*")
_SMALL_TALK = phrases.rx(
    r"^(?:hi|hello|hey|hey there|hi there|thanks|thank you|thx|cheers|ok|okay|please|bonjour|salut|merci|hola|"
    r"gracias|hallo|danke|नमस्ते|धन्यवाद|polychat)?[\s!.,]*$"
)


def split_clauses(text: str, quotes: list[str], cues: Cues) -> list[str]:
    """Cut a message (quotations as placeholders) into clauses that each ask for one thing.

    A piece after "and" / "then" / a comma starts a new clause only when it asks for
    something by itself ("draw a cat and say hello"); otherwise it stays with the
    clause before it ("draw a cat and a dog"). Sentences are never joined.
    """
    clauses: list[str] = []
    for sentence in _HARD_BREAK.split(text.strip()):
        if not sentence.strip():
            continue
        pieces: list[str] = []
        start = 0
        for match in _SOFT_BREAK.finditer(sentence):
            pieces.append(sentence[start : match.start()])
            pieces.append(sentence[match.start() : match.end()])
            start = match.end()
        pieces.append(sentence[start:])
        current = pieces[0]
        for index in range(1, len(pieces), 2):
            separator, piece = pieces[index], pieces[index + 1]
            if piece.strip() and current.strip() and parse_clause(piece, quotes, cues, alone=False).acts:
                clauses.append(current)
                current = piece
            else:
                current += separator + piece
        clauses.append(current)
    clauses = [c.strip() for c in clauses if c.strip()]
    meaningful = [c for c in clauses if not _SMALL_TALK.match(c)]
    return meaningful or clauses
