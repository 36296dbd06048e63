"""generate_image: a picture from a text prompt, made by Stable Diffusion."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from agent.errors import ToolError
from agent.models import loaders
from agent.models.backends import Backend
from tools.base import PolychatTool, ToolResult

log = logging.getLogger(__name__)

DEFAULT_SIZE = 512  # px, what Stable Diffusion v1.5 was trained on
MIN_SIDE = 64  # px
MAX_SIDE = 1024  # px; larger sides cost minutes and give repeated subjects in SD v1.5
SIZE_MULTIPLE = 8  # px; the VAE works on 8×8 blocks
DEFAULT_STEPS_GPU = 25  # denoising steps on CUDA / MPS (DPM-Solver++: enough for a finished image)
DEFAULT_STEPS_CPU = 20  # denoising steps on CPU, where each step takes seconds
MAX_STEPS = 100  # denoising steps; more adds nothing visible
DEFAULT_GUIDANCE = 7.5  # classifier-free guidance scale, SD v1.5's default
MAX_GUIDANCE = 30.0  # guidance scale; far above this images burn out
MAX_SEED = 2**32 - 1  # seeds are unsigned 32-bit so they are easy to read and type

BACKENDS: dict[str, tuple[Backend, ...]] = {
    "generate_image": (
        Backend(
            "diffusers",
            loaders.load_stable_diffusion,
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            tiny="tiny:stable-diffusion",
            module="diffusers",
            torch=True,
            marker="model_index.json",
            layout="diffusers",
            title="Stable Diffusion 1.5",
        ),
    ),
}


class GenerateImageInput(BaseModel):
    prompt: str = Field(
        description="What the picture should show, in English, as a short visual description "
        "(subject, setting, style), e.g. 'a red fox in a snowy forest, watercolor'."
    )
    negative_prompt: str | None = Field(
        default=None,
        description="Things the picture should NOT show, e.g. 'blurry, text, watermark'. Optional.",
    )
    steps: int | None = Field(
        default=None,
        description=f"Denoising steps, 1 to {MAX_STEPS}; more is slower and a little finer. "
        f"Leave empty for the default ({DEFAULT_STEPS_GPU} on a GPU, {DEFAULT_STEPS_CPU} on CPU).",
    )
    guidance: float = Field(
        default=DEFAULT_GUIDANCE,
        description=f"How closely to follow the prompt, 0 to {MAX_GUIDANCE:g}; {DEFAULT_GUIDANCE} is usual.",
    )
    width: int = Field(
        default=DEFAULT_SIZE,
        description=f"Width in pixels, a multiple of {SIZE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}.",
    )
    height: int = Field(
        default=DEFAULT_SIZE,
        description=f"Height in pixels, a multiple of {SIZE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}.",
    )
    seed: int | None = Field(
        default=None,
        description="A number that fixes the randomness: the same seed and prompt give the same image. "
        "Only set it when the user gives one or asks to reproduce an image.",
    )


def withheld_by_safety_checker(flags: Sequence[bool | None] | None, index: int = 0) -> bool:
    """Whether the pipeline's safety checker flagged image ``index``.

    Args:
        flags: the pipeline output's ``nsfw_content_detected``: one flag per image,
            or None when the pipeline has no safety checker.
        index: which image of the batch.
    """
    if not flags or index >= len(flags):
        return False
    return bool(flags[index])


def check_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Validate an image size for Stable Diffusion.

    Args:
        width: in pixels.
        height: in pixels.
        max_pixels: the settings' limit on width × height.

    Returns:
        ``(width, height)`` as ints.

    Raises:
        ToolError: a side is not a multiple of 8, out of range, or the area is too large.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolError(f"The {name} must be a whole number of pixels, such as {DEFAULT_SIZE}.")
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ToolError(f"The {name} {value} is out of range; choose {MIN_SIDE} to {MAX_SIDE} pixels.")
        if value % SIZE_MULTIPLE:
            nearest = max(MIN_SIDE, min(MAX_SIDE, (value + SIZE_MULTIPLE // 2) // SIZE_MULTIPLE * SIZE_MULTIPLE))
            raise ToolError(f"The {name} {value} is not a multiple of {SIZE_MULTIPLE}; use {nearest} instead.")
    if width * height > max_pixels:
        raise ToolError(
            f"{width}×{height} is more than the {max_pixels:,} pixels allowed; choose a smaller size "
            f"or raise POLYCHAT_MAX_IMAGE_PIXELS."
        )
    return int(width), int(height)


def default_steps(device: str) -> int:
    """The number of denoising steps used when none is asked for, per device."""
    return DEFAULT_STEPS_CPU if device == "cpu" else DEFAULT_STEPS_GPU


def _check_steps(steps: int | None) -> int | None:
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ToolError(
            f"The number of steps must be a whole number from 1 to {MAX_STEPS}; {DEFAULT_STEPS_GPU} is usual."
        )
    return steps


def _check_guidance(guidance: float) -> float:
    if isinstance(guidance, bool) or not isinstance(guidance, int | float) or not 0 <= guidance <= MAX_GUIDANCE:
        raise ToolError(f"The guidance must be a number from 0 to {MAX_GUIDANCE:g}; {DEFAULT_GUIDANCE} is usual.")
    return float(guidance)


def _check_seed(seed: int | None) -> int:
    if seed is None:
        return secrets.randbelow(MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ToolError(f"The seed must be a whole number from 0 to {MAX_SEED}.")
    return seed


class GenerateImageTool(PolychatTool):
    """Text → image with Stable Diffusion; the image becomes a new artifact."""

    name: str = "generate_image"
    description: str = (
        "Create a new picture from a text description (text-to-image). Use when the user asks to "
        "draw, paint, sketch, generate, imagine or make an image, picture, photo or illustration. "
        "Not for describing or reading an existing image. Returns the id of the new image."
    )
    args_schema: type[BaseModel] = GenerateImageInput

    def execute(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        steps: int | None = None,
        guidance: float = DEFAULT_GUIDANCE,
        width: int = DEFAULT_SIZE,
        height: int = DEFAULT_SIZE,
        seed: int | None = None,
        **_: Any,
    ) -> ToolResult:
        """Generate one image.

        Args:
            prompt: what the picture shows.
            negative_prompt: what it must not show.
            steps: denoising steps (default depends on the device).
            guidance: classifier-free guidance scale.
            width: in pixels, a multiple of 8.
            height: in pixels, a multiple of 8.
            seed: fixes the randomness; chosen at random (and reported) when None.

        Returns:
            The new image's artifact, or a note that the safety checker withheld it.

        Raises:
            ToolError: empty prompt or an option out of range.
            ModelUnavailableError: the Stable Diffusion weights are not on this machine.
        """
        prompt = self.check_text(prompt, "prompt")
        negative = (negative_prompt or "").strip() or None
        width, height = check_size(width, height, self.context.settings.max_image_pixels)
        guidance = _check_guidance(guidance)
        seed = _check_seed(seed)
        asked_steps = _check_steps(steps)

        import torch

        with self.context.models.use(self.name, **self.context.model_kwargs()) as bundle:
            pipe = bundle.model
            steps = asked_steps or default_steps(bundle.device)
            # Generators on MPS are not reproducible across runs; the CPU one is.
            generator = torch.Generator(device="cuda" if bundle.device == "cuda" else "cpu").manual_seed(seed)

            def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                total = getattr(pipeline, "num_timesteps", None) or steps
                self.context.report(self.name, step + 1, total)
                return tensors

            log.debug("Generating %dx%d, %d steps, seed %d", width, height, steps, seed)
            with torch.inference_mode():
                output = pipe(
                    prompt,
                    negative_prompt=negative,
                    num_inference_steps=steps,
                    guidance_scale=guidance,
                    width=width,
                    height=height,
                    generator=generator,
                    callback_on_step_end=on_step_end,
                    output_type="pil",
                )

        data: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative,
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
            "width": width,
            "height": height,
        }
        if withheld_by_safety_checker(getattr(output, "nsfw_content_detected", None)):
            return ToolResult(
                "The safety checker flagged the picture as not safe for work, so I withheld it; "
                "try a different prompt.",
                data={**data, "image": None, "nsfw": True},
            )
        image = output.images[0]
        artifact = self.context.artifacts.add_image(image, **self.context.generated(self.name))
        return ToolResult(
            f"Made {artifact.id} ({image.width}×{image.height}, seed {seed}).",
            artifacts=[artifact],
            data={**data, "image": artifact.id, "nsfw": False},
        )
