"""The one loader: choice of model, offline failures, sharing, budget, idle unload, locks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from agent.models import catalog
from agent.config import MODEL_SLOTS, Settings
from agent.errors import ModelUnavailableError
from agent.models.manager import ModelManager


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tiny_profile_backs_every_tool_with_a_tiny_model(tiny_settings):
    for choice in catalog.describe_all(tiny_settings):
        assert choice.present, choice
        assert choice.source.startswith("tiny:"), choice


def test_user_model_wins_over_profile(tmp_path):
    folder = tmp_path / "my-blip"
    folder.mkdir()
    settings = Settings(profile="tiny", data_dir=tmp_path, models={"caption_image": str(folder)})
    choice = catalog.resolve("caption_image", settings)
    assert (choice.source, choice.where, choice.present) == (str(folder), "local folder", True)


def test_missing_local_folder_is_reported_absent(tmp_path):
    settings = Settings(data_dir=tmp_path, models={"caption_image": str(tmp_path / "nope")})
    choice = catalog.resolve("caption_image", settings)
    assert not choice.present
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        ModelManager(settings).get("caption_image")


def test_offline_hub_model_fails_fast_with_the_fix(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE: the answer comes from the local cache alone, without probing the hub."""
    from agent.models import weights
    def no_probe(*args, **kwargs):
        raise AssertionError("the hub was probed although HF_HUB_OFFLINE is set")

    monkeypatch.setattr(weights, "hub_reachable", no_probe)
    monkeypatch.setattr(weights, "fetch", no_probe)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    settings = Settings(data_dir=tmp_path, device="cpu")
    with pytest.raises(ModelUnavailableError) as info:
        ModelManager(settings).get("caption_image")
    message = str(info.value)
    assert "caption_image" in message and "Salesforce/blip-image-captioning-base" in message
    assert "polychat models pull caption_image" in message and "POLYCHAT_PROFILE=tiny" in message


def test_unreachable_hub_is_one_bounded_probe(tmp_path, monkeypatch):
    """Without the offline flag, one probe bounded by HUB_PROBE_TIMEOUT decides; no download starts."""
    from agent.models import weights
    probes: list[float] = []

    def unreachable(timeout: float = weights.HUB_PROBE_TIMEOUT) -> bool:
        probes.append(timeout)
        return False

    def no_download(*args, **kwargs):
        raise AssertionError("a download started although the hub is unreachable")

    monkeypatch.setattr(weights, "hub_reachable", unreachable)
    monkeypatch.setattr(weights, "fetch", no_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError, match="the model hub cannot be reached"):
        ModelManager(Settings(data_dir=tmp_path, device="cpu")).get("caption_image")
    assert probes == [weights.HUB_PROBE_TIMEOUT] and weights.HUB_PROBE_TIMEOUT < 5  # the 5 s


def test_cli_offline_failure_is_one_line_and_nonzero(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "POLYCHAT_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "models", "check", "caption_image"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert "skipped: Salesforce/blip-image-captioning-base is not on this machine" in result.stdout
    listing = subprocess.run([sys.executable, "-m", "agent.cli", "models", "list"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert listing.returncode == 0
    for tool in MODEL_SLOTS:
        assert tool in listing.stdout
    assert "Traceback" not in result.stderr + listing.stderr


def test_same_checkpoint_is_shared_between_tools(tiny_manager):
    transcribe = tiny_manager.get("transcribe_audio")
    translate = tiny_manager.get("translate_speech")
    assert transcribe is translate
    assert type(transcribe.bundle.model).__name__ == "WhisperForConditionalGeneration"


def test_two_threads_load_a_model_once(tiny_settings):
    manager = ModelManager(tiny_settings)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(manager.get("caption_image"))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.load_count == 1
    assert results[0] is results[1]


def test_lru_eviction_under_budget(tiny_settings):
    probe = ModelManager(tiny_settings)
    blip_bytes = probe.get("caption_image").nbytes
    vqa_bytes = probe.get("answer_image_question").nbytes
    budget_mb = (max(blip_bytes, vqa_bytes) * 1.5) / 2**20  # room for one of them, not two
    clock = FakeClock()
    manager = ModelManager(tiny_settings.with_overrides(memory_budget_mb=budget_mb), clock=clock)
    manager.get("caption_image")
    clock.now += 1
    manager.get("answer_image_question")
    families = [m.family for m in manager.loaded()]
    assert families == ["blip-vqa"]  # the least recently used one went
    assert manager.total_bytes() <= budget_mb * 2**20


def test_model_in_use_is_not_evicted(tiny_settings):
    manager = ModelManager(tiny_settings.with_overrides(memory_budget_mb=0.001))
    with manager.use("caption_image") as bundle:
        manager.get("answer_image_question")
        assert {m.family for m in manager.loaded()} == {"blip-caption", "blip-vqa"}
        assert bundle.processor is not None


def test_idle_models_are_unloaded(tiny_settings):
    clock = FakeClock()
    manager = ModelManager(tiny_settings.with_overrides(idle_unload_seconds=60), clock=clock)
    manager.get("caption_image")
    clock.now += 30
    manager.get("answer_image_question")
    clock.now += 31  # caption idle 61 s, vqa 31 s
    unloaded = manager.sweep_idle()
    assert [key[0] for key in unloaded] == ["blip-caption"]
    assert [m.family for m in manager.loaded()] == ["blip-vqa"]
    manager.close()


def test_use_serialises_callers_of_one_model(tiny_settings):
    manager = ModelManager(tiny_settings)
    inside = 0
    most_inside = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, most_inside
        with manager.use("caption_image"):
            with guard:
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.05)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most_inside == 1


def test_pull_without_the_hub_is_one_sentence(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "POLYCHAT_DATA_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "agent.cli", "models", "pull", "caption_image"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "polychat: HF_HUB_OFFLINE is set; unset it to download models."


def test_fastest_installed_engines_come_first(tmp_path, monkeypatch):
    """BENCHMARKS.md: faster-whisper and Piper are tried before transformers and SpeechT5."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    settings = Settings(data_dir=tmp_path)
    assert catalog.preferred_backends("transcribe_audio") == ["faster-whisper", "transformers"]
    assert catalog.preferred_backends("speak_text") == ["piper", "speecht5"]
    assert catalog.preferred_backends("chat") == ["transformers"]  # servers only when configured
    speech = catalog.resolve("speak_text", settings)
    assert (speech.backend, speech.source) == ("piper", "package:piper-joe")
    pinned = catalog.resolve("speak_text", settings.with_overrides(backends={"speak_text": "speecht5"}))
    assert (pinned.backend, pinned.source, pinned.present) == ("speecht5", "microsoft/speecht5_tts", False)
    assert catalog.resolve("chat", settings).backend == "transformers"
