"""The load and fault tier: a real tiny-profile server under 8 conversations at once, then ``kill -9``.

One ``polychat serve`` runs in a subprocess with its own data folder. After a warm-up
conversation (every model built and loaded), 8 conversations make 5 mixed turns each at
once over the HTTP API (``bench.load``: chat, upload + describe, draw, follow-up), every
answer checked. Then a drawing is started as a stream, the server is killed with
SIGKILL once the diffusion is under way, and restarted on the same folder: what was
answered is on disk, every file in place is whole, and the conversations go on. Last,
four conversations upload pictures as fast as they are answered and the server is
killed in the middle of that burst of writes: every answered upload is kept byte for
byte, and ids go on after the restart.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bench.load import KINDS, LoadResult, run_load, sample_png, warm_up

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_helpers import Server  # noqa: E402

pytestmark = pytest.mark.slow

CONVERSATIONS = 8
TURNS = 5
MEMORY_LIMIT = 1.2  # resident memory after the load / before it
KILL_GUARD = 300.0  # seconds to wait for the streamed drawing to get under way (a failure guard)
TEMP_FILE = re.compile(r"^\.tmp-.*\.part$")


@dataclass
class Loaded:
    server: Server
    result: LoadResult
    warm: LoadResult
    rss_before: float
    rss_after: float

    @property
    def root(self) -> Path:
        return self.server.data_dir / "api" / "local"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    server = Server(tmp_path_factory.mktemp("load-data"))
    server.start()
    try:
        warm = warm_up(server.url)
        assert not warm.problems, f"The warm-up went wrong:\n{warm.describe_problems()}\n{server.log_tail()}"
        before = server.rss_mb()
        result = run_load(server.url, CONVERSATIONS, TURNS)
        after = server.rss_mb()
        yield Loaded(server, result, warm, before, after)
    finally:
        server.stop()


def history(folder: Path) -> list[dict]:
    return json.loads((folder / "history.json").read_text(encoding="utf-8"))["turns"]


def artifacts(folder: Path) -> list[dict]:
    return json.loads((folder / "artifacts.json").read_text(encoding="utf-8"))["artifacts"]


def test_eight_conversations_at_once_are_all_answered_right(loaded: Loaded) -> None:
    result = loaded.result
    assert len(result.turns) == CONVERSATIONS * TURNS, result.describe_problems()
    assert not result.problems, f"{len(result.problems)} turns went wrong:\n{result.describe_problems()}\n" \
                                f"{loaded.server.log_tail()}"
    assert all(t.status == 200 for t in result.turns)
    assert {kind for kind in KINDS} == {t.kind for t in result.turns}
    sessions = result.sessions()
    assert len(set(sessions.values())) == CONVERSATIONS  # one conversation each, none mixed up
    for index, session in sessions.items():
        sent = [t.text for t in sorted(result.turns, key=lambda t: t.number) if t.conversation == index]
        assert [turn["user_text"] for turn in history(loaded.root / session)] == sent


def test_memory_after_the_load_is_within_limits_of_before(loaded: Loaded) -> None:
    print(f"server memory {loaded.rss_before:.0f} MB before the load, {loaded.rss_after:.0f} MB after")
    assert loaded.rss_after <= MEMORY_LIMIT * loaded.rss_before, (
        f"The server's memory grew from {loaded.rss_before:.0f} MB to {loaded.rss_after:.0f} MB under "
        f"{CONVERSATIONS}×{TURNS} turns, more than {MEMORY_LIMIT}×."
    )


def start_streamed_drawing(url: str, session: str, under_way: threading.Event, seen: list[str]) -> threading.Thread:
    """Draw in ``session`` as a stream; ``under_way`` is set once the diffusion reports progress (or the turn ends)."""

    def draw() -> None:
        try:
            with httpx.Client(base_url=url, timeout=KILL_GUARD, trust_env=False) as client:
                with client.stream("POST", "/api/turn", data={"text": "draw a lighthouse", "session": session,
                                                               "stream": "true"}) as response:
                    for line in response.iter_lines():
                        if line.startswith("event: "):
                            seen.append(line.removeprefix("event: "))
                            if seen[-1] in ("step.progress", "done", "error"):
                                under_way.set()
        except httpx.HTTPError:
            pass  # the server was killed under it
        finally:
            under_way.set()

    thread = threading.Thread(target=draw, name="streamed-drawing", daemon=True)
    thread.start()
    return thread


def send_quietly(url: str, session: str, text: str) -> None:
    """One plain turn whose answer nobody waits for (the server may be killed under it)."""
    try:
        with httpx.Client(base_url=url, timeout=KILL_GUARD, trust_env=False) as client:
            client.post("/api/turn", data={"text": text, "session": session})
    except httpx.HTTPError:
        pass


def test_kill_9_mid_turn_loses_nothing_answered_and_the_conversations_go_on(loaded: Loaded) -> None:
    server, result = loaded.server, loaded.result
    sessions = result.sessions()
    answered = {sessions[i]: result.answered(i) for i in sessions}
    victim, chatting = sessions[0], sessions[2]
    under_way = threading.Event()
    seen: list[str] = []
    chat = threading.Thread(target=send_quietly, args=(server.url, chatting, "hello, how are you?"), daemon=True)
    chat.start()
    drawing = start_streamed_drawing(server.url, victim, under_way, seen)
    assert under_way.wait(KILL_GUARD), "The streamed drawing never got under way."
    assert "step.progress" in seen, f"The drawing ended before it could be interrupted (events: {seen})."
    server.kill()
    print(f"killed after the drawing's events {seen}")
    drawing.join(30)
    chat.join(30)

    # What is on disk after the kill, before anything opens it again.
    leftovers = []
    for folder in sorted(p for p in loaded.root.iterdir() if p.is_dir()):
        turns = history(folder)  # parses: no half-written history
        count = answered.get(folder.name, 0)
        if folder.name in (victim, chatting):  # killed mid-turn: that turn is whole or absent
            assert len(turns) in (count, count + 1), f"{folder.name}: {len(turns)} turns, {count} were answered"
            print(f"killed mid-turn: {folder.name} keeps {len(turns)} turns, {count} were answered")
        elif folder.name in answered:
            assert len(turns) == count, f"{folder.name}: {len(turns)} turns in history, {count} were answered"
        assert [t["number"] for t in turns] == sorted({t["number"] for t in turns})
        listed = artifacts(folder)
        for artifact in listed:
            with Image.open(folder / artifact["file"]) as picture:  # in place and whole
                picture.load()
        temporary = [p.name for p in folder.iterdir() if TEMP_FILE.match(p.name)]
        expected = {"history.json", "artifacts.json", ".lock", *(a["file"] for a in listed)}
        unexpected = sorted(p.name for p in folder.iterdir() if p.name not in expected and p.name not in temporary)
        assert not unexpected, f"{folder.name} holds files no record names: {unexpected}"
        leftovers += temporary
    if leftovers:
        print(f"Temporary files left by the kill (never in place of a real file): {leftovers}")

    server.start()
    with httpx.Client(base_url=server.url, timeout=KILL_GUARD, trust_env=False) as client:
        known = [a["id"] for a in artifacts(loaded.root / victim)]
        highest = max(int(i.removeprefix("image-")) for i in known if i.startswith("image-"))
        turns_before = history(loaded.root / victim)
        drawn = client.post("/api/turn", data={"text": "draw a blue kite", "session": victim})
        assert drawn.status_code == 200, drawn.text
        assert drawn.json()["session"] == victim
        (made,) = drawn.json()["artifacts"]
        assert made["id"] == f"image-{highest + 1}"  # ids go on from what was kept, none reused
        image = client.get(made["url"])
        assert image.status_code == 200
        with Image.open(io.BytesIO(image.content)) as picture:
            picture.load()
        turns_after = history(loaded.root / victim)
        assert [t["number"] for t in turns_after] == [t["number"] for t in turns_before] + [
            turns_before[-1]["number"] + 1]
        for session in sessions.values():  # every earlier file is still served, byte for byte
            for artifact in artifacts(loaded.root / session):
                fetched = client.get(f"/api/sessions/{session}/artifacts/{artifact['id']}")
                assert fetched.status_code == 200, fetched.text
                assert fetched.content == (loaded.root / session / artifact["file"]).read_bytes()
        other = sessions[1]  # odd: its last picture is the one it sent to be described
        follow_up = client.post("/api/turn", data={"text": "what is in the picture?", "session": other})
        assert follow_up.status_code == 200, follow_up.text
        assert [s["tool"] for s in follow_up.json()["plan"]] == ["caption_image"]
        assert len(history(loaded.root / other)) == answered[other] + 1


ORPHAN = re.compile(r"^(image|audio)-(\d+)\.\w+$")
BURST_ANSWERS = 8  # uploads answered across the burst before the kill


def test_kill_9_during_a_burst_of_uploads_leaves_every_answered_upload_intact(loaded: Loaded) -> None:
    server, result = loaded.server, loaded.result
    if server.process is None:
        server.start()  # an earlier test left it killed
    sessions = [result.sessions()[i] for i in (3, 4, 5, 6)]
    before = {session: len(history(loaded.root / session)) for session in sessions}
    answered: dict[str, list[tuple[str, bytes]]] = {session: [] for session in sessions}
    enough = threading.Event()
    lock = threading.Lock()
    refused: list[str] = []

    def upload_until_killed(number: int, session: str) -> None:
        with httpx.Client(base_url=server.url, timeout=KILL_GUARD, trust_env=False) as client:
            for turn in range(100):
                data = sample_png(10 + number, turn)
                try:
                    response = client.post("/api/turn", data={"text": "describe it", "session": session},
                                           files=[("files", (f"burst-{turn}.png", data, "image/png"))])
                except httpx.HTTPError:
                    return  # killed
                with lock:
                    if response.status_code != 200:
                        refused.append(f"{session}: HTTP {response.status_code}: {response.text[:300]}")
                        enough.set()
                        return
                    answered[session].append((response.json()["plan"][0]["args"]["image"], data))
                    if sum(map(len, answered.values())) >= BURST_ANSWERS:
                        enough.set()

    threads = [threading.Thread(target=upload_until_killed, args=(n, s), daemon=True) for n, s in enumerate(sessions)]
    for thread in threads:
        thread.start()
    assert enough.wait(KILL_GUARD), f"The burst of uploads was not answered:\n{server.log_tail()}"
    server.kill()
    for thread in threads:
        thread.join(30)
    assert not refused, f"An upload in the burst was refused: {refused}"

    orphans = []
    for session in sessions:
        folder = loaded.root / session
        turns = history(folder)
        count = before[session] + len(answered[session])
        assert len(turns) in (count, count + 1), f"{session}: {len(turns)} turns in history, {count} were answered"
        listed = {a["id"]: a for a in artifacts(folder)}
        for artifact_id, sent in answered[session]:  # each answered upload is kept, byte for byte
            assert (folder / listed[artifact_id]["file"]).read_bytes() == sent
        for artifact in listed.values():
            with Image.open(folder / artifact["file"]) as picture:
                picture.load()
        counters = json.loads((folder / "artifacts.json").read_text(encoding="utf-8"))["counters"]
        named = {"history.json", "artifacts.json", ".lock", *(a["file"] for a in listed.values())}
        for path in folder.iterdir():
            if path.name in named or TEMP_FILE.match(path.name):
                continue
            orphan = ORPHAN.match(path.name)
            # A file the kill caught between its write and its record: the next id of its kind
            # (never listed), which the next artifact of that kind replaces.
            assert orphan and int(orphan.group(2)) > counters[orphan.group(1)], f"{session}: stray {path.name}"
            orphans.append(f"{session}/{path.name}")
    if orphans:
        print(f"Files written but not recorded when the server was killed: {orphans}")

    server.start()
    with httpx.Client(base_url=server.url, timeout=KILL_GUARD, trust_env=False) as client:
        for number, session in enumerate(sessions):
            highest = max(int(a["id"].removeprefix("image-")) for a in artifacts(loaded.root / session))
            data = sample_png(20 + number, 0)
            response = client.post("/api/turn", data={"text": "describe it", "session": session},
                                   files=[("files", ("after.png", data, "image/png"))])
            assert response.status_code == 200, response.text
            image = response.json()["plan"][0]["args"]["image"]
            assert image == f"image-{highest + 1}"
            assert client.get(f"/api/sessions/{session}/artifacts/{image}").content == data
