"""Sign-in: hashed passwords, sign-ins that can be taken back, and without login only this machine's pages.

The unit tests check the pieces; the server tests start a real ``polychat serve`` (tiny
profile, loopback only) and speak HTTP to it as a browser and as an attacker would.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from agent.config import parse_auth_users
from agent.errors import ConfigError
from agent.web.hosts import HostCheck, HostPolicy, parse_allowed_hosts
from agent.web.login import PasswordBook, SignIns, hash_password
from bench.server import Server as SharedServer
from bench.server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
EVIL = "https://evil.example"


# --------------------------------------------------------------------------- passwords


def test_hashes_with_commas_and_dollars_are_read_whole() -> None:
    argon = hash_password("wonderland")
    assert "," in argon and argon.startswith("$argon2id$")
    users = parse_auth_users(f"alice:{argon}, bob:builder\ncarol:$2b$04$abcdefghijklmnopqrstuv")
    assert users == {"alice": argon, "bob": "builder", "carol": "$2b$04$abcdefghijklmnopqrstuv"}
    with pytest.raises(ConfigError, match="'bob' without a password"):
        parse_auth_users(f"alice:{argon},bob")


def test_plain_argon2_and_bcrypt_passwords_are_checked() -> None:
    import bcrypt

    book = PasswordBook({
        "alice": hash_password("wonderland"),
        "bob": "builder",
        "carol": bcrypt.hashpw(b"tea", bcrypt.gensalt(rounds=4)).decode(),
    })
    assert book.verify("alice", "wonderland") and not book.verify("alice", "Wonderland")
    assert book.verify("bob", "builder") and not book.verify("bob", "build")
    assert book.verify("carol", "tea") and not book.verify("carol", "coffee")
    assert not book.verify("mallory", "builder")


def test_a_hash_cut_short_or_mangled_by_a_shell_is_a_sentence() -> None:
    argon = hash_password("pw")
    with pytest.raises(ConfigError, match="alice an argon2 hash that is cut short.*polychat users hash"):
        PasswordBook({"alice": argon[:40]})
    with pytest.raises(ConfigError, match="bob a bcrypt hash that is not 60 characters"):
        PasswordBook({"bob": "$2b$12$tooShort"})


def test_api_basic_auth_accepts_a_hashed_password(tmp_path: Path) -> None:
    from agent.config import Settings
    from agent.web.api import mount_api

    settings = Settings(profile="tiny", data_dir=tmp_path, auth_users=f"alice:{hash_password('wonderland')}")
    app = FastAPI()
    mount_api(app, settings)
    client = TestClient(app)
    assert client.get("/api/models", auth=("alice", "wonderland")).status_code == 200
    refused = client.get("/api/models", auth=("alice", hash_password("wonderland")))
    assert refused.status_code == 401


# --------------------------------------------------------------------------- sign-ins


def test_a_sign_in_ends_with_its_user_its_password_or_a_logout(tmp_path: Path) -> None:
    import jwt

    secret = "s" * 48
    sign_ins = SignIns(PasswordBook({"alice": "one", "bob": "pw"}), secret, tmp_path)
    alice, bob = sign_ins.claims("alice"), sign_ins.claims("bob")
    assert sign_ins.holds("alice", alice) and sign_ins.holds("bob", bob)
    assert not sign_ins.holds("bob", alice)  # a token is its user's only
    assert not sign_ins.holds("local", {"provider": "local"})  # a cookie from before login was on
    assert not sign_ins.holds("alice", {"provider": "password"})  # a token from before sign-ins were tracked

    token = jwt.encode({"identifier": "alice", "metadata": alice, "exp": time.time() + 3600}, secret, "HS256")
    assert sign_ins.end(token)
    assert not sign_ins.holds("alice", alice)
    assert sign_ins.holds("alice", sign_ins.claims("alice"))  # signing in again works

    restarted = SignIns(PasswordBook({"alice": "two"}), secret, tmp_path)  # bob removed, alice's password changed
    assert not restarted.holds("alice", alice) and not restarted.holds("bob", bob)
    assert not restarted.holds("alice", sign_ins.claims("alice"))
    assert restarted.holds("alice", restarted.claims("alice"))
    assert not restarted.end("not a token")


def test_without_login_only_the_local_user_holds(tmp_path: Path) -> None:
    sign_ins = SignIns(PasswordBook({}), "s" * 48, tmp_path)
    assert sign_ins.holds("local", {"provider": "local"})
    assert not sign_ins.holds("alice", {"provider": "password", "sign_in": "x", "credential": "y"})


# --------------------------------------------------------------------------- hosts and origins


def test_host_policy_answers_loopback_and_configured_names_only() -> None:
    policy = HostPolicy(parse_allowed_hosts("chat.example.test, https://box.lan:8443"))
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "chat.example.test", "box.lan:9000"):
        assert policy.refusal(host, None) is None, host
    refusal = policy.refusal("evil.example:8000", None)
    assert refusal.startswith("This server only answers requests addressed to localhost")
    assert "POLYCHAT_ALLOWED_HOSTS" in refusal
    assert policy.refusal("127.0.0.1:8000", "http://127.0.0.1:8000") is None
    assert policy.refusal("localhost", "http://localhost") is None
    assert policy.refusal("127.0.0.1:8000", "https://chat.example.test") is None
    for origin in (EVIL, "null", "http://127.0.0.1:3000", "http://localhost:8000"):
        assert "only answers pages it served itself" in policy.refusal("127.0.0.1:8000", origin), origin
    assert HostPolicy(parse_allowed_hosts("*")).refusal("evil.example", EVIL) is None


def test_a_server_on_every_address_answers_its_ip_addresses_but_not_other_names() -> None:
    policy = HostPolicy((), served_host="0.0.0.0")
    assert policy.refusal("192.168.1.20:8000", "http://192.168.1.20:8000") is None
    assert policy.refusal(f"{socket.gethostname()}:8000", None) is None
    assert policy.refusal("evil.example:8000", None) is not None
    assert HostPolicy((), served_host="192.168.1.20").refusal("192.168.1.20:8000", None) is None
    assert HostPolicy((), served_host="127.0.0.1").refusal("192.168.1.20:8000", None) is not None


def test_with_login_any_name_is_answered_but_not_other_sites_pages() -> None:
    policy = HostPolicy((), any_host_name=True)
    assert policy.refusal("chat.example.com", None) is None  # a server with login may have any name
    assert policy.refusal("chat.example.com", "https://chat.example.com") is None
    refusal = policy.refusal("chat.example.com", EVIL)  # a cross-site form post carrying Basic credentials
    assert refusal is not None and "only answers pages it served itself" in refusal
    assert HostPolicy(parse_allowed_hosts("app.example.com"), any_host_name=True).refusal(
        "chat.example.com", "https://app.example.com") is None


def _guarded_app(allowed: str = "") -> TestClient:
    app = FastAPI()

    @app.post("/api/turn")
    def turn() -> dict[str, bool]:
        return {"ran": True}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_middleware(HostCheck, policy=HostPolicy(parse_allowed_hosts(allowed)))
    return TestClient(app, base_url="http://127.0.0.1:8000")


def test_cross_origin_posts_and_rebound_hosts_are_refused_with_a_sentence() -> None:
    client = _guarded_app()
    form = {"text": "draw a boat"}
    refused = client.post("/api/turn", data=form, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "This server only answers pages it served itself, not pages from 'https://evil.example'; "
        "if that site is yours, add its name to POLYCHAT_ALLOWED_HOSTS."
    )
    rebound = client.post("/api/turn", data=form, headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 403 and "'evil.example:8000'" in rebound.json()["detail"]
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert client.post("/api/turn", data=form, headers={"Host": host}).json() == {"ran": True}
    same = client.post("/api/turn", data=form, headers={"Origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200


def test_configured_hosts_are_answered() -> None:
    client = _guarded_app("chat.example.test")
    answered = client.post("/api/turn", headers={"Host": "chat.example.test", "Origin": "https://chat.example.test"})
    assert answered.status_code == 200


def test_a_websocket_from_another_site_is_refused() -> None:
    client = _guarded_app()
    with client.websocket_connect("ws://127.0.0.1:8000/ws", headers={"Origin": "http://127.0.0.1:8000"}) as ws:
        assert ws.receive_text() == "hello"
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("ws://127.0.0.1:8000/ws", headers={"Origin": EVIL}):
            pass
    assert refused.value.code == 1008


# --------------------------------------------------------------------------- a real server


class Server(SharedServer):
    """The shared test server, started with a different environment each time, spoken to as any client."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)

    def start(self, **env: str) -> None:  # type: ignore[override]
        self.extra_env = env
        super().start()

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request; ``headers`` may set ``Host`` and ``Origin`` as any client could."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def log_in(self, name: str, password: str) -> str:
        """Sign in as a browser does; returns the token of the cookie it gets."""
        form = f"username={name}&password={password}"
        status, headers, body = self.request(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, body
        cookie = headers["set-cookie"]
        assert cookie.startswith("access_token=")
        return cookie.split(";", 1)[0].split("=", 1)[1]

    def user_status(self, token: str) -> int:
        return self.request("GET", "/user", headers={"Cookie": f"access_token={token}"})[0]

    def socket_accepts(self, token: str) -> bool:
        """Whether the websocket (socket.io, over HTTP polling) lets this token connect."""
        cookie = {"Cookie": f"access_token={token}"}
        status, _, body = self.request("GET", "/ws/socket.io/?EIO=4&transport=polling", headers=cookie)
        assert status == 200, body
        sid = json.loads(body.decode()[1:])["sid"]
        path = f"/ws/socket.io/?EIO=4&transport=polling&sid={sid}"
        auth = {"sessionId": f"test-{sid}", "clientType": "webapp", "userEnv": "{}"}
        status, _, body = self.request("POST", path, "40" + json.dumps(auth),
                                       {**cookie, "Content-Type": "text/plain;charset=UTF-8"})
        assert status == 200, body
        status, _, body = self.request("GET", path, headers=cookie)
        reply = body.decode()
        assert reply.startswith(("40", "44")), reply
        return reply.startswith("40")


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory):
    server = Server(tmp_path_factory.mktemp("no-login"))
    server.start(POLYCHAT_ALLOWED_HOSTS="chat.example.test")
    yield server
    server.stop()


def test_without_login_the_server_refuses_other_sites_and_rebound_names(local_server: Server) -> None:
    port = local_server.port
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = local_server.request("POST", "/api/turn", "text=draw+a+boat", {**form, "Origin": EVIL})
    assert status == 403
    assert json.loads(body)["detail"].startswith("This server only answers pages it served itself")
    status, _, body = local_server.request("GET", "/api/models", headers={"Host": f"evil.example:{port}"})
    assert status == 403 and "POLYCHAT_ALLOWED_HOSTS" in json.loads(body)["detail"]
    status, _, _ = local_server.request("GET", "/", headers={"Host": f"evil.example:{port}"})
    assert status == 403  # the page itself
    status, _, _ = local_server.request("GET", "/ws/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL})
    assert status == 403  # the websocket

    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "chat.example.test"):
        assert local_server.request("GET", "/api/models", headers={"Host": host})[0] == 200, host
    # A page of its own passes the check and reaches the API (which wants something to answer).
    status, _, body = local_server.request("POST", "/api/turn", "text=+",
                                           {**form, "Origin": f"http://127.0.0.1:{port}"})
    assert status == 400 and json.loads(body)["detail"] == "Send some text or a file."


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory):
    server = Server(tmp_path_factory.mktemp("login"))
    yield server
    server.stop()


def test_logout_ends_the_sign_in_even_for_a_copied_token(login_server: Server) -> None:
    login_server.start(POLYCHAT_AUTH_USERS=f"alice:{hash_password('wonderland')},bob:builder")
    try:
        assert login_server.user_status("not-a-token") == 401
        basic = {"Authorization": "Basic " + base64.b64encode(b"bob:builder").decode(),
                 "Content-Type": "application/x-www-form-urlencoded"}
        status, _, body = login_server.request("POST", "/api/turn", "text=+", {**basic, "Origin": EVIL})
        assert status == 403 and "only answers pages it served itself" in json.loads(body)["detail"]
        status, _, body = login_server.request("POST", "/api/turn", "text=+", {**basic, "Host": "chat.example.com"})
        assert status == 400 and json.loads(body)["detail"] == "Send some text or a file."  # any name, signed in
        token = login_server.log_in("alice", "wonderland")
        kept = login_server.log_in("alice", "wonderland")  # the same person, another browser
        assert login_server.user_status(token) == 200 and login_server.socket_accepts(token)
        status, _, _ = login_server.request("POST", "/logout", headers={"Cookie": f"access_token={token}"})
        assert status == 200
        assert login_server.user_status(token) == 401
        assert not login_server.socket_accepts(token)
        assert login_server.user_status(kept) == 200  # only that sign-in ended
    finally:
        login_server.stop()


def test_a_removed_user_or_a_new_password_ends_sign_ins_after_a_restart(login_server: Server) -> None:
    login_server.start(POLYCHAT_AUTH_USERS="alice:wonderland,bob:builder,carol:tea")
    try:
        alice, bob, carol = (login_server.log_in(*pair) for pair in
                             (("alice", "wonderland"), ("bob", "builder"), ("carol", "tea")))
        assert {login_server.user_status(t) for t in (alice, bob, carol)} == {200}
    finally:
        login_server.stop()
    login_server.start(POLYCHAT_AUTH_USERS=f"alice:looking-glass,carol:{hash_password('tea')}")
    try:
        assert login_server.user_status(alice) == 401  # password changed
        assert login_server.user_status(bob) == 401  # removed
        assert not login_server.socket_accepts(bob)
        assert login_server.user_status(carol) == 401  # her entry changed (now a hash) even if the password did not
        assert login_server.user_status(login_server.log_in("alice", "looking-glass")) == 200
    finally:
        login_server.stop()


def test_serve_refuses_a_mangled_hash_in_one_sentence(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYCHAT_", "CHAINLIT_"))}
    env.update({"POLYCHAT_DATA_DIR": str(tmp_path), "POLYCHAT_AUTH_USERS": "alice:$argon2id$=19=65536"})
    done = subprocess.run([sys.executable, "-m", "agent.cli", "serve", "--port", str(free_port()), "--headless"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "polychat: POLYCHAT_AUTH_USERS gives alice an argon2 hash that is cut short or altered; "
        "make a new one with polychat users hash (and quote it in single quotes in a shell)."
    )
