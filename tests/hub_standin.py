"""A stand-in for the Hugging Face Hub on loopback, for tests that download models.

It answers the part of the hub's HTTP API that ``huggingface_hub`` uses to list and fetch
files (``repo_info`` with file metadata, ``hf_hub_download``'s HEAD and ranged GET), for
repos whose file lists are the real repositories' (``tests/data/hub_listings``):

- ``--mode real``: every file has its real size; its bytes are made up (zeros) on the fly.
  For dry runs: what the real repo weighs.
- ``--mode tiny``: the files a backend loads carry a tiny random model of the same kind
  (``agent.models.tiny``; small configs it lacks are ``{}``); the repo's other files keep
  their real sizes and are never meant to be fetched. A repo with no tiny model of its kind
  (faster-whisper's CTranslate2 files, the x-vector dataset) serves small stand-in files.

Every request is appended to ``--log`` as a JSON line (method, path, range, status, bytes
sent), so tests can see what was fetched. ``--rate`` slows the bytes down (to cut a
download mid-file); ``--gated REPO`` answers that repo only to ``Authorization: Bearer
--token``, as a gated repo does.

Run: ``python tests/hub_standin.py --mode tiny --tiny-dir DIR --log FILE`` prints
``listening on http://127.0.0.1:PORT`` once it answers.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LISTINGS = Path(__file__).resolve().parent / "data" / "hub_listings"
CHUNK = 16 * 1024
LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".ot", ".ckpt", ".onnx", ".zip", ".pt", ".model", ".spm")

# The tiny model kind that stands in for each repo's weights (tiny mode).
TINY_KINDS = {
    "openai/whisper-small": "whisper",
    "Salesforce/blip-image-captioning-base": "blip-caption",
    "Salesforce/blip-vqa-base": "blip-vqa",
    "microsoft/trocr-base-printed": "trocr",
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "stable-diffusion",
    "microsoft/speecht5_tts": "speecht5",
    "microsoft/speecht5_hifigan": "hifigan",
    "Helsinki-NLP/opus-mt-en-fr": "marian",
    "Helsinki-NLP/opus-mt-fr-en": "marian",
    "Helsinki-NLP/opus-mt-en-hi": "marian",
    "Qwen/Qwen2.5-0.5B-Instruct": "chat",
}


@dataclass
class Served:
    """One file as the stand-in serves it: its size, hashes, and its bytes (None: zeros)."""

    path: str
    size: int
    content: bytes | None = None
    sha256: str | None = None

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES) or self.size > 1_000_000

    @property
    def etag(self) -> str:
        if self.lfs:
            return self.sha256 or hashlib.sha256(f"{self.path}:{self.size}".encode()).hexdigest()
        return hashlib.sha1(self.content or self.path.encode()).hexdigest()

    def read(self, start: int, end: int) -> bytes:
        if self.content is not None:
            return self.content[start:end]
        return bytes(end - start)


@dataclass
class Repo:
    name: str
    repo_type: str
    files: dict[str, Served]

    @property
    def sha(self) -> str:
        return hashlib.sha1(f"{self.repo_type}:{self.name}".encode()).hexdigest()


def listing(path: Path) -> dict:
    return json.loads(path.read_text())


def _tiny_bytes(folder: Path, name: str) -> bytes | None:
    """What a tiny model's folder offers for the real repo's file ``name``."""
    own = folder / name
    if own.is_file():
        return own.read_bytes()
    if name == "preprocessor_config.json" and (folder / "processor_config.json").is_file():
        nested = json.loads((folder / "processor_config.json").read_text())
        for key in ("image_processor", "feature_extractor"):
            if key in nested:
                return json.dumps(nested[key]).encode()
    if name.endswith(("pytorch_model.bin",)) and (folder / name.replace("pytorch_model.bin", "model.safetensors")).is_file():
        import torch
        from safetensors.torch import load_file

        buffer = io.BytesIO()
        torch.save(load_file(str(folder / name.replace("pytorch_model.bin", "model.safetensors"))), buffer)
        return buffer.getvalue()
    if ".fp16." in name:
        return _tiny_bytes(folder, name.replace(".fp16.", "."))
    return None


def build(mode: str, tiny_dir: Path | None, only: list[str] | None = None) -> dict[tuple[str, str], Repo]:
    """The repos to serve, from the real listings."""
    repos: dict[tuple[str, str], Repo] = {}
    for path in sorted(LISTINGS.glob("*.json")):
        data = listing(path)
        name, repo_type = data["repo"], data.get("repo_type", "model")
        if only and name not in only:
            continue
        folder = None
        if mode == "tiny" and name in TINY_KINDS and tiny_dir is not None:
            from agent.models.tiny import ensure_tiny

            folder = ensure_tiny(TINY_KINDS[name], tiny_dir)
        files: dict[str, Served] = {}
        for entry in data["files"]:
            served = Served(entry["path"], int(entry["size"]), None, entry.get("sha256"))
            content = _tiny_bytes(folder, entry["path"]) if folder is not None else None
            if content is None and mode == "tiny" and name == "Matthijs/cmu-arctic-xvectors" \
                    and entry["path"] == "spkrec-xvect.zip":
                content = xvector_archive()
            if content is None and mode == "tiny" and folder is not None and entry["path"].endswith((".json", ".txt")) \
                    and entry["size"] < 5_000_000:  # a small config or vocabulary the tiny model lacks
                content = b"{}" if entry["path"].endswith(".json") else b"\n"
            if content is None and mode == "tiny" and folder is None:  # no tiny model of this kind: small filler
                content = f"stand-in for {name}/{entry['path']}\n".encode() * 32
            if content is not None:
                served = Served(entry["path"], len(content), content, hashlib.sha256(content).hexdigest())
            files[entry["path"]] = served
        repos[(repo_type, name)] = Repo(name, repo_type, files)
    return repos


def xvector_archive() -> bytes:
    """A small zip with one 512-value x-vector per CMU ARCTIC speaker utterance polychat names."""
    import zipfile

    import numpy as np

    from tools.voices import SPEECHT5_VOICES

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for voice in SPEECHT5_VOICES.values():
            vector = io.BytesIO()
            np.save(vector, np.random.default_rng(0).standard_normal(512).astype("float32"))
            archive.writestr(f"spkrec-xvect/{voice.utterance}.npy", vector.getvalue())
    return buffer.getvalue()


class Hub:
    """The served repos and the request log."""

    def __init__(self, repos: dict[tuple[str, str], Repo], log: Path | None, rate: float = 0.0,
                 gated: tuple[str, ...] = (), token: str = "") -> None:
        self.repos, self.log, self.rate, self.gated, self.token = repos, log, rate, gated, token
        self._lock = threading.Lock()

    def record(self, **entry: object) -> None:
        if self.log is None:
            return
        with self._lock, open(self.log, "a") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()


API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/([^/]+))?/?$")
RESOLVE = re.compile(r"^/(?:(datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def make_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            hub.record(method=self.command, path=self.path, status=status)

        def _repo(self, repo_type: str, name: str) -> Repo | None:
            repo = hub.repos.get((repo_type, name))
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {name} not found")
                return None
            if name in hub.gated and self.headers.get("Authorization", "") != f"Bearer {hub.token}":
                self._error(401, "GatedRepo", f"Access to model {name} is restricted. You must have access to it.")
                return None
            return repo

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            api = API.match(path)
            if api:
                repo_type = "model" if api.group(1) == "models" else "dataset"
                repo = self._repo(repo_type, api.group(2))
                if repo is None:
                    return
                siblings = []
                for served in repo.files.values():
                    sibling: dict[str, object] = {"rfilename": served.path, "size": served.size,
                                                  "blobId": hashlib.sha1(served.etag.encode()).hexdigest()}
                    if served.lfs:
                        sibling["lfs"] = {"sha256": served.etag, "size": served.size, "pointerSize": 134}
                    siblings.append(sibling)
                payload = json.dumps({"id": repo.name, "sha": repo.sha, "private": False, "gated": repo.name in hub.gated,
                                      "siblings": siblings}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)
                hub.record(method=self.command, path=path, status=200)
                return
            resolve = RESOLVE.match(path)
            if not resolve:
                self._error(404, "EntryNotFound", f"No such route {path}")
                return
            repo = self._repo("dataset" if resolve.group(1) else "model", resolve.group(2))
            if repo is None:
                return
            served = repo.files.get(resolve.group(4))
            if served is None:
                self._error(404, "EntryNotFound", f"{resolve.group(4)} does not exist in {repo.name}")
                return
            start, end = 0, served.size
            wanted = self.headers.get("Range", "")
            ranged = re.match(r"bytes=(\d+)-(\d*)$", wanted.strip())
            status = 200
            if ranged:
                start = int(ranged.group(1))
                end = int(ranged.group(2)) + 1 if ranged.group(2) else served.size
                if start >= served.size:
                    self._error(416, "RangeNotSatisfiable", "Range not satisfiable")
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("X-Repo-Commit", repo.sha)
            self.send_header("ETag", f'"{served.etag}"')
            if served.lfs:
                self.send_header("X-Linked-Etag", f'"{served.etag}"')
                self.send_header("X-Linked-Size", str(served.size))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{served.size}")
            self.end_headers()
            sent = 0
            if body:
                try:
                    position = start
                    while position < end:
                        piece = served.read(position, min(end, position + CHUNK))
                        self.wfile.write(piece)
                        self.wfile.flush()
                        position += len(piece)
                        sent += len(piece)
                        if hub.rate:
                            time.sleep(len(piece) / hub.rate)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            hub.record(method=self.command, path=path, file=served.path, repo=repo.name, status=status,
                       range=wanted or None, sent=sent)

    return Handler


def serve(hub: Hub, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(hub))
    server.daemon_threads = True
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandIn:
    """A hub stand-in process: started, stopped (killed), started again on the same port."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder, self.args = folder, list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "requests.jsonl"
        self.process: subprocess.Popen | None = None

    def start(self, *extra: str) -> StandIn:
        self.log.write_text("")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port), "--log", str(self.log),
             "--tiny-dir", str(self.folder / "tiny"), *self.args, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self.process.stdout.readline()
        assert line.startswith("listening on"), line
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def fetched(self, repo: str) -> list[dict]:
        return [r for r in self.requests() if r.get("method") == "GET" and r.get("repo") == repo]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("real", "tiny"), default="tiny")
    parser.add_argument("--tiny-dir", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--rate", type=float, default=0.0, help="bytes per second per download (0: as fast as it goes)")
    parser.add_argument("--repo", action="append", default=[], help="serve only these repos")
    parser.add_argument("--gated", action="append", default=[])
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    hub = Hub(build(args.mode, args.tiny_dir, args.repo or None), args.log, args.rate, tuple(args.gated), args.token)
    server = serve(hub, args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
