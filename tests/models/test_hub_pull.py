"""First run on a connected machine: ``polychat models pull`` against a hub stand-in.

The stand-in (``tests/hub_standin.py``) serves the real repositories' file lists
(``tests/data/hub_listings``) on loopback; ``HF_ENDPOINT`` points polychat at it, as a
person points it at a mirror. Nothing here reaches the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from agent.errors import PolychatError
from agent.models import hub
from cli_helpers import ROOT, cli_env
from hub_standin import StandIn

LISTINGS = ROOT / "tests" / "data" / "hub_listings"


def real_listing(repo: str) -> list[hub.RepoFile]:
    data = json.loads((LISTINGS / f"{repo.replace('/', '--')}.json").read_text())
    return [hub.RepoFile(f["path"], f["size"], f.get("sha256")) for f in data["files"]]


def sizes(repo: str) -> dict[str, int]:
    return {f.path: f.size for f in real_listing(repo)}


# What each default model loads, by hand from the real repos (the layouts must agree).
DECLARED = {
    "Systran/faster-whisper-small": {"config.json", "model.bin", "tokenizer.json", "vocabulary.txt"},
    "Salesforce/blip-image-captioning-base": {
        "config.json", "model.safetensors", "preprocessor_config.json", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json", "vocab.txt"},
    "Helsinki-NLP/opus-mt-en-fr": {
        "config.json", "generation_config.json", "pytorch_model.bin", "source.spm", "target.spm",
        "tokenizer_config.json", "vocab.json"},
    "Qwen/Qwen2.5-0.5B-Instruct": {
        "config.json", "generation_config.json", "merges.txt", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json", "vocab.json"},
    "microsoft/speecht5_hifigan": {"config.json", "pytorch_model.bin"},
    "Matthijs/cmu-arctic-xvectors": {"spkrec-xvect.zip"},
}
SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD_CONFIGS = {
    "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json", "tokenizer/merges.txt",
    "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "unet/config.json",
    "vae/config.json", "safety_checker/config.json", "feature_extractor/preprocessor_config.json",
}
SD_FP32 = SD_CONFIGS | {
    "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors", "safety_checker/model.safetensors"}
SD_FP16 = SD_CONFIGS | {
    "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors",
    "text_encoder/model.fp16.safetensors", "safety_checker/model.fp16.safetensors"}


# --------------------------------------------------------------------------- layouts on the real listings


@pytest.mark.parametrize("repo", sorted(r for r in DECLARED if r != "Matthijs/cmu-arctic-xvectors"))
def test_each_layout_takes_only_the_files_its_loader_reads(repo):
    layout = "ctranslate2" if repo.startswith("Systran/") else "transformers"
    chosen = {f.path for f in hub.LAYOUTS[layout](real_listing(repo), "fp32")}
    assert chosen == DECLARED[repo]


def test_blip_takes_safetensors_and_leaves_its_pytorch_and_tensorflow_copies():
    chosen = {f.path for f in hub.transformers_files(real_listing("Salesforce/blip-image-captioning-base"), "fp32")}
    assert "model.safetensors" in chosen and not {"pytorch_model.bin", "tf_model.h5"} & chosen


def test_stable_diffusion_takes_one_precision_and_no_single_file_checkpoints():
    files = real_listing(SD)
    fp32 = {f.path for f in hub.diffusers_files(files, "fp32")}
    fp16 = {f.path for f in hub.diffusers_files(files, "fp16")}
    assert fp32 == SD_FP32 and fp16 == SD_FP16
    listed = sizes(SD)
    fp32_bytes = sum(listed[p] for p in fp32)
    assert 5.4e9 < fp32_bytes < 5.6e9  # the unet alone is 3.44 GB in fp32
    assert 2.6e9 < sum(listed[p] for p in fp16) < 2.8e9
    assert sum(listed.values()) > 40e9  # what a take-everything download would have cost


def test_a_pipeline_index_without_a_safety_checker_leaves_its_folder():
    chosen = {f.path for f in hub.diffusers_files(real_listing(SD), "fp32", {"unet", "vae", "text_encoder",
                                                                           "tokenizer", "scheduler"})}
    assert chosen == SD_FP32 - {"safety_checker/config.json", "safety_checker/model.safetensors",
                                "feature_extractor/preprocessor_config.json"}


def test_a_cut_safetensors_file_is_found_without_reading_it_all(tmp_path):
    import torch
    from safetensors.torch import save_file

    whole = tmp_path / "model.safetensors"
    save_file({"weight": torch.zeros(256, 256)}, str(whole))
    assert hub.damage(whole) is None
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert hub.damage(cut) == "it is cut short"
    assert hub.damage(whole, expected_size=whole.stat().st_size + 1).startswith("it has ")


def test_old_pytorch_pickles_are_whole_and_a_cut_zip_is_not(tmp_path):
    import torch

    old = tmp_path / "pytorch_model.bin"
    torch.save({"weight": torch.zeros(64, 64)}, old, _use_new_zipfile_serialization=False)  # before torch 1.6
    assert hub.damage(old) is None
    new = tmp_path / "new" / "pytorch_model.bin"
    new.parent.mkdir()
    torch.save({"weight": torch.zeros(64, 64)}, new)
    assert hub.damage(new) is None
    new.write_bytes(new.read_bytes()[:-200])
    assert hub.damage(new) == "it is cut short or damaged"


def test_a_pull_that_does_not_fit_on_the_disk_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    plan = hub.RepoPlan(SD, "Stable Diffusion 1.5", files=[hub.RepoFile("unet/x.safetensors", 3_438_167_536)],
                        revision="0" * 40)
    monkeypatch.setattr(hub.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2e9, 1e9, 1_000_000_000))
    with pytest.raises(PolychatError) as caught:
        hub.check_disk([plan])
    assert str(caught.value).startswith("The models need 3.4 GB more but only 1.0 GB is free on the disk of ")
    assert str(caught.value).endswith("free some space, or set HF_HOME to a folder on a bigger disk.")


# --------------------------------------------------------------------------- against the stand-in


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    standin = StandIn(tmp_path_factory.mktemp("tiny-hub"), "--mode", "tiny").start()
    yield standin
    standin.kill()


@pytest.fixture(scope="module")
def real_hub(tmp_path_factory):
    standin = StandIn(tmp_path_factory.mktemp("real-hub"), "--mode", "real").start()
    yield standin
    standin.kill()


def hub_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    """A connected machine with an empty Hugging Face cache whose hub is ``url``."""
    env = cli_env(tmp_path / "data", POLYCHAT_PROFILE="default", HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"),
                  HF_ENDPOINT=url)
    env.pop("HF_TOKEN", None)
    return {**env, **extra}


def polychat(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=env["POLYCHAT_DATA_DIR"].rsplit("/", 1)[0])


def blobs(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "hf" / "hub").rglob("blobs/*") if p.is_file()]


def snapshots(tmp_path: Path) -> dict[str, set[str]]:
    """The files of each repo's snapshot in the cache, by repo id."""
    found: dict[str, set[str]] = {}
    for repo_dir in (tmp_path / "hf" / "hub").glob("*s--*"):
        repo = repo_dir.name.split("--", 1)[1].replace("--", "/")
        for snapshot in (repo_dir / "snapshots").iterdir():
            found.setdefault(repo, set()).update(
                str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    return found


def test_the_dry_run_reports_the_real_repos_sizes_and_downloads_nothing(tmp_path, real_hub):
    (tmp_path / "data").mkdir()
    result = polychat(hub_env(tmp_path, real_hub.url), "models", "pull", "--dry-run", "generate_image", "caption_image")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    listed = sizes(SD)
    sd_total = sum(listed[p] for p in SD_FP32)
    assert [line.split()[-2:] for line in out.splitlines() if "= 15 files" in line] == [hub.human_size(sd_total).split()]
    assert "unet/diffusion_pytorch_model.safetensors" in out and "3.4 GB" in out
    assert "not needed: 21 files" in out and "v1-5-pruned.ckpt" in out
    blip = sizes("Salesforce/blip-image-captioning-base")
    blip_total = sum(blip[p] for p in DECLARED["Salesforce/blip-image-captioning-base"])
    assert f"Total: {hub.human_size(sd_total + blip_total)} in 22 files" in out
    assert "Dry run: nothing was downloaded." in out
    # only the pipeline's index (to read which components it loads) came down
    assert [r["file"] for r in real_hub.requests() if r.get("method") == "GET" and "file" in r] == ["model_index.json"]


def test_pulling_every_default_model_fetches_only_the_declared_files(tmp_path, tiny_hub):
    (tmp_path / "data").mkdir()
    result = polychat(hub_env(tmp_path, tiny_hub.url), "models", "pull")
    assert result.returncode == 0, result.stdout + result.stderr
    fetched: dict[str, set[str]] = {}
    sent = 0
    for request in tiny_hub.requests():
        if request.get("method") == "GET" and "file" in request:
            fetched.setdefault(request["repo"], set()).add(request["file"])
            sent += request["sent"]
    kept = snapshots(tmp_path)
    for repo, files in DECLARED.items():
        assert kept[repo] == files, repo
        assert fetched[repo] <= files, repo  # two files with the same bytes are one blob, fetched once
    # the tiny pipeline's index names no safety checker, so its folder stays on the hub too
    assert kept[SD] == SD_FP32 - {"safety_checker/config.json", "safety_checker/model.safetensors",
                                  "feature_extractor/preprocessor_config.json"}
    assert set(kept) == set(fetched) == {*DECLARED, SD, "Salesforce/blip-vqa-base", "microsoft/trocr-base-printed",
                                         "microsoft/speecht5_tts", "Helsinki-NLP/opus-mt-fr-en",
                                         "Helsinki-NLP/opus-mt-en-hi"}
    assert sent == sum(p.stat().st_size for p in blobs(tmp_path))  # every byte sent is a file kept, once
    assert result.stdout.count(": ready.") == 12


def test_a_cut_connection_resumes_where_it_stopped(tmp_path):
    whisper = "openai/whisper-small"
    standin = StandIn(tmp_path / "hub", "--mode", "tiny", "--repo", whisper)
    (tmp_path / "hub").mkdir()
    (tmp_path / "data").mkdir()
    standin.start("--rate", "100000")  # 100 kB/s: the 950 kB weights take seconds
    try:
        resume_after_a_cut(standin, tmp_path)
    finally:
        standin.kill()


def resume_after_a_cut(standin: StandIn, tmp_path: Path) -> None:
    env = hub_env(tmp_path, standin.url, POLYCHAT_TRANSCRIBE_AUDIO_BACKEND="transformers")
    pulling = subprocess.Popen([sys.executable, "-m", "agent.cli", "models", "pull", "transcribe_audio"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    part = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and pulling.poll() is None:
        parts = [p for p in (tmp_path / "hf").rglob("*.part") if size_of(p) >= hub.CHUNK_BYTES]
        if parts:
            part = parts[0]
            break
        time.sleep(0.02)
    assert part is not None, "the weights never started downloading"
    standin.kill()  # the connection drops mid-file
    out, err = pulling.communicate(timeout=120)
    assert pulling.returncode == 1, out + err
    assert "check the connection (or HF_ENDPOINT) and pull again: finished files are kept and a cut file resumes" \
        in out
    kept = part.stat().st_size
    done_before = {r["file"] for r in standin.requests() if r.get("method") == "GET" and r.get("sent")}
    assert kept % hub.CHUNK_BYTES == 0 and kept > 0

    standin.start()  # the same hub, back, at full speed
    result = polychat(env, "models", "pull", "transcribe_audio")
    assert result.returncode == 0, result.stdout + result.stderr
    again = [r for r in standin.requests() if r.get("method") == "GET" and "file" in r]
    weights = [r for r in again if r["file"] == "model.safetensors"]
    assert len(weights) == 1 and weights[0]["range"] == f"bytes={kept}-" and weights[0]["status"] == 206
    whole = (tmp_path / "hf" / "hub" / "models--openai--whisper-small" / "snapshots").glob("*/model.safetensors")
    assert kept + weights[0]["sent"] == next(whole).stat().st_size > kept  # only the rest came down
    assert "config.json" in done_before and "config.json" not in {r["file"] for r in again}  # whole files stay


def size_of(path: Path) -> int:
    """A file's size, 0 once it is gone (a finished part is renamed to its blob)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def caption_turn(env: dict[str, str], image: Path) -> subprocess.CompletedProcess:
    return polychat(env, "ask", "--stream", "--image", str(image), "describe this picture")


def test_the_first_turn_that_needs_a_model_streams_its_download_and_a_cut_file_is_fetched_again(tmp_path, tiny_hub):
    (tmp_path / "data").mkdir()
    image = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    env = hub_env(tmp_path, tiny_hub.url)
    result = caption_turn(env, image)
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    downloads = [e for e in events if e["type"] == "step.progress" and e.get("unit") == "bytes"]
    assert downloads and {e["label"] for e in downloads} == {"Downloading BLIP captioning"}
    assert downloads[-1]["done"] == downloads[-1]["total"] > 100_000 and downloads[0]["tool"] == "caption_image"
    finished = [e for e in events if e["type"] == "step.finished"]
    assert finished and finished[0]["ok"] and finished[0]["text"].strip()  # the caption of the tiny model

    weights = next(p for p in blobs(tmp_path) if p.stat().st_size > 100_000)
    weights.write_bytes(weights.read_bytes()[:50_000])  # a disk error cut the file
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    result = polychat(offline, "caption", str(image))
    assert result.returncode == 1
    assert ("The caption_image model Salesforce/blip-image-captioning-base on this machine is damaged "
            "(its file model.safetensors: it is cut short); run 'polychat models pull caption_image' on a connected "
            "machine to fetch it again.") in result.stderr
    result = caption_turn(env, image)  # connected: fetched again, then answered
    assert result.returncode == 0, result.stdout + result.stderr
    assert hub.damage(weights) is None


def test_a_gated_model_says_how_to_accept_its_licence(tmp_path):
    (tmp_path / "hub").mkdir()
    (tmp_path / "data").mkdir()
    standin = StandIn(tmp_path / "hub", "--mode", "tiny", "--repo", "Salesforce/blip-image-captioning-base",
                      "--gated", "Salesforce/blip-image-captioning-base", "--token", "hf_stand_in")
    standin.start()
    try:
        result = polychat(hub_env(tmp_path, standin.url), "models", "pull", "caption_image")
        assert result.returncode == 1
        assert (f"Salesforce/blip-image-captioning-base is a gated model: accept its licence at "
                f"{standin.url}/Salesforce/blip-image-captioning-base while signed in, then set HF_TOKEN") in result.stdout
        result = polychat(hub_env(tmp_path, standin.url, HF_TOKEN="hf_stand_in"), "models", "pull", "caption_image")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Salesforce/blip-image-captioning-base: ready." in result.stdout
    finally:
        standin.kill()


def test_stable_diffusion_loads_the_one_precision_that_was_pulled(tmp_path, tiny_settings):
    """A GPU machine pulls the fp16 files only; a folder with both loads fp32 on the CPU, fp16 for half precision."""
    import torch
    from diffusers import StableDiffusionPipeline

    from agent.models.loaders import diffusers_variant, load_stable_diffusion
    from agent.models.tiny import ensure_tiny

    tiny = StableDiffusionPipeline.from_pretrained(ensure_tiny("stable-diffusion", tiny_settings.tiny_dir))
    half_only = tmp_path / "fp16"
    tiny.to(torch.float16).save_pretrained(half_only, variant="fp16")
    assert sorted(p.name for p in (half_only / "unet").iterdir()) == ["config.json",
                                                                      "diffusion_pytorch_model.fp16.safetensors"]
    assert diffusers_variant(half_only, torch.float32) == "fp16"
    bundle = load_stable_diffusion(half_only, "cpu", torch.float32)
    assert bundle.model.unet.dtype == torch.float32  # fp16 weights, run in fp32 on the CPU

    both = tmp_path / "both"
    tiny.save_pretrained(both)
    tiny.to(torch.float16).save_pretrained(both, variant="fp16")
    assert diffusers_variant(both, torch.float32) is None and diffusers_variant(both, torch.float16) == "fp16"
