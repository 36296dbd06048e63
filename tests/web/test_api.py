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
    assert bad.status_code == 400 and "x.png" in bad.json()["detail"]
    missing = client.post("/api/turn", data={"text": "hi", "session": "nope"})
    assert missing.status_code == 404 and "no session 'nope'" in missing.json()["detail"]
    empty = client.post("/api/turn", data={"text": "  "})
    assert empty.status_code == 400 and empty.json()["detail"] == "Send some text or a file."


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
