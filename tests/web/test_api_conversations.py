"""Many requests on one conversation: every upload kept under its own id, every turn in the history."""

from __future__ import annotations

import io
import json
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from agent.web.api import mount_api


def _client(settings, manager) -> TestClient:
    from agent.turn.assistant import Assistant
    from agent.web.api import TurnApi

    api = TurnApi(settings)
    api._assistant = Assistant(settings, manager)
    app = FastAPI()
    mount_api(app, api=api)
    return TestClient(app)


def _png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40 + shade, 30), (shade * 30, 90, 200 - shade * 20)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_six_uploads_at_once_to_one_conversation_are_all_kept(tiny_settings, tiny_manager):
    client = _client(tiny_settings, tiny_manager)
    session = client.post("/api/turn", data={"text": "hello"}).json()["session"]
    sent = {shade: _png(shade) for shade in range(6)}
    answers: dict[int, dict] = {}
    start = threading.Barrier(len(sent))

    def upload(shade: int) -> None:
        start.wait()
        response = client.post(
            "/api/turn", data={"text": "describe it", "session": session},
            files=[("files", (f"photo{shade}.png", sent[shade], "image/png"))],
        )
        assert response.status_code == 200, response.text
        answers[shade] = response.json()

    threads = [threading.Thread(target=upload, args=(shade,)) for shade in sent]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(answers) == 6
    described = {}
    for shade, answer in answers.items():
        (step,) = answer["plan"]
        assert step["tool"] == "caption_image"
        described[shade] = step["args"]["image"]
        fetched = client.get(f"/api/sessions/{session}/artifacts/{described[shade]}")
        assert fetched.status_code == 200 and fetched.content == sent[shade]  # its own picture, intact
    assert sorted(described.values()) == sorted(f"image-{n}" for n in range(1, 7))

    history = json.loads((tiny_settings.data_dir / "api" / "local" / session / "history.json").read_text())
    assert [t["number"] for t in history["turns"]] == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(t["attachments"][0] for t in history["turns"][1:]) == sorted(described.values())


def test_a_refused_request_leaves_nothing_behind(tiny_settings, tiny_manager, tmp_path):
    settings = tiny_settings.with_overrides(data_dir=tmp_path / "data")
    client = _client(settings, tiny_manager)
    bad = client.post("/api/turn", data={"text": "hi"}, files=[("files", ("x.png", b"not an image", "image/png"))])
    assert 400 <= bad.status_code < 500 and "x.png" in bad.json()["detail"]
    empty = client.post("/api/turn", data={"text": " "})
    assert empty.status_code == 400
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").rglob("*")) == []
