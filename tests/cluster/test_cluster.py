"""Cluster mode on one machine: a local Ray head, polychat's services deployed on it, the front end beside.

The services run the tiny profile plus the packaged Whisper base and Piper voice
(``tests/data/cluster-tiny.yaml``); the front end without a cluster runs the same models, so
both modes must give the same answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'polychat[cluster]')")

from cli_helpers import ROOT  # noqa: E402
from server_helpers import Server, free_port  # noqa: E402
from speech_helpers import piper_wav  # noqa: E402

CONFIG = ROOT / "tests" / "data" / "cluster-tiny.yaml"
RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
TURN_TIMEOUT = 300  # seconds a turn may take (models load on first use, on 2 shared cores)


def test_the_example_config_is_a_serve_config_naming_every_service():
    import yaml
    from ray.serve.schema import ServeDeploySchema

    from agent.cli.cluster import read_config

    example = ROOT / "cluster.example.yaml"
    ServeDeploySchema.model_validate(yaml.safe_load(example.read_text()))  # Ray's own `serve deploy` takes it
    apps = read_config(example)
    assert [a["service"] for a in apps] == ["speech", "vision", "reader", "painter", "voice", "translator"]
    painter = next(a for a in apps if a["service"] == "painter")
    assert painter["options"]["ray_actor_options"] == {"num_cpus": 2, "num_gpus": 1}
    assert painter["options"]["max_ongoing_requests"] == 1 and painter["options"]["max_queued_requests"] == 4


def test_a_config_that_is_not_polychat_s_is_one_sentence(tmp_path):
    from agent.cli.cluster import read_config
    from agent.errors import ConfigError

    wrong = tmp_path / "serve.yaml"
    wrong.write_text("applications:\n  - name: other\n    import_path: shop.app:build\n")
    with pytest.raises(ConfigError, match="is not a polychat service; give it import_path agent.cluster.services:build"):
        read_config(wrong)


def test_a_cluster_that_is_not_there_is_one_sentence_at_once(tmp_path):
    from cli_helpers import cli_env

    port = free_port()
    result = subprocess.run([sys.executable, "-m", "agent.cli", "api", "--cluster", f"127.0.0.1:{port}", "--port",
                             str(free_port())], env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"polychat: The Ray cluster at 127.0.0.1:{port} cannot be reached (Connection refused); start it with "
        f"'ray start --head', fix POLYCHAT_CLUSTER (or --cluster), or unset it to run the tools in this process.")


def test_without_a_cluster_ray_is_not_imported(tmp_path):
    code = ("import sys; from agent.turn.assistant import Assistant; from agent.web import api, openai_api; "
            "from agent.cli import serve, cluster; import tools.caption; print('ray' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], env=ray_env(tmp_path), capture_output=True, text=True,
                           timeout=120)
    assert shown.stdout.strip() == "False", shown.stderr


def ray_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCHAT_")}
    env.update({"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                "POLYCHAT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"})
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on loopback with polychat's services deployed; yields its address."""
    data = tmp_path_factory.mktemp("cluster-data")
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # Ray's socket paths must stay short
    env = ray_env(data)
    port = free_port()
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=4", "--include-dashboard=false",
                    "--disable-usage-stats", f"--temp-dir={temp}"], env=env, check=True, capture_output=True,
                   timeout=180)
    address = f"127.0.0.1:{port}"
    try:
        deployed = subprocess.run([sys.executable, "-m", "agent.cli", "cluster", "deploy", str(CONFIG), "--address",
                                   address], env=env, capture_output=True, text=True, timeout=600)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def servers(cluster, tmp_path_factory):
    """The front end twice: tools in its own process, and tools on the cluster."""
    speech = {"POLYCHAT_TRANSLATE_SPEECH_MODEL": "package:whisper-base", "POLYCHAT_API_MAX_WAITING": "16"}
    alone = Server(tmp_path_factory.mktemp("alone"), **speech)
    spread = Server(tmp_path_factory.mktemp("spread"), POLYCHAT_CLUSTER=cluster, **speech)
    alone.start()
    spread.start()
    yield alone, spread
    alone.stop()
    spread.stop()


def picture(path: Path) -> Path:
    image = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(image).ellipse((20, 8, 76, 56), fill="red")
    image.save(path)
    return path


def turn(server: Server, text: str, *files: Path) -> dict:
    with httpx.Client(timeout=TURN_TIMEOUT) as client:
        answer = client.post(server.url + "/api/turn", data={"text": text},
                             files=[("files", (f.name, f.read_bytes())) for f in files])
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_whole_turn_gives_the_same_plan_text_and_artifacts_with_and_without_the_cluster(servers, tmp_path):
    alone, spread = servers
    image = picture(tmp_path / "dot.png")
    said = "describe this picture, translate it to French and read it aloud"
    here, there = turn(alone, said, image), turn(spread, said, image)
    assert [s["tool"] for s in there["plan"]] == ["caption_image", "translate_text", "speak_text"]
    assert there["plan"] == here["plan"]
    assert there["text"] == here["text"] and there["text"].strip()
    assert [(a["id"], a["kind"]) for a in there["artifacts"]] == [(a["id"], a["kind"]) for a in here["artifacts"]]
    assert all(step["ok"] for step in there["steps"])
    with httpx.Client(timeout=60) as client:  # the spoken reply came home as bytes, served from this session
        audio = client.get(spread.url + there["artifacts"][-1]["url"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"


def test_the_packaged_whisper_hears_the_same_words_in_both_modes(servers, tmp_path):
    alone, spread = servers
    note = piper_wav("What is the weather like in Paris today?", tmp_path / "note.wav")
    here, there = turn(alone, "", note), turn(spread, "", note)
    assert "weather" in here["transcript"].lower()
    assert there["transcript"] == here["transcript"]


def test_a_replica_killed_during_a_burst_loses_no_turn(cluster, servers, tmp_path):
    _, spread = servers
    image = picture(tmp_path / "dot.png")
    before = replica_pids(cluster, "vision")
    assert len(before) == 2
    victim = min(before)
    answers: list[dict | BaseException] = []

    def one() -> None:
        try:
            answers.append(turn(spread, "describe this picture", image))
        except BaseException as e:  # noqa: BLE001 - counted below
            answers.append(e)

    turn(spread, "describe this picture", image)  # the front end knows both replicas
    burst = [threading.Thread(target=one) for _ in range(8)]
    for thread in burst:
        thread.start()
    time.sleep(0.3)
    os.kill(victim, 9)  # the replica's process dies mid-burst
    for thread in burst:
        thread.join(TURN_TIMEOUT)
    assert len(answers) == 8
    assert all(isinstance(a, dict) for a in answers), [a for a in answers if not isinstance(a, dict)]
    assert all(a["steps"][0]["ok"] and a["text"].strip() for a in answers), [a["text"] for a in answers]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # Serve starts a new replica in its place
        try:
            now = replica_pids(cluster, "vision")
            if len(now) == 2 and victim not in now:
                break
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        time.sleep(1)
    else:
        raise AssertionError("the killed vision replica was not replaced")


def test_a_full_painter_says_busy_and_finishes_what_it_accepted(servers):
    _, spread = servers
    answers: list[httpx.Response] = []

    def one(seed: int) -> None:
        with httpx.Client(timeout=TURN_TIMEOUT) as client:
            answers.append(client.post(spread.url + "/v1/images/generations", json={
                "prompt": "a lighthouse at night", "size": "512x512" if seed < 99 else "256x256",
                "steps": 100 if seed < 99 else 4, "seed": seed,
                "response_format": "b64_json"}))

    one(99)  # the front end's router knows the painter and its room (a cold router lets a first burst wait)
    assert answers.pop().status_code == 200
    # each picture keeps the painter busy for seconds (512×512, 100 steps): the six overlap
    crowd = [threading.Thread(target=one, args=(seed,)) for seed in range(6)]
    for thread in crowd:
        thread.start()
    for thread in crowd:
        thread.join(TURN_TIMEOUT)
    statuses = sorted(a.status_code for a in answers)
    assert len(answers) == 6 and set(statuses) <= {200, 429}, [a.text for a in answers]
    busy = [a for a in answers if a.status_code == 429]
    made = [a for a in answers if a.status_code == 200]
    assert busy and made
    assert all(int(a.headers["Retry-After"]) >= 1 and "The image service is busy" in a.json()["error"]["message"]
               for a in busy)
    assert all(len(a.json()["data"]) == 1 and a.json()["data"][0]["b64_json"] for a in made)


def test_cluster_status_shows_each_service_and_where_it_runs(cluster):
    rows = status(cluster)
    assert [r["service"] for r in rows] == ["speech", "vision", "reader", "painter", "voice", "translator"]
    assert all(r["status"] == "RUNNING" and r["replicas"] >= 1 for r in rows), rows
    vision = next(r for r in rows if r["service"] == "vision")
    assert vision["where"] and all(w["pid"] > 0 and w["host"] for w in vision["where"])


def status(address: str) -> list[dict]:
    env = ray_env(Path(tempfile.gettempdir()))
    shown = subprocess.run([sys.executable, "-m", "agent.cli", "cluster", "status", "--json", "--address", address],
                           env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return json.loads(shown.stdout)


def replica_pids(address: str, service: str) -> set[int]:
    row = next(r for r in status(address) if r["service"] == service)
    assert row["where"], row
    return {w["pid"] for w in row["where"]}


def test_diffusion_steps_come_back_and_a_client_that_leaves_stops_the_remote_call(cluster, servers):
    _, spread = servers
    steps, done = [], None
    with httpx.Client(timeout=TURN_TIMEOUT) as client:
        with client.stream("POST", spread.url + "/api/turn",
                           data={"text": "draw a lighthouse at night", "stream": "true"}) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    if event["type"] == "step.progress" and event["tool"] == "generate_image":
                        steps.append((event["done"], event["total"]))
                    elif event["type"] == "done":
                        done = event
    assert len(steps) >= 2 and [d for d, _ in steps] == sorted(d for d, _ in steps) and steps[-1][0] == steps[-1][1]
    assert done is not None and [a["kind"] for a in done["reply"]["artifacts"]] == ["image"]

    def painter() -> dict:
        return next(r for r in status(cluster) if r["service"] == "painter")["where"][0]

    stopped_before = painter()["stopped"]
    asking = subprocess.Popen([sys.executable, "-c", (
        "import httpx, sys; httpx.post(sys.argv[1] + '/v1/images/generations', timeout=600, json={"
        "'prompt': 'a lighthouse at night', 'size': '1024x1024', 'steps': 100, 'response_format': 'b64_json'})"),
        spread.url])
    time.sleep(4)  # a tiny 1024×1024 picture in 100 steps takes longer than this: the painter is painting
    asking.kill()  # the client goes away while the painter paints
    asking.wait(30)
    deadline = time.monotonic() + 120
    while painter()["stopped"] == stopped_before and time.monotonic() < deadline:
        time.sleep(0.5)
    after = painter()
    assert after["stopped"] == stopped_before + 1 and after["ongoing"] == 0
