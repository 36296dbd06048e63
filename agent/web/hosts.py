"""Without login, only this machine's own pages may drive the server.

Any web page a person visits can post a form to ``http://127.0.0.1:8000/api/turn``,
and a site whose name is made to resolve to 127.0.0.1 (DNS rebinding) can even read
the answers. So when no users are configured, every request (pages, the websocket,
``/api``, media) must be addressed to a loopback name or an allowed host (its
``Host`` header), and a request a browser sends from a page (its ``Origin`` header)
must come from the same origin or from an allowed host. ``POLYCHAT_ALLOWED_HOSTS``
adds names; ``*`` turns the check off.

With login on, any host name may reach the server (it may sit behind a domain of its
own), but a page from another site still may not drive it: a browser that keeps a
person's HTTP Basic credentials for ``/api`` would send them with another site's form
post. So the ``Origin`` check stays (:func:`guard_with_login`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")
ANY_HOST = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """``POLYCHAT_ALLOWED_HOSTS`` as host names: ``"chat.example.com, https://box.lan:8000"`` ->
    ``("chat.example.com", "box.lan")`` (a scheme, port or path given with a name is dropped)."""
    names = []
    for entry in (text or "").replace("\n", ",").replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == ANY_HOST:
            names.append(ANY_HOST)
            continue
        hostname = urlsplit(entry if "//" in entry else f"//{entry}").hostname
        if hostname:
            names.append(hostname)
    return tuple(dict.fromkeys(names))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _shown(name: str) -> str:
    return f"[{name}]" if ":" in name else name


class HostPolicy:
    """Which ``Host`` and ``Origin`` headers the server answers when login is off.

    Args:
        allowed: names from ``POLYCHAT_ALLOWED_HOSTS`` (``*``: any).
        served_host: the address the server listens on (``--host``). A specific
            address is allowed too; on every address (``0.0.0.0``), requests to any of
            this machine's IP addresses and to its host name are.
    """

    def __init__(
        self, allowed: Iterable[str] = (), served_host: str = "127.0.0.1", *, any_host_name: bool = False
    ) -> None:
        self.any_host_name = any_host_name  # with login: every Host is answered, only Origin is checked
        self.configured = tuple(name for name in allowed if name != ANY_HOST)
        self.any_host = ANY_HOST in allowed
        served = (served_host or "").strip("[]").lower()
        self.any_ip = served in WILDCARD_ADDRESSES
        names = [*LOOPBACK_NAMES, *self.configured]
        if not self.any_ip:
            names.append(served)
        else:
            names.append(socket.gethostname().lower())
        self.names = tuple(dict.fromkeys(names))

    def describe(self) -> str:
        """The names answered, for sentences."""
        shown = ", ".join(_shown(name) for name in self.names)
        return f"{shown} or this machine's IP addresses" if self.any_ip else shown

    def host_allowed(self, hostname: str) -> bool:
        return self.any_host or hostname in self.names or (self.any_ip and _is_ip(hostname))

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a request with these headers is refused, in one sentence; None when it is answered."""
        if self.any_host:
            return None
        try:
            addressed = urlsplit(f"//{host or ''}")
            hostname, port = (addressed.hostname or ""), addressed.port
        except ValueError:
            hostname, port = "", None
        if not self.any_host_name and not self.host_allowed(hostname):
            return (
                f"This server only answers requests addressed to {self.describe()}, "
                f"not {host!r}; if that name is yours, add it to POLYCHAT_ALLOWED_HOSTS."
            )
        if origin is None:
            return None  # not sent by a page in a browser (curl, scripts), or a same-origin GET
        try:
            source = urlsplit(origin)
            origin_name, origin_port = (source.hostname or ""), source.port
        except ValueError:
            origin_name, origin_port = "", None
        if origin_name and origin_name in self.configured:
            return None
        default = _DEFAULT_PORTS.get(source.scheme if origin_name else "", None)
        same_origin = bool(origin_name) and (origin_name, origin_port or default) == (hostname, port or default)
        if same_origin:
            return None
        return (
            f"This server only answers pages it served itself, not pages from {origin!r}; "
            "if that site is yours, add its name to POLYCHAT_ALLOWED_HOSTS."
        )


class HostCheck:
    """ASGI middleware that refuses (403, one sentence) what :class:`HostPolicy` refuses."""

    _LOGGED_LIMIT = 100  # distinct refusals written to the log (a hostile page may send many)

    def __init__(self, app: Any, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy
        self._logged: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {}
        for key, value in scope.get("headers") or ():
            headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
        problem = self.policy.refusal(headers.get("host"), headers.get("origin"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        if problem not in self._logged and len(self._logged) < self._LOGGED_LIMIT:
            self._logged.add(problem)
            log.warning("Refused %s %s: %s", scope.get("method", "websocket"), scope.get("path", ""), problem)
        if scope["type"] == "websocket":
            from starlette.websockets import WebSocketClose

            await WebSocketClose(code=1008, reason=problem[:120])(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        await JSONResponse({"detail": problem}, status_code=403)(scope, receive, send)


def guard_without_login(app: Any, allowed_hosts: str, served_host: str) -> HostPolicy:
    """Put the host check in front of ``app`` (a Starlette/FastAPI app not yet started).

    Returns the policy, and says in the log what a server on a public address answers.
    """
    policy = HostPolicy(parse_allowed_hosts(allowed_hosts), served_host)
    app.add_middleware(HostCheck, policy=policy)
    if not policy.any_host and served_host.strip("[]").lower() not in LOOPBACK_NAMES:
        log.warning(
            "polychat listens on %s without login, so anyone who can reach it may use it; it answers "
            "requests addressed to %s: set POLYCHAT_ALLOWED_HOSTS to add other names, "
            "or POLYCHAT_AUTH_USERS to require login.",
            served_host or "every address", policy.describe(),
        )
    return policy


def guard_with_login(app: Any, allowed_hosts: str) -> HostPolicy:
    """With login on: any host name is answered, but pages from other sites are refused.

    Returns the policy put in front of ``app`` (a Starlette/FastAPI app not yet started).
    """
    policy = HostPolicy(parse_allowed_hosts(allowed_hosts), any_host_name=True)
    app.add_middleware(HostCheck, policy=policy)
    return policy
