"""The terminal under hostile input and a hostile machine: limits, bad bytes, signals, full disks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]
EXIT_BOUND = 5  # seconds a stopped process may take to exit (a failure guard, not a speed claim)


def _polychat(args: list, data_dir: Path, stdin: bytes | None = None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], input=stdin, capture_output=True,
                          env=cli_env(data_dir, **extra), cwd=ROOT, timeout=600)


def _one_sentence(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("polychat: ")]
    assert len(lines) == 1, text
    return lines[0].removeprefix("polychat: ")


def test_an_oversized_message_is_one_sentence_before_any_work(tmp_path):
    data = tmp_path / "data"
    result = _polychat(["ask", "x" * 30_000], data, POLYCHAT_MAX_MESSAGE_CHARS="1000")
    assert result.returncode == 1
    sentence = _one_sentence(result.stderr)
    assert sentence.startswith("The message is 30,000 characters long; the limit is 1,000")
    assert "POLYCHAT_MAX_MESSAGE_CHARS" in sentence
    assert not (data / "sessions").exists()  # refused before a session was opened


def test_chat_refuses_an_oversized_line_and_goes_on(tmp_path):
    result = _polychat(["chat"], tmp_path / "data", stdin=b"y" * 3_000 + b"\n/quit\n",
                       POLYCHAT_MAX_MESSAGE_CHARS="1000")
    assert result.returncode == 0, result.stderr
    assert b"The message is 3,000 characters long; the limit is 1,000" in result.stdout


def test_files_over_the_per_message_limit_are_one_sentence(tmp_path):
    files = []
    for name in ("a.wav", "b.wav"):
        path = tmp_path / name
        path.write_bytes(b"RIFF" + bytes(700_000))
        files += ["--audio", str(path)]
    result = _polychat(["ask", "what is said", *files], tmp_path / "data", POLYCHAT_MAX_TURN_UPLOAD_MB="1")
    assert result.returncode == 1
    assert "per message" in _one_sentence(result.stderr)


def test_bytes_that_are_not_utf8_are_one_sentence_in_ask_and_chat(tmp_path):
    data = tmp_path / "data"
    asked = _polychat(["ask", b"caf\xe9 au lait"], data)
    assert asked.returncode == 1
    assert _one_sentence(asked.stderr) == (
        "The message is not valid UTF-8 text (byte 0xe9 at character 4); send it as UTF-8."
    )

    chatted = _polychat(["chat"], data, stdin=b"caf\xe9 \xff\n/voice off\n/quit\n")
    assert chatted.returncode == 0, chatted.stderr
    assert b"Traceback" not in chatted.stderr
    out = chatted.stdout.decode()
    assert "That line is not valid UTF-8 text (byte 0xe9 at character 4); send it as UTF-8." in out
    assert "Spoken replies off." in out  # the chat went on


def test_sigterm_during_a_turn_exits_within_seconds_and_keeps_the_history(tmp_path):
    data = tmp_path / "data"
    warm = _polychat(["ask", "hello", "--json"], data)  # builds the tiny models first, leaves one saved turn
    assert warm.returncode in (0, 1), warm.stderr
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", "ask", "draw a lighthouse at night", "--stream"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(data), cwd=ROOT)
    try:
        for line in process.stdout:  # wait until the diffusion is under way
            event = json.loads(line)
            if event["type"] == "step.progress" and event["tool"] == "generate_image":
                break
        else:
            pytest.fail(f"the turn never started drawing: {process.stderr.read().decode()}")
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=EXIT_BOUND)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in errors.decode() and "polychat: stopped." in errors.decode()
    assert b'"type": "done"' not in rest or b'"cancelled": true' in rest
    histories = list((data / "sessions").glob("*/history.json"))
    turns = [turn for path in histories for turn in json.loads(path.read_text())["turns"]]
    assert any(turn["user_text"] == "hello" for turn in turns)  # the earlier conversation is whole
    drawn = [turn for turn in turns if turn["user_text"] == "draw a lighthouse at night"]
    assert len(drawn) == 1 and drawn[0]["cancelled"]  # stopped between diffusion steps and recorded as stopped


# -- the disk ----------------------------------------------------------------------------
@pytest.fixture
def small_mount(tmp_path):
    """A tmpfs of 256 KB at tmp_path/mnt (needs root and mount); unmounted afterwards."""
    point = tmp_path / "mnt"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")

    def mount(*options: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=256k", *options)), "tmpfs", str(point)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        return point

    yield mount
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(folder: Path) -> None:
    """Write until the disk is full."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass


def test_a_full_disk_is_one_sentence_and_exit_1(small_mount, tmp_path):
    disk = small_mount()
    data = disk / "data"
    (data / "sessions").mkdir(parents=True)
    _fill(disk)
    result = _polychat(["ask", "hello there"], data, POLYCHAT_PROFILE="default")
    assert result.returncode == 1
    sentence = _one_sentence(result.stderr)
    assert sentence.startswith("The disk holding ") and " is full; free some space there" in sentence


def test_a_read_only_data_dir_is_one_sentence_and_exit_1(small_mount):
    disk = small_mount("ro")
    result = _polychat(["ask", "hello there"], disk / "data", POLYCHAT_PROFILE="default")
    assert result.returncode == 1
    sentence = _one_sentence(result.stderr)
    assert "read-only file system; set POLYCHAT_DATA_DIR" in sentence


def test_health_is_degraded_on_a_full_or_read_only_data_dir(small_mount, tiny_settings):
    from dataclasses import replace

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from agent.web.api import TurnApi, mount_api

    disk = small_mount()
    _fill(disk)
    app = FastAPI()
    mount_api(app, api=TurnApi(replace(tiny_settings, data_dir=disk)))
    health = TestClient(app).get("/api/health").json()
    assert health["status"] == "degraded" and "is full" in health["reason"]
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    health = TestClient(app).get("/api/health").json()
    assert health["status"] == "degraded" and "read-only" in health["reason"]


def test_sigterm_stops_polychat_serve_with_a_turn_running(tmp_path):
    import http.client
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(port), "--headless"],
                              env=cli_env(data), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/api/turn", body="text=draw+a+lighthouse+at+night&stream=true",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        assert response.status == 200
        while b"step.progress" not in response.readline():  # the diffusion is under way
            pass
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=2 * EXIT_BOUND)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM)
    histories = list((data / "api").glob("*/*/history.json"))
    assert len(histories) == 1
    turns = json.loads(histories[0].read_text())["turns"]
    assert [turn["cancelled"] for turn in turns] == [True]  # stopped, recorded with what it had delivered
