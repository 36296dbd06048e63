"""``polychat api``: the OpenAI-compatible API (``/v1``) alone, without the browser chat.

``polychat serve`` answers the same routes beside the web UI; this serves only them, for
OpenAI clients (SDKs, Open WebUI, LangChain's ``ChatOpenAI``) and scripts.
"""

from __future__ import annotations

import argparse

from agent.cli.serve import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    add_cluster_option,
    check_port_free,
    limit_malloc_arenas,
    run_server,
    use_cluster,
)
from agent.config import get_settings
from agent.files import make_private_folder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "api",
        help="serve the OpenAI-compatible API (/v1) alone",
        description="Serve polychat's tools and agent as an OpenAI-compatible API under /v1 "
                    "(speech to text, speech, images, chat completions).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    add_cluster_option(parser)
    parser.set_defaults(handler=run_api)


def run_api(args: argparse.Namespace) -> int:
    """Serve ``/v1`` until stopped."""
    from agent.web.openai_api import create_app
    from agent.web.openai_auth import api_keys

    limit_malloc_arenas()
    use_cluster(args)
    settings = get_settings()
    api_keys(settings)  # an unreadable keys file is said now, not on the first request
    check_port_free(args.host, args.port)
    make_private_folder(settings.data_dir)
    return run_server(create_app(settings, args.host), args.host, args.port)
