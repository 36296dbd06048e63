"""``polychat imagine PROMPT -o out.png``: make a picture from a prompt."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from agent.errors import ToolError
from agent.cli.oneshot import add_common_options, emit, make_context


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "imagine",
        help="make a picture from a text prompt (Stable Diffusion)",
        description="Make a picture from a text prompt with Stable Diffusion and save it.",
    )
    parser.add_argument("prompt", help="what the picture should show")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to save the picture (.png, .jpg or .webp; default: ./imagine-SEED.png)")
    parser.add_argument("--negative", metavar="TEXT", help="what the picture should not show")
    parser.add_argument("--steps", type=int, help="denoising steps (default: 25 on a GPU, 20 on CPU)")
    parser.add_argument("--guidance", type=float, default=7.5, help="how closely to follow the prompt (default: 7.5)")
    parser.add_argument("--width", type=int, default=512, help="width in pixels, a multiple of 8 (default: 512)")
    parser.add_argument("--height", type=int, default=512, help="height in pixels, a multiple of 8 (default: 512)")
    parser.add_argument("--seed", type=int, help="fixes the randomness: the same seed gives the same picture")
    add_common_options(parser)
    parser.set_defaults(handler=imagine)


def _check_output(path: Path) -> Path:
    """Refuse an output path that cannot take a picture before any work is done."""
    from PIL import Image

    path = path.expanduser()
    if path.is_dir():
        raise ToolError(f"{path} is a folder; give a file name such as {path / 'picture.png'}.")
    if not path.parent.is_dir():
        raise ToolError(f"The folder {path.parent} does not exist; create it or choose another output path.")
    suffix = path.suffix.casefold()
    if suffix and suffix not in Image.registered_extensions():
        raise ToolError(f"Cannot save a picture as {suffix!r}; end the output name with .png, .jpg or .webp.")
    return path if suffix else path.with_suffix(".png")


def _save(source: Path, target: Path) -> None:
    """Write the generated PNG to ``target``, converting it when another format is asked for."""
    from PIL import Image

    if target.suffix.casefold() == ".png":
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        try:
            image.convert("RGB").save(target)
        except (OSError, ValueError, KeyError) as e:
            raise ToolError(f"Could not save the picture as {target.name} ({e}); use a .png name instead.") from e


def imagine(args: argparse.Namespace) -> int:
    """Run ``polychat imagine``; 0 when the picture was saved, 1 when it was withheld or refused."""
    from tools.imagine import GenerateImageTool

    output = _check_output(args.output) if args.output else None
    context = make_context(args)
    result = GenerateImageTool(context=context).execute(
        prompt=args.prompt,
        negative_prompt=args.negative,
        steps=args.steps,
        guidance=args.guidance,
        width=args.width,
        height=args.height,
        seed=args.seed,
    )
    payload = {"text": result.text, "path": None, **result.data}
    if not result.artifacts:  # the safety checker withheld it
        emit(args, result.text, payload)
        return 1
    target = output or Path.cwd() / f"imagine-{result.data['seed']}.png"
    _save(result.artifacts[0].path, target)
    payload["path"] = str(target)
    emit(args, f"{result.text} Saved to {target}.", payload)
    return 0
