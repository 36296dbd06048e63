"""The HTTP API: a turn as JSON, media by URL, login, errors as sentences."""

from __future__ import annotations

import base64
import io
import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from agent.web.api import mount_api


def _client(settings, manager) -> TestClient:
    from agent.web.api import TurnApi
    from agent.turn.assistant import Assistant

    api = TurnApi(settings)
    api._assistant = Assistant(settings, manager)  # share the session's tiny models
    app = FastAPI()
    mount_api(app, api=api)
    return TestClient(app)


def _png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_and_models(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    assert client.get("/api/health").json()["status"] == "ok"
    tools = {row["tool"] for row in client.get("/api/models").json()}
    assert {"transcribe_audio", "caption_image", "generate_image", "translate_text"} <= tools


def test_a_turn_with_an_image_and_a_follow_up(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    first = client.post("/api/turn", data={"text": ""}, files=[("files", ("car.png", _png(), "image/png"))])
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["plan"] == [{"tool": "caption_image", "args": {"image": "image-1"}}]
    assert body["steps"][0]["ok"] is True
    follow = client.post("/api/turn", data={"text": "draw a red kite", "session": body["session"]}).json()
    assert follow["session"] == body["session"]
    image = follow["artifacts"][0]
    assert image["id"] == "image-2" and image["url"].endswith("/artifacts/image-2")
    fetched = client.get(image["url"])
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(fetched.content)) as made:
        assert made.size[0] >= 64


def test_bad_uploads_and_unknown_sessions_are_sentences(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    bad = client.post("/api/turn", data={"text": "hi"}, files=[("files", ("x.png", b"not an image", "image/png"))])
    assert bad.status_code == 422 and "x.png" in bad.json()["detail"]  # the file itself is at fault
    missing = client.post("/api/turn", data={"text": "hi", "session": "nope"})
    assert missing.status_code == 404 and "no session 'nope'" in missing.json()["detail"]
    empty = client.post("/api/turn", data={"text": "  "})
    assert empty.status_code == 400 and empty.json()["detail"] == "Send some text or a file."


def test_the_language_field_sets_the_language_spoken_in_voice_notes(tiny_settings, tiny_manager):
    from agent.turn.session import Session

    client = _client(tiny_settings, tiny_manager)
    first = client.post("/api/turn", data={"text": "draw a boat", "language": "fr"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"text", "plan", "artifacts", "steps", "session"}  # the reply's shape is unchanged
    folder = next(tiny_settings.data_dir.glob(f"**/{body['session']}"))
    assert Session(folder.parent, tiny_settings, body["session"]).language == "fr"
    unknown = client.post("/api/turn", data={"text": "hi", "session": body["session"], "language": "Klingon"})
    assert unknown.status_code == 422 and "Klingon" in unknown.json()["detail"]


def test_login_keeps_users_apart(tiny_settings, tiny_manager):
    settings = tiny_settings.with_overrides(auth_users="alice:secret,bob:pw")
    client = _client(settings, tiny_manager)
    assert client.get("/api/models").status_code == 401
    assert client.get("/api/models", auth=("alice", "wrong")).status_code == 401
    turn = client.post("/api/turn", data={"text": "draw a boat"}, auth=("alice", "secret")).json()
    url = turn["artifacts"][0]["url"]
    assert client.get(url, auth=("alice", "secret")).status_code == 200
    assert client.get(url, auth=("bob", "pw")).status_code == 404


def _server_sent_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_streamed_turn_sends_each_event_and_ends_with_the_turn_json(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    form = {"text": 'say "Hello there. See you soon."', "stream": "true"}
    with client.stream("POST", "/api/turn", data=form) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    events = _server_sent_events(body)
    names = [name for name, _ in events]
    assert names[0] == "plan" and names[-1] == "done"
    assert all(data["type"] == name for name, data in events)
    chunks = [data for name, data in events if name == "audio.chunk"]
    assert [c["text"] for c in chunks] == ["Hello there.", "See you soon."]
    assert base64.b64decode(chunks[0]["audio"])[:4] == b"RIFF"
    reply = events[-1][1]["reply"]
    assert reply["session"] and reply["plan"] == [{"tool": "speak_text", "args": {"text": "Hello there. See you soon."}}]
    audio = reply["artifacts"][0]
    assert audio["url"] == f"/api/sessions/{reply['session']}/artifacts/{audio['id']}"
    assert client.get(audio["url"]).content[:4] == b"RIFF"


def _client_with(settings, manager, **changes) -> TestClient:
    from dataclasses import replace

    return _client(replace(settings, **changes), manager)


def test_an_oversized_message_is_413_with_a_sentence_before_any_work(tiny_settings, tiny_manager, tmp_path):
    client = _client_with(tiny_settings, tiny_manager, data_dir=tmp_path / "data", max_message_chars=1_000)
    answer = client.post("/api/turn", data={"text": "x" * 400_000})
    assert answer.status_code == 413
    assert answer.json()["detail"].startswith("The message is 400,000 characters long; the limit is 1,000")
    assert not (tmp_path / "data" / "api").exists()  # no session was opened for it


def test_uploads_over_the_per_message_and_per_conversation_limits_are_413(tiny_settings, tiny_manager, tmp_path):
    png = _png()
    size_mb = len(png) / (1024 * 1024)
    client = _client_with(tiny_settings, tiny_manager, data_dir=tmp_path / "data",
                          max_turn_upload_mb=size_mb * 2.5, max_conversation_upload_mb=size_mb * 3.5)
    three = [("files", (f"p{i}.png", png, "image/png")) for i in range(3)]
    many = client.post("/api/turn", data={"text": "describe it"}, files=three)
    assert many.status_code == 413 and "per message" in many.json()["detail"]
    assert "POLYCHAT_MAX_TURN_UPLOAD_MB" in many.json()["detail"]
    first = client.post("/api/turn", data={"text": ""}, files=three[:2])
    assert first.status_code == 200, first.text
    more = client.post("/api/turn", data={"text": "", "session": first.json()["session"]}, files=three[:2])
    assert more.status_code == 413 and "per conversation" in more.json()["detail"]


def test_a_corrupt_image_that_fails_its_turn_is_422_with_the_sentence(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    header_only = _png()[:60]  # a PNG header, then nothing: accepted on upload, fails to decode
    answer = client.post("/api/turn", data={"text": ""}, files=[("files", ("cut.png", header_only, "image/png"))])
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.endswith(".") and "Traceback" not in detail


def test_text_that_is_not_utf8_is_422_with_a_sentence(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    form = client.post("/api/turn", content=b"text=caf%E9%FF+hello",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "not valid UTF-8" in form.json()["detail"]
    boundary = "polychat-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n".encode()
            + b"hello \xff\xfe world" + f"\r\n--{boundary}--\r\n".encode())
    multipart = client.post("/api/turn", content=body,
                            headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert multipart.status_code in (200, 422)  # never a 500: Starlette reads such a field as Latin-1
    assert "detail" not in multipart.json() or "UTF-8" in multipart.json()["detail"]


def test_health_is_degraded_with_a_reason_when_the_data_dir_cannot_be_written(tiny_settings, tiny_manager, tmp_path):
    import os

    data = tmp_path / "data"
    data.mkdir()
    client = _client_with(tiny_settings, tiny_manager, data_dir=data)
    assert client.get("/api/health").json()["status"] == "ok"
    data.chmod(0o500)
    try:
        if os.access(data, os.W_OK):  # root ignores permissions: make the folder a file instead
            data.chmod(0o700)
            data.rmdir()
            data.write_bytes(b"")
        health = client.get("/api/health").json()
    finally:
        if data.is_dir():
            data.chmod(0o700)
    assert health["status"] == "degraded"
    assert str(data) in health["reason"] and "POLYCHAT_DATA_DIR" in health["reason"]


def test_a_recording_too_short_to_hear_is_422_with_the_sentence(tiny_settings, tiny_manager):
    import numpy as np
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(8, np.float32), 16_000, format="WAV", subtype="PCM_16")
    client = _client(tiny_settings, tiny_manager)
    answer = client.post("/api/turn", data={"text": ""}, files=[("files", ("blip.wav", buffer.getvalue(), "audio/wav"))])
    assert answer.status_code == 422, answer.text
    assert "too short to hold a word" in answer.json()["detail"]


def test_a_turn_a_full_cluster_service_refused_is_429_with_retry_after(tiny_settings, tiny_manager, monkeypatch):
    """The cluster's painter had no room: nothing was done, so the person is told to come back."""
    from agent.errors import ServiceBusy
    from tools.imagine import GenerateImageTool

    def full(self, **args):
        raise ServiceBusy("The image service is busy (4 ahead of you); try again in a moment.", 5)

    monkeypatch.setattr(GenerateImageTool, "execute", full)
    client = _client(tiny_settings, tiny_manager)
    answer = client.post("/api/turn", data={"text": "draw a red kite"})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"] == "The image service is busy (4 ahead of you); try again in a moment."
