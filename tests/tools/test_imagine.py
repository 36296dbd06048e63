"""generate_image and ``polychat imagine``, on the tiny random Stable Diffusion pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.errors import ToolError
from tools.imagine import (
    MAX_SEED,
    GenerateImageTool,
    check_size,
    default_steps,
    withheld_by_safety_checker,
)

ROOT = Path(__file__).resolve().parents[2]
FAST = {"steps": 2, "width": 64, "height": 64}  # a few steps at the smallest size keep tests quick


@pytest.fixture
def tool(tiny_context) -> GenerateImageTool:
    return GenerateImageTool(context=tiny_context)


def pixels(result) -> np.ndarray:
    return np.asarray(Image.open(result.artifacts[0].path))


def test_same_seed_same_pixels_different_seed_different_pixels(tool):
    first = tool.execute(prompt="a red fox in the snow", seed=1234, **FAST)
    again = tool.execute(prompt="a red fox in the snow", seed=1234, **FAST)
    other = tool.execute(prompt="a red fox in the snow", seed=4321, **FAST)

    assert first.text == "Made image-1 (64×64, seed 1234)."
    assert [r.data["image"] for r in (first, again, other)] == ["image-1", "image-2", "image-3"]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_size_is_honoured_and_the_image_is_a_generated_png(tool, tiny_context):
    result = tool.execute(prompt="a lighthouse", seed=7, steps=1, width=96, height=64)

    artifact = result.artifacts[0]
    assert artifact.kind == "image" and artifact.mime == "image/png"
    assert (artifact.origin, artifact.tool, artifact.turn) == ("generated", "generate_image", 1)
    assert tiny_context.artifacts.get(artifact.id) == artifact
    with Image.open(artifact.path) as image:
        assert image.format == "PNG"
        assert image.size == (96, 64)
        assert image.mode == "RGB"
    assert result.data == {
        "prompt": "a lighthouse", "negative_prompt": None, "seed": 7, "steps": 1, "guidance": 7.5,
        "width": 96, "height": 64, "image": artifact.id, "nsfw": False,
    }


def test_progress_is_reported_once_per_step(tool, tiny_context):
    calls: list[tuple[str, int, int]] = []
    tiny_context.progress = lambda label, done, total: calls.append((label, done, total))

    tool.execute(prompt="a boat", seed=3, steps=3, width=64, height=64, negative_prompt="blurry")

    assert calls == [("generate_image", 1, 3), ("generate_image", 2, 3), ("generate_image", 3, 3)]


def test_a_random_seed_is_reported_and_reproduces_the_image(tool):
    first = tool.execute(prompt="a teapot", **FAST)
    seed = first.data["seed"]
    assert isinstance(seed, int) and 0 <= seed <= MAX_SEED
    assert f"seed {seed})" in first.text

    again = tool.execute(prompt="a teapot", seed=seed, **FAST)
    assert np.array_equal(pixels(first), pixels(again))


def test_default_steps_depend_on_the_device(tool, monkeypatch):
    assert default_steps("cpu") == 20
    assert default_steps("cuda") == default_steps("mps") == 25
    # The tiny context runs on CPU, so the CPU default is used and reported (made small to stay quick).
    monkeypatch.setattr("tools.imagine.DEFAULT_STEPS_CPU", 2)
    calls: list[tuple[str, int, int]] = []
    tool.context.progress = lambda label, done, total: calls.append((label, done, total))
    assert tool.execute(prompt="a dot", seed=1, width=64, height=64).data["steps"] == 2
    assert calls[-1] == ("generate_image", 2, 2)


def test_langchain_invoke_returns_the_text(tool):
    assert tool.invoke({"prompt": "a cube", "seed": 11, **FAST}) == "Made image-1 (64×64, seed 11)."


@pytest.mark.parametrize(
    ("flags", "index", "withheld"),
    [
        (None, 0, False),  # pipelines without a safety checker report None
        ([], 0, False),
        ([False], 0, False),
        ([True], 0, True),
        ([False, True], 0, False),
        ([False, True], 1, True),
    ],
)
def test_safety_checker_decision(flags, index, withheld):
    assert withheld_by_safety_checker(flags, index) is withheld


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (65, 64, "The width 65 is not a multiple of 8; use 64 instead."),
        (64, 100, "The height 100 is not a multiple of 8; use 104 instead."),
        (32, 64, "The width 32 is out of range; choose 64 to 1024 pixels."),
        (64, 2048, "The height 2048 is out of range; choose 64 to 1024 pixels."),
        (64.0, 64, "The width must be a whole number of pixels, such as 512."),
    ],
)
def test_bad_sizes_are_one_sentence(width, height, message):
    with pytest.raises(ToolError) as error:
        check_size(width, height, max_pixels=40_000_000)
    assert str(error.value) == message


def test_the_pixel_limit_of_the_settings_applies():
    assert check_size(64, 64, max_pixels=4096) == (64, 64)
    with pytest.raises(ToolError, match=r"64×128 is more than the 4,096 pixels allowed"):
        check_size(64, 128, max_pixels=4096)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"prompt": "   "}, "The prompt is empty; give generate_image some words to work with."),
        ({"prompt": "a cat", "steps": 0}, "The number of steps must be a whole number from 1 to 100"),
        ({"prompt": "a cat", "steps": 101}, "The number of steps must be a whole number from 1 to 100"),
        ({"prompt": "a cat", "guidance": -1}, "The guidance must be a number from 0 to 30"),
        ({"prompt": "a cat", "seed": -5}, "The seed must be a whole number from 0 to 4294967295."),
        ({"prompt": "a cat", "width": 100}, "The width 100 is not a multiple of 8; use 104 instead."),
    ],
)
def test_bad_arguments_are_refused_before_loading(tiny_context, args, message):
    loads_before = tiny_context.models.load_count
    with pytest.raises(ToolError) as error:
        GenerateImageTool(context=tiny_context).execute(**args)
    assert str(error.value).startswith(message)
    assert tiny_context.models.load_count == loads_before


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCHAT_")}
    env.update(
        POLYCHAT_PROFILE="tiny", POLYCHAT_DATA_DIR=str(data_dir), POLYCHAT_DEVICE="cpu",
        HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )


def test_cli_saves_the_picture_and_prints_json(data_root, tmp_path):
    out = tmp_path / "fox.png"
    done = run_cli("imagine", "a red fox", "-o", str(out), "--seed", "42", "--steps", "2",
                   "--width", "64", "--height", "96", "--negative", "blurry", "--json",
                   data_dir=data_root, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["text"] == "Made image-1 (64×96, seed 42)."
    assert payload["path"] == str(out)
    assert (payload["seed"], payload["steps"], payload["width"], payload["height"]) == (42, 2, 64, 96)
    assert payload["negative_prompt"] == "blurry"
    with Image.open(out) as image:
        assert (image.format, image.size) == ("PNG", (64, 96))


def test_cli_converts_to_the_format_of_the_output_name(data_root, tmp_path):
    done = run_cli("imagine", "a red fox", "-o", str(tmp_path / "fox.jpg"), "--seed", "1", "--steps", "1",
                   "--width", "64", "--height", "64", data_dir=data_root, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Made image-1 (64×64, seed 1). Saved to {tmp_path / 'fox.jpg'}."
    with Image.open(tmp_path / "fox.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (64, 64))


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("a cat", "--width", "65"), "polychat: The width 65 is not a multiple of 8; use 64 instead."),
        (("",), "polychat: The prompt is empty; give generate_image some words to work with."),
        (("a cat", "-o", "missing-folder/cat.png"), "polychat: The folder missing-folder does not exist;"),
        (("a cat", "-o", "cat.txt"), "polychat: Cannot save a picture as '.txt';"),
    ],
)
def test_cli_bad_input_is_one_sentence(data_root, tmp_path, args, sentence):
    done = run_cli("imagine", *args, data_dir=data_root, cwd=tmp_path)

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(sentence)
    assert list(tmp_path.glob("*.png")) == []
