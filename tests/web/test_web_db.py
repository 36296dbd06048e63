"""The browser chat's conversation history: the SQL schema, and Chainlit's data layer on SQLite."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from agent.config import Settings
from agent.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {"users", "threads", "steps", "elements", "feedbacks"}


@pytest.fixture(scope="module")
def web_store():
    """``agent.web.store``, imported with Chainlit pointed at the project's config (it reads it on import)."""
    os.environ.setdefault("CHAINLIT_APP_ROOT", str(REPO_ROOT))
    from agent.web import store as module
    return module


@pytest.fixture(scope="module")
def web_db(web_store):
    """``agent.web.db`` (imported after ``web_store`` has pointed Chainlit at the project)."""
    from agent.web import db as module
    return module


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(profile="tiny", data_dir=tmp_path / "data")


def test_database_url_defaults_to_sqlite_in_the_data_dir(web_db, settings: Settings) -> None:
    url = web_db.database_url(settings, env={})
    assert url == f"sqlite+aiosqlite:///{settings.data_dir / 'web' / 'chainlit.db'}"
    assert web_db.dialect_of(url) == "sqlite"


def test_database_url_takes_postgres_and_sqlite_urls(web_db, settings: Settings) -> None:
    env = {"POLYCHAT_DATABASE_URL": "postgresql://me:pw@db.local/chat"}
    assert web_db.database_url(settings, env=env) == "postgresql+asyncpg://me:pw@db.local/chat"
    env = {"POLYCHAT_DATABASE_URL": "postgres+psycopg://me@db/chat"}
    assert web_db.database_url(settings, env=env) == "postgresql+asyncpg://me@db/chat"
    env = {"POLYCHAT_DATABASE_URL": "sqlite:////srv/chat.db"}
    assert web_db.database_url(settings, env=env) == "sqlite+aiosqlite:////srv/chat.db"


@pytest.mark.parametrize("bad", ["mysql://me@db/chat", "just-a-name"])
def test_database_url_refuses_other_databases_in_one_sentence(web_db, settings: Settings, bad: str) -> None:
    with pytest.raises(ConfigError, match="POLYCHAT_DATABASE_URL|postgresql://") as caught:
        web_db.database_url(settings, env={"POLYCHAT_DATABASE_URL": bad})
    assert bad in str(caught.value) and "\n" not in str(caught.value)


def test_schema_is_created_once_and_again_without_harm(web_db, settings: Settings) -> None:
    url = web_db.database_url(settings, env={})
    asyncio.run(web_db.ensure_schema(url))
    asyncio.run(web_db.ensure_schema(url))  # a restart runs it again
    database = settings.data_dir / "web" / "chainlit.db"
    with sqlite3.connect(database) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        step_columns = {row[1] for row in connection.execute("PRAGMA table_info(steps)")}
        element_columns = {row[1] for row in connection.execute("PRAGMA table_info(elements)")}
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert names >= TABLES
    assert {"command", "modes", "defaultOpen", "autoCollapse", "showInput"} <= step_columns
    assert {"autoPlay", "playerConfig", "objectKey", "props"} <= element_columns
    assert journal == "wal"
    assert (database.stat().st_mode & 0o777) == 0o600  # the history is its owner's alone
    assert (database.parent.stat().st_mode & 0o777) == 0o700


def test_postgres_schema_uses_native_types(web_db) -> None:
    statements = web_db.schema_statements("postgresql")
    assert len(statements) == 5
    assert any('"metadata" JSONB NOT NULL' in s for s in statements)
    assert any('"tags" TEXT[]' in s for s in statements)
    assert all("JSONB" not in s for s in web_db.schema_statements("sqlite"))


async def _round_trip(web_db, web_store, settings: Settings, picture: Path) -> tuple[dict, dict, list]:
    """A user, a thread, a message and an image through Chainlit's data layer, read back."""
    import chainlit as cl
    from chainlit.context import init_http_context
    from chainlit.types import Pagination, ThreadFilter
    from chainlit.user import User

    await web_db.ensure_schema(web_db.database_url(settings, env={}))
    layer = web_db.make_data_layer(settings)
    try:
        user = await layer.create_user(User(identifier="alice", metadata={"provider": "password"}))
        thread_id = str(uuid.uuid4())
        init_http_context(thread_id=thread_id, user=user)
        await layer.update_thread(thread_id, name="draw a red circle", user_id=user.id, metadata={"chat_settings": {}})
        message = cl.Message(content="Made image-1.", author="polychat")
        await layer.create_step(message.to_dict())
        step = cl.Step(name="generate_image", type="tool", parent_id=message.id)
        step.input = {"prompt": "a red circle"}
        step.output = "Made image-1."
        await layer.create_step(step.to_dict())
        image = cl.Image(name="image-1", path=str(picture), mime="image/png", display="inline")
        image.for_id = message.id
        await layer.create_element(image)
        thread = await layer.get_thread(thread_id)
        owner = await web_store.element_owner(thread["elements"][0]["objectKey"], layer)
        assert owner == user.id
        assert await web_store.element_owner("nobody/nothing", layer) is None
        listing = await layer.list_threads(pagination=Pagination(first=10), filters=ThreadFilter(userId=user.id))
        return thread, {"user": user, "thread_id": thread_id}, listing.data
    finally:
        await layer.close()


def test_chainlit_data_layer_stores_and_reads_back_a_conversation(web_db, web_store, settings, tmp_path) -> None:
    from PIL import Image

    picture = tmp_path / "circle.png"
    Image.new("RGB", (32, 32), "red").save(picture)
    thread, ids, listing = asyncio.run(_round_trip(web_db, web_store, settings, picture))

    assert thread["name"] == "draw a red circle"
    assert thread["userIdentifier"] == "alice"
    steps = {step["name"]: step for step in thread["steps"]}
    assert steps["polychat"]["output"] == "Made image-1."
    assert steps["generate_image"]["type"] == "tool" and "a red circle" in steps["generate_image"]["input"]
    (element,) = thread["elements"]
    assert element["url"].startswith(web_store.FILES_ROUTE + "/")
    stored = web_store.LocalStorageClient(settings.data_dir / "web" / "files").path_for(element["objectKey"])
    assert stored.read_bytes() == picture.read_bytes()
    assert element["objectKey"].split("/")[0] == ids["user"].id
    assert [t["id"] for t in listing] == [ids["thread_id"]]
