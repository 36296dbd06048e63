"""A conversation: its turns, its artifacts, and what the router needs to know about it.

A session lives in ``<root>/<session id>/``: the artifact store's files and index, and
``history.json`` with the turns, rewritten atomically after each one. Opening the same
folder again (after a restart, or ``polychat chat --session ID``) restores both.

One conversation has one owner of its state: :func:`open_session` gives every caller in
a process the same ``Session`` for an id, its turns run one at a time (a second one
waits for the first), and a lock on the folder (``.lock``) keeps other processes (a
second ``polychat chat --session ID``, the CLI beside the server) out while a turn
runs or a file is added; whoever takes the lock next reads what changed first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.artifacts import Artifact, ArtifactStore
from agent.config import Settings
from agent.errors import ToolError, TurnCancelled
from agent.files import FolderLock, file_signature, make_private_folder, write_atomically
from agent.router.plan import STEP_REF
from agent.router.rules import ConversationState
from agent.languages import find_language

log = logging.getLogger(__name__)

HISTORY_NAME = "history.json"
HISTORY_VERSION = 1
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""What a session id may be: letters, digits, ``-`` and ``_``, at most 64, not starting with a mark."""
_KINDS = ("image", "audio")


@dataclass
class TurnRecord:
    """One finished turn, as the session remembers it.

    Attributes:
        number: the turn's number (1-based, increasing within a session).
        user_text: what the user said (typed, or a voice note's transcript).
        attachments: ids of the artifacts the user attached.
        plan: the steps that ran, as ``Plan.to_json()`` gives them.
        reply_text: the assistant's reply.
        artifacts: ids of the artifacts the turn produced.
        outputs: the text outputs of the steps, in order.
        voice: the turn arrived as a voice note.
        cancelled: the turn was stopped; the rest is what the person saw and heard until then.
    """

    number: int
    user_text: str
    attachments: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    reply_text: str = ""
    artifacts: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    voice: bool = False
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> TurnRecord | None:
        """A record read back from ``history.json``, or None if the entry is malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("number"), int):
            return None

        def strings(key: str) -> list[str]:
            value = data.get(key)
            return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []

        plan = data.get("plan")
        return cls(
            number=data["number"],
            user_text=data.get("user_text") if isinstance(data.get("user_text"), str) else "",
            attachments=strings("attachments"),
            plan=[s for s in plan if isinstance(s, dict)] if isinstance(plan, list) else [],
            reply_text=data.get("reply_text") if isinstance(data.get("reply_text"), str) else "",
            artifacts=strings("artifacts"),
            outputs=strings("outputs"),
            voice=data.get("voice") is True,
            cancelled=data.get("cancelled") is True,
        )


def is_session_id(text: str) -> bool:
    """Whether ``text`` is a valid session id (the one rule every face uses)."""
    return bool(SESSION_ID.match(text))


def open_session(
    root: Path | str, settings: Settings, session_id: str | None = None, *, create: bool = False
) -> Session:
    """A new session in ``root``, or the saved one ``session_id`` (the one way faces open sessions).

    Args:
        root: the folder of this face's (and this person's) sessions.
        settings: the settings in force.
        session_id: the session to continue; None starts a new one.
        create: start ``session_id`` if it does not exist yet (the browser names its
            conversations itself); otherwise an unknown id is an error.

    Raises:
        ToolError: ``session_id`` is not valid or there is no such saved session.
    """
    if session_id and not is_session_id(session_id):
        raise ToolError(f"The session id {session_id[:70]!r} is not valid; use letters, digits, '-' and '_' only.")
    with _open_lock:
        if session_id:
            key = (Path(root) / session_id).absolute()
            existing = _open_sessions.get(key)
            if existing is not None:
                return existing
            if not create and not key.is_dir():
                raise ToolError(f"There is no session {session_id[:70]!r}; leave it out to start a new one.")
        session = Session(root, settings, session_id or None)
        _open_sessions[session.folder.absolute()] = session
        return session


_open_sessions: weakref.WeakValueDictionary[Path, Session] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


def new_session_id() -> str:
    """A fresh session id: the start time, then random letters (sortable, unguessable)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(4)


class Session:
    """One conversation: turns, artifacts, and the state the router reads.

    Args:
        root: the folder that holds all sessions.
        settings: the settings in force (upload limits, history window).
        session_id: reopen this session; None starts a new one.

    Raises:
        ToolError: ``session_id`` is not a valid id.
    """

    def __init__(self, root: Path | str, settings: Settings, session_id: str | None = None) -> None:
        session_id = session_id if session_id is not None else new_session_id()
        if not is_session_id(session_id):
            raise ToolError(
                f"The session id {session_id[:70]!r} is not valid; use letters, digits, '-' and '_' only."
            )
        self.id = session_id
        self.settings = settings
        self.folder = Path(root) / session_id
        self._lock = threading.RLock()  # this process's view of the state
        self._turn_lock = threading.Lock()  # one turn at a time
        self._disk = FolderLock(self.folder)  # other processes
        self.artifacts = ArtifactStore(self.folder, settings, guard=self._exclusive)
        self.turns: list[TurnRecord] = []
        self._cleared_turn = 0  # turns up to this number were reset away
        self._cleared_artifacts: dict[str, int] = dict.fromkeys(_KINDS, 0)  # highest number forgotten per kind
        self._history_seen: tuple[int, int, int] | None = None
        self._language: str | None = None  # the language the person speaks (ISO code), once known
        self._load()

    def __repr__(self) -> str:
        return f"Session({self.id!r}, {len(self.turns)} turns, {len(self.artifacts)} artifacts)"

    # -- who may change it ---------------------------------------------------------------
    @contextlib.contextmanager
    def turn(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Hold the conversation for one turn: other turns, here or in another process, wait.

        Args:
            cancel: stop waiting when it is set (the person gave up before their turn began).

        Raises:
            TurnCancelled: ``cancel`` was set while waiting.
        """
        while not self._turn_lock.acquire(timeout=0.1):
            if cancel is not None and cancel.is_set():
                raise TurnCancelled()
        try:
            taken = self._disk.acquire(cancel)
            try:
                if taken:
                    self._refresh()
                yield
            finally:
                self._disk.release()
        finally:
            self._turn_lock.release()

    @property
    def busy(self) -> bool:
        """Whether a turn of this conversation is running in this process."""
        return self._turn_lock.locked()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the state briefly against other threads and processes (adding a file, saving)."""
        with self._lock:
            taken = self._disk.acquire()
            try:
                if taken:
                    self._refresh()
                yield
            finally:
                self._disk.release()

    def _refresh(self) -> None:
        """Read back what another process wrote since this one last looked.

        Called when this process has just taken the folder's lock, so nobody is writing:
        a temporary file still there was left by a writer that died (``kill -9``, power
        loss) before renaming it into place, and is removed.
        """
        with self._lock:
            for leftover in self.folder.glob(".tmp-*.part") if self.folder.is_dir() else ():
                with contextlib.suppress(OSError):
                    leftover.unlink()
            self.artifacts.refresh()
            if file_signature(self.history_path) != self._history_seen:
                self.turns, self._cleared_turn = [], 0
                self._cleared_artifacts = dict.fromkeys(_KINDS, 0)
                self._load()

    # -- turns ------------------------------------------------------------------------
    def new_turn_number(self) -> int:
        """The number the next turn will have (the same until that turn is recorded)."""
        with self._lock:
            last = self.turns[-1].number if self.turns else 0
            return max(last, self._cleared_turn) + 1

    def attach(self, source: Path | str | bytes, *, name: str | None = None, kind: str | None = None) -> Artifact:
        """Add a file the person sent (a path or its bytes) to this conversation's artifacts.

        The one way every face attaches uploads: the same checks (type sniffed from the
        bytes, size and length limits) and the origin ``uploaded`` in the coming turn.

        Raises:
            MediaError: the file is missing, empty, corrupt, too big or of an unsupported type.
        """
        turn = self.new_turn_number()
        if isinstance(source, bytes):
            return self.artifacts.add_bytes(source, kind=kind, origin="uploaded", turn=turn, name=name)
        return self.artifacts.add_file(source, kind=kind, origin="uploaded", turn=turn, name=name or Path(source).name)

    def record(self, turn: TurnRecord) -> None:
        """Add a finished turn and save the history."""
        with self._exclusive():
            self.turns.append(turn)
            self._save()

    def interrupted(self, number: int, heard: str) -> bool:
        """The person cut turn ``number``'s reply off: keep only what they heard, marked cancelled.

        A spoken reply is written in full before it is played; when the person speaks over
        it, the history should hold the words that reached them, not the ones they stopped.

        Returns:
            Whether the turn was found (a conversation reset since then has forgotten it).
        """
        with self._exclusive():
            for index, turn in enumerate(self.turns):
                if turn.number == number:
                    self.turns[index] = replace(turn, reply_text=heard, cancelled=True)
                    self._save()
                    return True
        return False

    def withdraw(self, number: int, artifacts: list[str] | None = None) -> list[str]:
        """Take turn ``number`` back as if it never happened: its record and its files.

        A spoken turn may be answered while the person only paused; when they go on, the
        answer started on their half sentence is void. The turn's record (if it was
        recorded) and every artifact of that turn (the voice note, what its tools made)
        are removed; the utterance is then answered whole as that turn.

        Args:
            number: the turn.
            artifacts: the ids of its files, when known (default: every artifact of turn
                ``number``, which a voice note attached for the next turn may share while
                this one had not been recorded yet).

        Returns:
            The ids of the artifacts removed.
        """
        with self._exclusive():
            kept = [turn for turn in self.turns if turn.number != number]
            if len(kept) != len(self.turns):
                self.turns = kept
                self._save()
            if artifacts is None:
                artifacts = [a.id for a in self.artifacts.all() if a.turn == number]
            return self.artifacts.remove(artifacts)

    def history(self, limit: int | None = None) -> list[TurnRecord]:
        """The newest turns, oldest first: at most ``limit`` (default ``settings.history_turns``)."""
        count = self.settings.history_turns if limit is None else limit
        with self._lock:
            return list(self.turns[-count:]) if count > 0 else []

    def last_text_output(self) -> str | None:
        """The newest text the conversation produced: what "that", "it" or "the text" means.

        That is the last tool output of the newest turn that has one (a transcript, OCR
        text, a caption, a translation), else the words it spoke, else a chat reply.
        The user's own words (a voice note's transcript) do not count.
        """
        with self._lock:
            for turn in reversed(self.turns):
                said = turn.user_text.strip()
                outputs = [o for o in turn.outputs if o.strip() and o.strip() != said]
                if outputs:
                    return outputs[-1]
                spoken = [
                    step["args"]["text"]
                    for step in turn.plan
                    if step.get("tool") == "speak_text"
                    and isinstance(step.get("args"), dict)
                    and isinstance(step["args"].get("text"), str)
                    and not STEP_REF.match(step["args"]["text"])
                ]
                if spoken:
                    return spoken[-1]
                if not turn.plan and turn.reply_text.strip():
                    return turn.reply_text
        return None

    def reset(self) -> None:
        """Start the conversation over: forget the turns, and the media as far as "it" goes.

        The artifact files stay (their ids still work when named), but "the picture" and
        "that" no longer point at anything from before the reset.
        """
        with self._exclusive():
            self._cleared_turn = max(
                [self._cleared_turn, *(t.number for t in self.turns), *(a.turn for a in self.artifacts.all())]
            )
            for artifact in self.artifacts.all():
                number = int(artifact.id.rsplit("-", 1)[1])
                self._cleared_artifacts[artifact.kind] = max(self._cleared_artifacts[artifact.kind], number)
            self.turns = []
            self._save()

    # -- the language spoken -------------------------------------------------------------
    @property
    def language(self) -> str | None:
        """The language the person speaks (an ISO code such as ``fr``), None until known.

        Voice turns pass it to Whisper as the language hint, which then skips language
        detection (that detection doubles the cost of every call). It is set by the first
        confident detection (:meth:`remember_language`) or by the person
        (:meth:`set_language`), kept in ``history.json`` and kept through :meth:`reset`:
        a new conversation is still in the person's language.
        """
        with self._lock:
            return self._language

    @language.setter
    def language(self, value: str | None) -> None:
        self.set_language(value)

    def set_language(self, value: str | None) -> None:
        """Set the spoken language by name or code ('French', 'fr'); None, '' or 'auto' detect it again.

        Raises:
            ToolError: the language is unknown (the sentence says how to name one).
        """
        from tools.transcribe import resolve_hint

        code = resolve_hint(value)
        with self._exclusive():
            self._language = code
            self._save()

    def remember_language(self, code: str) -> None:
        """Remember a detected language, unless one is known already (the person's choice wins)."""
        with self._exclusive():
            if self._language is None:
                self._language = code
                self._save()

    # -- what the router reads -----------------------------------------------------------
    def state(self) -> ConversationState:
        """What the conversation holds now, for ``agent.router.rules.route``."""
        with self._lock:
            last_turn = self.turns[-1].number if self.turns else self._cleared_turn
            images = self._live("image")
            audios = self._live("audio")
            latest_image = images[-1] if images else None
            latest_audio = audios[-1] if audios else None
            generated = [a for a in images if a.origin == "generated"]
            uploaded = [a for a in images if a.origin == "uploaded"]
            target, source = self._last_translation()
            prompt = self._last_literal_arg("generate_image", "prompt")

            def recent(artifact: Artifact | None) -> bool:
                return artifact is not None and artifact.turn > 0 and artifact.turn >= last_turn

            return ConversationState(
                latest_image=latest_image.id if latest_image else None,
                latest_image_generated=bool(latest_image and latest_image.origin == "generated"),
                latest_generated_image=generated[-1].id if generated else None,
                latest_uploaded_image=uploaded[-1].id if uploaded else None,
                latest_image_recent=recent(latest_image),
                latest_audio=latest_audio.id if latest_audio else None,
                latest_audio_recent=recent(latest_audio),
                last_text_output=self.last_text_output(),
                last_target_language=target,
                last_translation_source=source,
                last_image_prompt=prompt,
                known_artifacts=frozenset(a.id for a in self.artifacts.all()),
            )

    def _live(self, kind: str) -> list[Artifact]:
        """Artifacts of a kind added since the last reset, oldest first."""
        found = [
            a for a in self.artifacts.all()
            if a.kind == kind and int(a.id.rsplit("-", 1)[1]) > self._cleared_artifacts[kind]
        ]
        return sorted(found, key=lambda a: int(a.id.rsplit("-", 1)[1]))

    def _last_literal_arg(self, tool: str, name: str) -> str | None:
        """The newest argument ``name`` of a ``tool`` step, if it was words rather than a step reference."""
        for turn in reversed(self.turns):
            for step in reversed(turn.plan):
                args = step.get("args") if isinstance(step.get("args"), dict) else {}
                if step.get("tool") == tool:
                    value = args.get(name)
                    return value if isinstance(value, str) and value.strip() and not STEP_REF.match(value) else None
        return None

    def _last_translation(self) -> tuple[str | None, str | None]:
        """The target language and (when given as words) the source text of the newest translation."""
        for turn in reversed(self.turns):
            for step in reversed(turn.plan):
                args = step.get("args") if isinstance(step.get("args"), dict) else {}
                if step.get("tool") == "translate_speech":
                    return "en", None
                if step.get("tool") != "translate_text":
                    continue
                target = args.get("target_language")
                code = find_language(target) if isinstance(target, str) else None
                text = args.get("text")
                source = text if isinstance(text, str) and text.strip() and not STEP_REF.match(text) else None
                return code, source
        return None, None

    # -- the file ---------------------------------------------------------------------
    @property
    def history_path(self) -> Path:
        return self.folder / HISTORY_NAME

    def _save(self) -> None:
        data = {
            "version": HISTORY_VERSION,
            "id": self.id,
            "cleared_turn": self._cleared_turn,
            "cleared_artifacts": self._cleared_artifacts,
            "language": self._language,
            "turns": [t.to_json() for t in self.turns],
        }
        make_private_folder(self.folder)
        write_atomically(self.history_path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
        self._history_seen = file_signature(self.history_path)

    def _load(self) -> None:
        path = self.history_path
        self._history_seen = file_signature(path)
        if not path.is_file() or path.is_symlink():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            problem = None if isinstance(data, dict) else "not a JSON object"
        except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: bad JSON
            data, problem = None, str(e)
        if problem or not isinstance(data, dict):
            kept = path.with_name(f"{HISTORY_NAME}.unreadable-{int(time.time())}")
            log.warning("Session %s: %s is unreadable (%s); starting a new history, the old file is %s.",
                        self.id, path.name, problem, kept.name)
            with contextlib.suppress(OSError):
                path.replace(kept)
            return
        turns = data.get("turns")
        self.turns = [t for t in map(TurnRecord.from_json, turns if isinstance(turns, list) else []) if t is not None]
        language = data.get("language")  # absent in files written before it was remembered
        self._language = language if isinstance(language, str) and language.strip() else None
        if isinstance(data.get("cleared_turn"), int):
            self._cleared_turn = data["cleared_turn"]
        cleared = data.get("cleared_artifacts")
        if isinstance(cleared, dict):
            for kind in _KINDS:
                if isinstance(cleared.get(kind), int):
                    self._cleared_artifacts[kind] = cleared[kind]
