"""``polychat talk --file IN.wav --out DIR``: a spoken conversation from a recording, end to end.

Real speech in (the packaged Piper voice says the requests), the packaged Whisper base
hears it, the router answers "say ..." without a chat model, Piper speaks the replies.
The recording is read on a virtual clock where the assistant's thinking takes no time,
so a reply starts playing as soon as the silence that ends an utterance has passed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech_helpers import piper_available, piper_wav

from cli_helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]

needs_piper = pytest.mark.skipif(not piper_available(), reason="needs the packaged Piper voice")


def _env(data_dir: Path) -> dict[str, str]:
    return cli_env(data_dir, POLYCHAT_TRANSCRIBE_AUDIO_MODEL="package:whisper-base",
                   POLYCHAT_SPEAK_TEXT_MODEL="package:piper-joe")


def _talk(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", "talk", *args], capture_output=True, text=True,
                          env=_env(data_dir), cwd=ROOT, timeout=600)


def _recording(path: Path, parts: list[str | float]) -> Path:
    """A WAV of spoken sentences (str, said by Piper) and pauses (float seconds)."""
    pieces, rate = [], 22_050
    for index, part in enumerate(parts):
        if isinstance(part, str):
            samples, rate = sf.read(str(piper_wav(part, path.with_name(f"{path.stem}-{index}.wav"))), dtype="float32")
            pieces.append(samples)
        else:
            pieces.append(np.zeros(int(part * rate), dtype=np.float32))
    sf.write(str(path), np.concatenate(pieces), rate, subtype="PCM_16")
    return path


def _session(result: subprocess.CompletedProcess, data_dir: Path) -> tuple[Path, list[dict]]:
    found = re.search(r"\(session ([A-Za-z0-9_-]+)\)", result.stdout)
    assert found, result.stdout
    folder = data_dir / "sessions" / found.group(1)
    return folder, json.loads((folder / "history.json").read_text())["turns"]


def _seconds(path: Path) -> tuple[float, int]:
    info = sf.info(str(path))
    return info.frames / info.samplerate, info.samplerate


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("talk-data")


@needs_piper
def test_two_utterances_give_two_spoken_turns(data_dir, tmp_path):
    # The pause outlasts the first reply (end-of-turn silence + a short "good morning"),
    # so the second request is a new question, not an interruption.
    wav = _recording(tmp_path / "in.wav", [0.5, "Say good morning.", 4.0, "Say thank you very much.", 1.5])
    out = tmp_path / "out"
    result = _talk(["--file", str(wav), "--out", str(out)], data_dir)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    folder, turns = _session(result, data_dir)
    assert len(turns) == 2, turns
    assert "morning" in turns[0]["user_text"].lower()
    assert "thank" in turns[1]["user_text"].lower()
    assert not any(t["cancelled"] for t in turns)
    assert "you: Say good morning" in result.stdout
    for number, turn in enumerate(turns, start=1):
        saved = out / f"turn-{number:02d}-reply.wav"
        seconds, rate = _seconds(saved)
        made_seconds, made_rate = _seconds(folder / f"{turn['artifacts'][0]}.wav")  # the reply the turn made
        assert rate == made_rate == 22_050
        assert seconds > 0.3
        assert abs(seconds - made_seconds) < 0.01  # played in full
    # The words were heard while they were spoken: no turn transcribed its recording again.
    assert all(step["tool"] != "transcribe_audio" for turn in turns for step in turn["plan"]), turns
    log = json.loads((out / "talk.json").read_text())["turns"]
    assert [entry["interrupted_at"] for entry in log] == [None, None]
    assert log[1]["sentences"][0]["start"] >= log[0]["sentences"][-1]["start"] + log[0]["sentences"][-1]["seconds"]


@needs_piper
def test_speaking_over_a_reply_interrupts_it(data_dir, tmp_path):
    # The second request starts 0.7 s into the first reply (a 2 s sentence).
    wav = _recording(tmp_path / "in.wav", [0.5, "Say good morning to everybody in the room today.", 1.5,
                                           "Say thank you very much.", 1.5])
    out = tmp_path / "out"
    result = _talk(["--file", str(wav), "--out", str(out)], data_dir)
    assert result.returncode == 0, result.stderr
    assert "(interrupted)" in result.stdout
    folder, turns = _session(result, data_dir)
    assert len(turns) == 2, turns
    first, second = turns
    assert first["cancelled"] is True
    spoken = first["plan"][-1]["args"]["text"]  # what the reply would have said
    assert first["reply_text"].endswith("…")
    heard = first["reply_text"].rstrip(" …").split()
    assert 0 < len(heard) < len(spoken.split()) and spoken.split()[: len(heard)] == heard
    played, _ = _seconds(out / "turn-01-reply.wav")
    full, _ = _seconds(folder / f"{first['artifacts'][0]}.wav")
    assert 0 < played < full
    assert "thank" in second["user_text"].lower() and second["cancelled"] is False
    answered, _ = _seconds(out / "turn-02-reply.wav")
    assert answered > 0.3
    log = json.loads((out / "talk.json").read_text())["turns"]
    assert log[0]["interrupted_at"] is not None and log[0]["played_seconds"] < log[0]["reply_seconds"]


@needs_piper
def test_the_reply_starts_as_the_end_of_turn_silence_ends(data_dir, tmp_path):
    # Answered at the pause: on the virtual clock the reply plays when the 0.8 s silence
    # has passed, not after the grace window (0.5 s more).
    wav = _recording(tmp_path / "in.wav", [0.5, "Say good morning.", 3.0])
    out = tmp_path / "out"
    result = _talk(["--file", str(wav), "--out", str(out)], data_dir)
    assert result.returncode == 0, result.stderr
    samples, rate = sf.read(str(wav), dtype="float32")
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    speech_end = loud[-1] / rate
    (entry,) = json.loads((out / "talk.json").read_text())["turns"]
    waited = entry["sentences"][0]["start"] - speech_end
    assert 0.7 <= waited <= 1.0, waited  # the end-of-turn silence, to the 0.1 s the recording is read in


@needs_piper
def test_going_on_after_a_pause_withdraws_the_answer_begun_and_answers_the_whole(data_dir, tmp_path):
    # A 0.9 s pause mid-request (0.7 s plus the voice's own trailing quiet): past the end-of-turn silence (the answer to "Say good
    # morning." begins to play), within the grace window (the person goes on).
    wav = _recording(tmp_path / "in.wav", [0.5, "Say good morning", 0.7, "to all of my friends.", 2.0])
    out = tmp_path / "out"
    result = _talk(["--file", str(wav), "--out", str(out)], data_dir)
    assert result.returncode == 0, result.stderr
    folder, turns = _session(result, data_dir)
    assert len(turns) == 1, turns
    (turn,) = turns
    assert "morning" in turn["user_text"].lower() and "friends" in turn["user_text"].lower()
    assert turn["cancelled"] is False
    assert "friends" in turn["plan"][-1]["args"]["text"]  # one request, not "good morning" and a chat about the rest
    # The withdrawn answer left nothing: only this turn's voice note and reply are kept.
    index = json.loads((folder / "artifacts.json").read_text())["artifacts"]
    assert sorted(a["id"] for a in index) == sorted(turn["attachments"] + turn["artifacts"])
    assert sorted(p.stem for p in folder.glob("audio-*")) == sorted(a["id"] for a in index)
    (entry,) = json.loads((out / "talk.json").read_text())["turns"]
    assert "friends" in entry["heard"] and entry["interrupted_at"] is None
    assert sorted(p.name for p in out.glob("*.wav")) == ["turn-01-reply.wav"]


@needs_piper
def test_without_barge_in_speech_over_a_reply_is_not_a_question(data_dir, tmp_path):
    wav = _recording(tmp_path / "in.wav", [0.5, "Say good morning to everybody in the room today.", 1.5,
                                           "Say thank you very much.", 1.5])
    out = tmp_path / "out"
    result = _talk(["--file", str(wav), "--out", str(out), "--no-barge-in"], data_dir)
    assert result.returncode == 0, result.stderr
    folder, turns = _session(result, data_dir)
    assert len(turns) == 1 and turns[0]["cancelled"] is False
    played, _ = _seconds(out / "turn-01-reply.wav")
    full, _ = _seconds(folder / f"{turns[0]['artifacts'][0]}.wav")
    assert abs(played - full) < 0.01


def test_a_missing_recording_is_one_sentence(data_dir, tmp_path):
    result = _talk(["--file", str(tmp_path / "nothing.wav")], data_dir)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"polychat: The file {tmp_path / 'nothing.wav'} does not exist."]


def test_no_microphone_suggests_a_recording(data_dir):
    try:
        import sounddevice as sd

        sd.query_devices(kind="input")
        pytest.skip("this machine has a microphone")
    except Exception:  # noqa: BLE001 - no PortAudio or no input device: what the test needs
        pass
    result = _talk([], data_dir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No microphone" in lines[0] and "--file" in lines[0], result.stderr


def test_the_words_kept_are_those_played():
    from agent.cli.talk import Exchange, Sentence

    exchange = Exchange(index=1, heard_at=0.0)
    exchange.sentences = [Sentence("Good morning.", np.zeros(16_000, np.float32), 16_000, 0.0),
                          Sentence("How are you today, my friend?", np.zeros(32_000, np.float32), 16_000, 1.0)]
    assert exchange.heard_text() == "Good morning. How are you today, my friend?"
    exchange.cut(2.0)  # half of the second sentence
    assert exchange.cancel.is_set() and not exchange.active(2.5)
    assert exchange.heard_text() == "Good morning. How are you …"
    early = Exchange(index=2, heard_at=0.0)
    early.sentences = [Sentence("Hello there.", np.zeros(16_000, np.float32), 16_000, 0.5)]
    early.cut(0.2)  # before the reply began to play
    assert early.heard_text() == ""


def test_an_interrupted_turn_keeps_what_was_heard(tmp_path):
    from agent.config import Settings
    from agent.turn.session import Session, TurnRecord

    session = Session(tmp_path, Settings(data_dir=tmp_path))
    session.record(TurnRecord(number=1, user_text="tell me a story", reply_text="Once upon a time there was a fox."))
    assert session.interrupted(1, "Once upon a …") is True
    assert session.interrupted(7, "nothing") is False
    again = Session(tmp_path, Settings(data_dir=tmp_path), session.id)
    assert [(t.reply_text, t.cancelled) for t in again.turns] == [("Once upon a …", True)]
