"""The browser chat's files: message media on disk, served to their owner only; the login secret."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from agent.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def web_store():
    """``agent.web.store``, imported with Chainlit pointed at the project's config (it reads it on import)."""
    os.environ.setdefault("CHAINLIT_APP_ROOT", str(REPO_ROOT))
    from agent.web import store as module
    return module


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(profile="tiny", data_dir=tmp_path / "data")


def test_storage_keeps_every_key_inside_its_folder(web_store, tmp_path: Path) -> None:
    storage = web_store.LocalStorageClient(tmp_path / "files")
    reply = asyncio.run(storage.upload_file("../../etc/passwd", b"secret", mime="text/plain"))
    path = storage.path_for(reply["object_key"])
    assert path.is_relative_to(tmp_path / "files") and path.read_bytes() == b"secret"
    assert reply["url"] == f"{web_store.FILES_ROUTE}/etc/passwd.txt"
    assert web_store.safe_object_key("u1/el 2/ma photo?.png") == "u1/el_2/ma_photo_.png"
    named = asyncio.run(storage.upload_file("u1/el-3/audio-2", b"RIFF", mime="audio/wav"))
    assert named["object_key"] == "u1/el-3/audio-2.wav" and storage.path_for(named["object_key"]).is_file()
    with pytest.raises(ValueError):
        web_store.safe_object_key("../..")
    assert asyncio.run(storage.delete_file(reply["object_key"])) is True
    assert not path.exists()
    assert asyncio.run(storage.delete_file(reply["object_key"])) is False


def test_media_route_serves_files_to_their_owner_only(web_store, tmp_path: Path) -> None:
    from chainlit.auth import get_current_user
    from chainlit.user import PersistedUser
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    storage = web_store.LocalStorageClient(tmp_path / "files")
    key = asyncio.run(storage.upload_file("user-a/el-1/image-1.png", b"\x89PNG fake", mime="image/png"))["object_key"]
    early = asyncio.run(storage.upload_file("unknown/el-2/photo.png", b"early", mime="image/png"))["object_key"]
    owners = {early: "user-a"}  # what the database says: el-2 is in user-a's conversation

    async def owner_of(object_key: str) -> str | None:
        return owners.get(object_key)

    app = FastAPI()

    @app.get("/{anything:path}")
    async def catch_all(anything: str) -> dict:  # stands for Chainlit's page route
        return {"page": anything}

    web_store.mount_file_route(app, storage, owner_of)
    web_store.mount_file_route(app, storage, owner_of)  # mounting twice adds nothing
    client = TestClient(app)
    current = {"user": PersistedUser(id="user-a", identifier="alice", createdAt="now")}
    app.dependency_overrides[get_current_user] = lambda: current["user"]

    response = client.get(storage.url_for(key))
    assert response.status_code == 200 and response.content == b"\x89PNG fake"
    assert response.headers["content-type"] == "image/png"
    spoken = asyncio.run(storage.upload_file("user-a/el-3/audio-2", b"RIFF", mime="audio/wav"))["object_key"]
    assert client.get(storage.url_for(spoken)).headers["content-type"] == "audio/wav"
    assert client.get(f"{web_store.FILES_ROUTE}/user-a/el-1/missing.png").status_code == 404
    assert client.get(storage.url_for(early)).content == b"early"
    current["user"] = PersistedUser(id="user-b", identifier="bob", createdAt="now")
    assert client.get(storage.url_for(key)).status_code == 404
    assert client.get(storage.url_for(early)).status_code == 404
    current["user"] = None
    assert client.get(storage.url_for(key)).status_code == 404


def test_auth_secret_is_made_once_and_kept_private(web_store, settings: Settings) -> None:
    env: dict[str, str] = {}
    first = web_store.ensure_auth_secret(settings, env=env)
    again = web_store.ensure_auth_secret(settings, env={})
    assert first == again == env["CHAINLIT_AUTH_SECRET"] and len(first) >= 40
    mode = stat.S_IMODE((settings.data_dir / "web" / web_store.AUTH_SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    assert web_store.ensure_auth_secret(settings, env={"CHAINLIT_AUTH_SECRET": "given"}) == "given"


def test_media_kept_by_the_conversation_and_the_chat_history_are_one_file(web_store, tmp_path: Path) -> None:
    storage = web_store.LocalStorageClient(tmp_path / "files")
    artifact = tmp_path / "threads" / "t1" / "image-1.png"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"\x89PNG first upload bytes")
    assert web_store.keep_once(artifact) is False  # the first copy: remembered
    stored = asyncio.run(storage.upload_file("local/el-1/photo.png", artifact.read_bytes(), "image/png"))
    kept = storage.path_for(stored["object_key"])
    assert kept.read_bytes() == artifact.read_bytes() and os.path.samefile(kept, artifact)

    # The other order: the chat history stores the upload first, the conversation second.
    stored = asyncio.run(storage.upload_file("local/el-2/note.wav", b"RIFF second upload", "audio/wav"))
    second = artifact.with_name("audio-1.wav")
    second.write_bytes(b"RIFF second upload")
    assert web_store.keep_once(second) is True
    assert os.path.samefile(second, storage.path_for(stored["object_key"])) and second.stat().st_nlink == 2

    different = asyncio.run(storage.upload_file("local/el-3/other.png", b"\x89PNG other bytes", "image/png"))
    alone = storage.path_for(different["object_key"])
    assert alone.stat().st_nlink == 1 and stat.S_IMODE(alone.stat().st_mode) == 0o600
