"""One conversation, one owner: one Session per id, turns in order, ids atomic, other processes kept out."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PIL import Image

from agent.config import Settings
from agent.errors import ToolError, TurnCancelled
from agent.files import FolderLock
from agent.turn.session import TurnRecord, open_session

ROOT = Path(__file__).resolve().parents[2]


def _png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (shade, 255 - shade, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_opener_of_an_id_shares_one_session(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = open_session(tmp_path / "s", settings)
    first.record(TurnRecord(number=1, user_text="hello"))
    again = open_session(tmp_path / "s", settings, first.id)
    browser = open_session(tmp_path / "s", settings, first.id, create=True)
    assert again is first and browser is first


def test_parallel_uploads_get_distinct_ids_and_keep_their_bytes(tmp_path):
    settings = Settings(data_dir=tmp_path)
    session = open_session(tmp_path / "s", settings, "office", create=True)
    sent = {shade: _png(shade) for shade in range(0, 240, 20)}
    added: dict[int, str] = {}
    start = threading.Barrier(len(sent))

    def upload(shade: int) -> None:
        start.wait()
        added[shade] = session.attach(sent[shade], name=f"{shade}.png").id

    threads = [threading.Thread(target=upload, args=(shade,)) for shade in sent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added.values(), key=lambda i: int(i.split("-")[1])) == [f"image-{n}" for n in range(1, 13)]
    reopened = open_session(tmp_path / "s", settings, "office")
    for shade, artifact_id in added.items():
        assert session.artifacts.get(artifact_id).path.read_bytes() == sent[shade]
    index = json.loads((session.folder / "artifacts.json").read_text())
    assert len(index["artifacts"]) == 12 and reopened is session


def test_a_second_turn_waits_for_the_first(tmp_path):
    session = open_session(tmp_path / "s", Settings(data_dir=tmp_path), "queue", create=True)
    order: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with session.turn():
            first_in.set()
            order.append("first starts")
            release.wait(10)
            order.append("first ends")

    def second() -> None:
        with session.turn():
            order.append("second starts")

    a = threading.Thread(target=first)
    a.start()
    first_in.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.3)
    assert b.is_alive() and session.busy  # queued behind the running turn
    release.set()
    a.join(10)
    b.join(10)
    assert order == ["first starts", "first ends", "second starts"]


def test_a_turn_given_up_while_waiting_never_begins(tmp_path):
    session = open_session(tmp_path / "s", Settings(data_dir=tmp_path), "gaveup", create=True)
    cancel = threading.Event()
    outcome: list[str] = []
    with session.turn():

        def wait() -> None:
            try:
                with session.turn(cancel):
                    outcome.append("ran")
            except TurnCancelled:
                outcome.append("cancelled")

        waiter = threading.Thread(target=wait)
        waiter.start()
        cancel.set()
        waiter.join(10)
    assert outcome == ["cancelled"]


_WRITER = textwrap.dedent(
    """
    import io, sys
    from pathlib import Path
    from PIL import Image
    from agent.config import Settings
    from agent.turn.session import TurnRecord, open_session

    root, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    session = open_session(root, Settings(data_dir=root), "shared", create=True)
    for n in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (n, 0, 0) if who == "a" else (0, n, 0)).save(buffer, format="PNG")
        with session.turn():
            number = session.new_turn_number()
            artifact = session.attach(buffer.getvalue(), name=f"{who}{n}.png")
            session.record(TurnRecord(number=number, user_text=f"{who}{n}", attachments=[artifact.id]))
    """
)


def test_two_processes_on_one_conversation_lose_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), who, "15"], env=env, cwd=ROOT)
        for who in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    session = open_session(tmp_path, Settings(data_dir=tmp_path), "shared")
    said = sorted(t.user_text for t in session.turns)
    assert said == sorted([f"a{n}" for n in range(15)] + [f"b{n}" for n in range(15)])
    assert [t.number for t in session.turns] == list(range(1, 31))
    ids = [a.id for a in session.artifacts.all()]
    assert len(set(ids)) == 30 == len(ids)
    for turn in session.turns:  # each turn's picture is the one its writer made
        who, n = turn.user_text[0], int(turn.user_text[1:])
        with Image.open(session.artifacts.get(turn.attachments[0]).path) as picture:
            assert picture.getpixel((0, 0)) == ((n, 0, 0) if who == "a" else (0, n, 0))


def test_another_process_waits_for_the_lock_and_sees_what_was_written(tmp_path):
    settings = Settings(data_dir=tmp_path)
    session = open_session(tmp_path, settings, "held", create=True)
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from agent.config import Settings
        from agent.turn.session import open_session
        root = Path(sys.argv[1])
        session = open_session(root, Settings(data_dir=root), "held")
        with session.turn():
            print([t.user_text for t in session.turns], session.new_turn_number())
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with session.turn():
        session.record(TurnRecord(number=1, user_text="written while the other waited"))
        other = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(timeout=2)  # it cannot take the conversation while this turn holds it
    out, _ = other.communicate(timeout=60)
    assert out.strip() == "['written while the other waited'] 2"


def test_the_lock_dies_with_its_process(tmp_path):
    script = "import sys, time; from agent.files import FolderLock; FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    lock = FolderLock(tmp_path)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(TurnCancelled):
        lock.acquire(cancel)
    holder.kill()  # kill -9: the operating system lets go of its lock
    holder.wait()
    assert lock.acquire() is True and lock.held
    lock.release()


def test_conversations_are_private_and_links_are_not_followed(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    root = tmp_path / "data" / "sessions"
    session = open_session(root, settings, "mine", create=True)
    session.attach(_png(10), name="a.png")
    session.record(TurnRecord(number=1, user_text="hello"))
    for folder in (tmp_path / "data", root, session.folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for file in session.folder.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolError, match="is a link"):
        open_session(root, settings, "linked")
    assert list(outside.iterdir()) == []


def test_a_refused_upload_leaves_no_folder(tmp_path):
    from agent.errors import MediaError

    session = open_session(tmp_path / "s", Settings(data_dir=tmp_path), "fresh", create=True)
    with pytest.raises(MediaError):
        session.attach(b"not a picture at all", name="x.png")
    assert not (tmp_path / "s").exists()


def test_a_writer_killed_mid_write_leaves_nothing_in_place(tmp_path):
    settings = Settings(data_dir=tmp_path)
    session = open_session(tmp_path, settings, "killed", create=True)
    session.record(TurnRecord(number=1, user_text="kept"))
    half = session.folder / ".tmp-abc123.part"  # what a kill -9 between write and rename leaves
    half.write_bytes(b'{"version": 1, "turns": [{"numb')
    with session.turn():
        assert [t.user_text for t in session.turns] == ["kept"]
    assert not half.exists()
    assert sorted(p.name for p in session.folder.iterdir()) == [".lock", "history.json"]
