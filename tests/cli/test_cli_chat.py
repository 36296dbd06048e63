"""The terminal faces of the agent: ask, chat through stdin, menu, listen."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cli_helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]


def _polychat(args: list[str], data_dir: Path, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], input=stdin, capture_output=True, text=True,
                          env=cli_env(data_dir, **extra), cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "car.png"
    Image.new("RGB", (80, 60), "red").save(path)
    return path


def test_plan_only_loads_no_model_and_no_torch(data_dir, photo):
    code = (
        "import sys, json; from agent.cli import main; "
        f"rc = main(['ask', 'translate the text in this image to French and read it aloud', '--image', {str(photo)!r},"
        " '--plan-only', '--json']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(data_dir),
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)["plan"]
    assert [s["tool"] for s in plan] == ["read_image_text", "translate_text", "speak_text"]
    assert plan[0]["args"] == {"image": "image-1"}


def test_ask_language_is_kept_with_the_session_without_loading_torch(data_dir):
    from agent.turn.session import Session
    from agent.config import Settings

    Session(data_dir / "sessions", Settings(data_dir=data_dir), "spoken-fr").set_language(None)  # saved, empty
    code = (
        "import sys; from agent.cli import main; "
        "rc = main(['ask', 'draw a boat', '--plan-only', '--json', '--session', 'spoken-fr', '--language', 'French']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(data_dir),
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Session(data_dir / "sessions", Settings(data_dir=data_dir), "spoken-fr").language == "fr"
    refused = _polychat(["ask", "hi", "--plan-only", "--session", "spoken-fr", "--language", "Klingon"], data_dir)
    assert refused.returncode != 0 and "I don't know the language 'Klingon'" in refused.stderr


def test_ask_json_runs_a_turn_and_copies_media_out(data_dir, tmp_path):
    result = _polychat(["ask", "draw a red kite", "--json", "--out", str(tmp_path / "out")], data_dir)
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout)
    assert set(turn) == {"text", "plan", "artifacts", "steps"}  # no transcript: not a voice note
    assert turn["plan"][0]["tool"] == "generate_image"
    assert turn["steps"][0]["ok"] is True and isinstance(turn["steps"][0]["seconds"], float)
    image = turn["artifacts"][0]
    assert image["kind"] == "image" and image["id"] == "image-1"
    with Image.open(image["path"]) as made:
        assert made.size[0] >= 64
    assert (tmp_path / "out" / Path(image["path"]).name).is_file()


def test_ask_conversation_has_an_empty_plan(data_dir):
    result = _polychat(["ask", "tell me a joke", "--json"], data_dir, POLYCHAT_CHAT_MODEL=str(data_dir / "none"))
    turn = json.loads(result.stdout)
    assert turn["plan"] == [] and turn["steps"] == []
    assert "draw a picture" in turn["text"]


def test_ask_with_a_missing_file_is_one_sentence(data_dir):
    result = _polychat(["ask", "what is this?", "--image", "/no/such/photo.jpg"], data_dir)
    assert result.returncode == 1
    assert result.stderr.strip() == "polychat: The file /no/such/photo.jpg does not exist."


def test_chat_through_stdin_holds_a_conversation(data_dir, photo):
    script = f"/image {photo}\ndescribe this picture\nwhat colour is the car in it?\n/voice on\nsay hello\n/quit\n"
    result = _polychat(["chat", "--json"], data_dir, stdin=script)
    assert result.returncode == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [t["plan"][0]["tool"] for t in turns] == ["caption_image", "answer_image_question", "speak_text"]
    assert turns[1]["plan"][0]["args"]["image"] == "image-1"
    assert turns[2]["artifacts"][0]["kind"] == "audio"
    assert "Attached" in result.stderr and "Spoken replies on." in result.stderr


@pytest.mark.real_weights
def test_listen_streams_a_recording_in_chunks(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from speech_helpers import espeak_wav

    wav = espeak_wav("The weather is lovely today. Let us walk to the harbour and watch the boats.", tmp_path / "a.wav")
    result = _polychat(["listen", "--file", str(wav), "--chunk-seconds", "3"], tmp_path,
                       POLYCHAT_PROFILE="default", POLYCHAT_TRANSCRIBE_AUDIO_MODEL="package:whisper-base")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 2  # more than one chunk, printed as it went
    assert lines[0].startswith("[")
    words = " ".join(lines).lower()
    assert "walk" in words and ("harbour" in words or "harbor" in words)


def test_chunks_are_cut_at_a_pause():
    import numpy as np

    from agent.cli.listen import chunks

    tone = np.sin(np.arange(16_000) / 5).astype(np.float32) * 0.5  # 1 s of "speech"
    pause = np.zeros(3_200, dtype=np.float32)  # 0.2 s of silence
    audio = np.concatenate([tone, tone, pause, tone])  # the pause starts at 2.0 s
    blocks = (audio[i : i + 8_000] for i in range(0, len(audio), 8_000))
    (start1, first), (start2, second) = list(chunks(blocks, 2.5))[:2]
    assert start1 == 0.0
    assert 2.0 <= len(first) / 16_000 <= 2.2  # cut inside the pause, not at 2.5 s
    assert start2 == len(first) / 16_000


def test_listen_without_a_microphone_is_one_sentence(tmp_path):
    result = _polychat(["listen"], tmp_path, stdin="")
    if result.returncode == 0:
        pytest.skip("this machine has a microphone")
    assert "microphone" in result.stderr and "Traceback" not in result.stderr


def test_menu_runs_a_tool_and_exits(data_dir, tmp_path):
    result = _polychat(["menu"], data_dir, stdin="7\ngood morning\nFrench\n9\n0\n")
    assert result.returncode == 0, result.stderr
    assert "1. Text to image" in result.stdout and "0. Exit" in result.stdout
    assert "There is no menu entry '9'" in result.stdout


def test_ask_prints_the_reply_once_as_it_streams(data_dir):
    text = "translate 'good evening, my friends' to French"
    expected = json.loads(_polychat(["ask", text, "--json"], data_dir).stdout)["text"]
    result = _polychat(["ask", text], data_dir)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.strip()] == [expected], result.stdout


def test_ask_stream_prints_one_json_event_per_line_ending_with_the_json_of_the_turn(data_dir):
    text = "translate 'good evening, my friends' to French"
    streamed = _polychat(["ask", text, "--stream"], data_dir)
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]  # each line parses on its own
    types = [event["type"] for event in events]
    assert types[0] == "plan" and types[-1] == "done" and types.count("done") == 1
    assert types.index("step.started") < types.index("step.finished") < types.index("text.delta")
    done = events[-1]["reply"]
    assert "".join(e["text"] for e in events if e["type"] == "text.delta") == done["text"]

    whole = _polychat(["ask", text, "--json"], data_dir)
    assert whole.returncode == 0, whole.stderr
    expected = json.loads(whole.stdout)
    assert set(done) == set(expected)
    assert done["text"] == expected["text"] and done["plan"] == expected["plan"]
    assert [(s["tool"], s["ok"]) for s in done["steps"]] == [(s["tool"], s["ok"]) for s in expected["steps"]]


class RecordingSpeakers:
    """Stands in for the speakers: remembers what it was asked to play, in order."""

    def __init__(self) -> None:
        self.played: list[tuple[int, int]] = []

    def play(self, samples, sample_rate: int) -> None:
        self.played.append((samples.size, sample_rate))


def test_chat_prints_the_reply_as_it_streams_and_plays_each_sentence(tiny_settings, tiny_manager, tmp_path, capsys):
    from agent.cli.chat import show_turn
    from agent.turn.assistant import Assistant
    from agent.turn.session import Session

    session = Session(tmp_path / "chat", tiny_settings)
    speakers = RecordingSpeakers()
    events = Assistant(tiny_settings, tiny_manager).stream(session, 'say "Good morning. The kettle is on."')
    reply = show_turn(events, prefix="polychat> ", speakers=speakers)
    assert len(speakers.played) == 2  # one sentence at a time, as each was made
    assert sum(size for size, _ in speakers.played) == sum(_samples(a.path) for a in reply.audio)
    assert capsys.readouterr().out == "polychat> " + reply.text


def _samples(path: Path) -> int:
    import soundfile

    return soundfile.info(str(path)).frames


def test_speakers_without_a_sound_device_play_nothing_and_say_so_once(caplog):
    import logging

    import numpy as np

    from agent.cli.speakers import Speakers

    try:
        import sounddevice

        sounddevice.query_devices(kind="output")
    except Exception:  # no PortAudio or no output device: what this test is about
        pass
    else:
        pytest.skip("this machine has a sound output device")
    speakers = Speakers()
    with caplog.at_level(logging.INFO, logger="agent.cli.speakers"):
        speakers.play(np.zeros(1600, dtype=np.float32), 16_000)
        speakers.play(np.zeros(1600, dtype=np.float32), 16_000)
    speakers.wait()
    said = [r.getMessage() for r in caplog.records if r.name == "agent.cli.speakers"]
    assert len(said) == 1 and said[0].startswith("No speakers to play the reply on (")
    assert said[0].endswith("the audio is saved as a file.")
