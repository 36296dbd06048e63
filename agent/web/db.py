"""The browser chat's conversation history: a SQL database through Chainlit's data layer.

Chainlit's ``SQLAlchemyDataLayer`` stores users, threads (conversations), steps
(messages and tool calls), elements (images, audio) and feedback in SQL tables it
does not create itself: :func:`ensure_schema` creates them. By default the
database is an embedded SQLite file, ``<data dir>/web/chainlit.db``; a PostgreSQL
URL in ``POLYCHAT_DATABASE_URL`` works too (with the ``[postgres]`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.config import Settings
from agent.errors import ConfigError
from agent.files import make_private_file, make_private_folder
from agent.web.store import LocalStorageClient, web_dir

# The tables of Chainlit's SQLAlchemy data layer (its documented schema), with the
# column types of each database: SQLite keeps JSON and lists as TEXT.
_TYPES = {
    "sqlite": {"uuid": "TEXT", "json": "TEXT", "array": "TEXT", "bool": "BOOLEAN"},
    "postgresql": {"uuid": "UUID", "json": "JSONB", "array": "TEXT[]", "bool": "BOOLEAN"},
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    "id" {uuid} PRIMARY KEY,
    "identifier" TEXT NOT NULL UNIQUE,
    "metadata" {json} NOT NULL,
    "createdAt" TEXT
);
CREATE TABLE IF NOT EXISTS threads (
    "id" {uuid} PRIMARY KEY,
    "createdAt" TEXT,
    "name" TEXT,
    "userId" {uuid},
    "userIdentifier" TEXT,
    "tags" {array},
    "metadata" {json},
    FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS steps (
    "id" {uuid} PRIMARY KEY,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "threadId" {uuid} NOT NULL,
    "parentId" {uuid},
    "streaming" {bool} NOT NULL,
    "waitForAnswer" {bool},
    "isError" {bool},
    "metadata" {json},
    "tags" {array},
    "input" TEXT,
    "output" TEXT,
    "createdAt" TEXT,
    "command" TEXT,
    "modes" {json},
    "start" TEXT,
    "end" TEXT,
    "generation" {json},
    "showInput" TEXT,
    "language" TEXT,
    "indent" INT,
    "defaultOpen" {bool},
    "autoCollapse" {bool},
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS elements (
    "id" {uuid} PRIMARY KEY,
    "threadId" {uuid},
    "type" TEXT,
    "url" TEXT,
    "chainlitKey" TEXT,
    "name" TEXT NOT NULL,
    "display" TEXT,
    "objectKey" TEXT,
    "size" TEXT,
    "page" INT,
    "language" TEXT,
    "forId" {uuid},
    "mime" TEXT,
    "props" {json},
    "autoPlay" {bool},
    "playerConfig" {json},
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS feedbacks (
    "id" {uuid} PRIMARY KEY,
    "forId" {uuid} NOT NULL,
    "threadId" {uuid} NOT NULL,
    "value" INT NOT NULL,
    "comment" TEXT,
    FOREIGN KEY ("threadId") REFERENCES threads("id") ON DELETE CASCADE
);
"""



def database_url(settings: Settings, env: dict[str, str] | None = None) -> str:
    """The async SQLAlchemy URL of the chat history database.

    ``settings.database_url`` (``POLYCHAT_DATABASE_URL``) when set, else the SQLite file
    ``<data dir>/web/chainlit.db``. Plain ``postgresql://`` and ``sqlite:///`` URLs get
    their async driver (asyncpg, aiosqlite) added.

    Raises:
        ConfigError: the URL names a database other than SQLite or PostgreSQL.
    """
    env = os.environ if env is None else env
    url = (settings.database_url or env.get("POLYCHAT_DATABASE_URL", "")).strip()
    if not url:
        return f"sqlite+aiosqlite:///{web_dir(settings) / 'chainlit.db'}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"The database URL {url!r} has no scheme; use postgresql://user:password@host/db or sqlite:///path."
        )
    base = scheme.split("+", 1)[0].lower()
    if base in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ConfigError(f"The database URL {url!r} is not SQLite or PostgreSQL; use postgresql://... or sqlite:///....")


def dialect_of(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"`` for a database URL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def schema_statements(dialect: str) -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statements of the history tables for a dialect."""
    script = _SCHEMA.format(**_TYPES[dialect])
    return [statement.strip() for statement in script.split(";") if statement.strip()]


async def ensure_schema(url: str) -> None:
    """Create the history tables if they are missing (safe to run at every start).

    Args:
        url: an async SQLAlchemy URL, as from :func:`database_url`.

    Raises:
        ConfigError: the database cannot be reached or the driver is not installed.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    dialect = dialect_of(url)
    shown = url.split("@")[-1]  # never print a password
    database = Path(url.split(":///", 1)[1]) if dialect == "sqlite" else None
    if database is not None:
        folder = database.parent
        try:
            make_private_folder(folder)
        except OSError as e:
            raise ConfigError(
                f"The folder {folder} for the chat history cannot be made ({e.strerror}); "
                "check POLYCHAT_DATA_DIR or POLYCHAT_DATABASE_URL."
            ) from e
    try:
        engine = create_async_engine(url)
    except ModuleNotFoundError as e:
        extra = "pip install 'polychat[postgres]'" if dialect == "postgresql" else "pip install aiosqlite"
        raise ConfigError(f"The database driver {e.name} is not installed; run {extra}.") from e
    try:
        async with engine.begin() as connection:
            if dialect == "sqlite":
                await connection.execute(text("PRAGMA journal_mode=WAL"))
            for statement in schema_statements(dialect):
                await connection.execute(text(statement))
    except (SQLAlchemyError, OSError) as e:
        reason = (str(getattr(e, "orig", None) or e).strip().splitlines() or ["unknown error"])[0]
        raise ConfigError(
            f"The chat history database ({shown}) could not be opened ({reason}); check POLYCHAT_DATABASE_URL."
        ) from e
    finally:
        await engine.dispose()
    if database is not None:  # SQLite makes its files as the umask says; the history is the owner's alone
        for suffix in ("", "-wal", "-shm", "-journal"):
            if Path(f"{database}{suffix}").exists():
                make_private_file(f"{database}{suffix}")


def make_data_layer(settings: Settings, storage: LocalStorageClient | None = None) -> Any:
    """Chainlit's SQLAlchemy data layer over :func:`database_url`, with media on local disk.

    Args:
        settings: supplies the data dir and the database URL.
        storage: where media go (default: ``<data dir>/web/files``).
    """
    from chainlit.data.sql_alchemy import SQLAlchemyDataLayer

    storage = storage or LocalStorageClient(web_dir(settings) / "files")
    return SQLAlchemyDataLayer(conninfo=database_url(settings), storage_provider=storage)
