"""``polychat serve`` (and plain ``polychat``): start the browser chat.

Chainlit reads ``.chainlit/config.toml``, ``chainlit.md`` and ``public/`` from its
app root, fixed when Chainlit is first imported; the app root here is the
project folder that holds the ``agent`` package, whatever the working directory.
Nothing heavy is imported at start: models load on the first turn that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
from pathlib import Path

from agent.config import get_settings, parse_auth_users
from agent.errors import ConfigError, ToolError
from agent.files import make_private_folder

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000  # TCP port of the web UI
SHUTDOWN_GRACE_SECONDS = 5  # after SIGTERM or Ctrl+C, how long stopped turns have to finish before connections close
PROJECT_ROOT = Path(__file__).resolve().parents[2]
APP_FILES = (Path(".chainlit") / "config.toml", Path("chainlit.md"))


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="start the browser chat (what plain `polychat` does)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--headless", action="store_true", help="do not open a browser window")
    add_cluster_option(serve)
    serve.set_defaults(handler=run_serve)


def add_cluster_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run the tools on this Ray cluster's polychat services (HOST:PORT, ray://HOST:PORT; "
                             "sets POLYCHAT_CLUSTER)")


def use_cluster(args: argparse.Namespace) -> None:
    """``--cluster ADDRESS``: the tools of every turn run on that cluster; checked now, in one sentence."""
    address = getattr(args, "cluster", None)
    if address:
        from agent.config import set_settings

        os.environ["POLYCHAT_CLUSTER"] = address
        set_settings(None)
    settings = get_settings()
    if settings.cluster:
        from agent.cluster.remote import connect

        connect(settings.cluster)


def default_handler(args: argparse.Namespace) -> int:
    """Plain ``polychat``: serve on the default address and open the browser."""
    return run_serve(argparse.Namespace(host=DEFAULT_HOST, port=DEFAULT_PORT, headless=False, cluster=None))


def check_port_free(host: str, port: int) -> None:
    """Refuse early, in one sentence, when the address is taken or invalid."""
    if not 0 < port < 65536:
        raise ToolError(f"The port {port} is not valid; pick one from 1 to 65535 with --port.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ToolError(f"The host {host!r} is not an address this machine knows; use e.g. --host 127.0.0.1.") from e
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ToolError(
                    f"Port {port} is already in use; stop the other server or pick another with --port."
                ) from e
            raise ToolError(f"Cannot listen on {host}:{port} ({e.strerror}); try another --host or --port.") from e


def public_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def prepare_chainlit(app_root: Path = PROJECT_ROOT) -> None:
    """Point Chainlit at the project's config before it is imported.

    Raises:
        ToolError: the config files are missing (polychat was installed without its web files).
    """
    missing = [str(name) for name in APP_FILES if not (app_root / name).is_file()]
    if missing:
        raise ToolError(
            f"The web UI's files ({', '.join(missing)}) are missing from {app_root}; "
            "install polychat from its source folder with pip install -e ."
        )
    if "chainlit.config" in sys.modules:
        from chainlit.config import APP_ROOT

        if Path(APP_ROOT).resolve() != app_root.resolve():
            raise ConfigError(
                "Chainlit was loaded before polychat could point it at its config; "
                "start polychat serve in a fresh process."
            )
    os.environ["CHAINLIT_APP_ROOT"] = str(app_root)


M_ARENA_MAX = -8  # glibc's mallopt parameter: how many malloc arenas threads may spread over
SERVER_ARENAS = 2


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Let the server's threads share a few malloc arenas (glibc); True when the limit was set.

    Each worker thread that runs a turn otherwise gets an arena of its own, and glibc
    keeps the freed memory of every one of them: 8 conversations at once left the
    server's memory 18% higher than before, in memory it no longer used. A
    ``MALLOC_ARENA_MAX`` in the environment is left as the person set it.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to limit
        return False


def run_serve(args: argparse.Namespace) -> int:
    """Start the Chainlit server; returns when it stops."""
    limit_malloc_arenas()
    use_cluster(args)
    settings = get_settings()
    check_port_free(args.host, args.port)
    make_private_folder(settings.data_dir)  # conversations, media and logins are the owner's alone
    prepare_chainlit()

    from agent.web import store as web_store
    web_store.ensure_auth_secret(settings)
    from agent.web.login import PasswordBook

    PasswordBook(parse_auth_users(settings.auth_users))  # a bad value or hash fails here, in words
    from agent.web import db as web_db
    asyncio.run(web_db.ensure_schema(web_db.database_url(settings)))
    return _serve(args.host, args.port, headless=args.headless, uploads=web_store.web_dir(settings) / "uploads")


def _quiet_chainlit() -> None:
    """Keep Chainlit's warnings, minus the one it logs on every page load."""
    import logging

    chainlit_log = logging.getLogger("chainlit")
    chainlit_log.setLevel(logging.WARNING)
    chainlit_log.addFilter(lambda record: "Translated markdown file" not in record.getMessage())


def _serve(host: str, port: int, *, headless: bool, uploads: Path) -> int:
    import importlib

    import chainlit.config
    import chainlit.server
    import nest_asyncio

    nest_asyncio.apply()  # as `chainlit run` does: Chainlit re-enters the loop in places
    from chainlit.auth import ensure_jwt_secret
    from chainlit.config import config

    # Files people attach wait in Chainlit's upload folder until their turn takes them;
    # keep that folder in the data dir (Chainlit empties it when it stops), not in the app root.
    uploads.mkdir(parents=True, exist_ok=True)
    chainlit.config.FILES_DIRECTORY = chainlit.server.FILES_DIRECTORY = uploads
    config.run.host = host
    config.run.port = port
    config.run.headless = headless
    config.run.module_name = str(PROJECT_ROOT / "agent" / "web" / "app.py")
    importlib.import_module("agent.web.app")
    ensure_jwt_secret()
    _quiet_chainlit()

    from chainlit.server import app

    return run_server(app, host, port)


def run_server(app: object, host: str, port: int) -> int:
    """Serve an ASGI app with uvicorn until it is stopped; the turns running then are stopped too.

    Returns 0 when it has stopped.
    """
    import uvicorn

    class Server(uvicorn.Server):
        """Uvicorn's server, which also stops the turns in progress when asked to stop.

        A turn runs in a worker thread that uvicorn's graceful shutdown would otherwise
        wait for; stopped, each is recorded with what it had delivered.
        """

        def handle_exit(self, sig: int, frame: object) -> None:
            from agent.turn.assistant import cancel_running_turns

            cancel_running_turns()
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="error", ws="auto",
                                   timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS))

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        print(f"polychat is running at {public_url(host, port)} (press Ctrl+C to stop)", flush=True)

    async def main() -> None:
        waiter = asyncio.ensure_future(announce())
        try:
            await server.serve()
        finally:
            waiter.cancel()

    asyncio.run(main())
    return 0
