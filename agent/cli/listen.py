"""Live transcription in chunks, from the microphone or a recording streamed the same way."""

from __future__ import annotations

import argparse
import queue
from collections.abc import Iterator

import numpy as np

from agent.errors import ToolError
from agent.media import SAMPLE_RATE, decode_audio

BLOCK_SECONDS = 0.5  # seconds per block read from the source


def file_blocks(path: str, max_seconds: float) -> Iterator[np.ndarray]:
    """A recording cut into blocks, as a microphone would deliver it."""
    samples = decode_audio(path, max_seconds=max_seconds)
    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    for start in range(0, len(samples), block):
        yield samples[start : start + block]


def microphone_blocks(
    block_seconds: float = BLOCK_SECONDS, instead: str = "transcribe a recording with 'polychat listen --file FILE'"
) -> Iterator[np.ndarray]:
    """Blocks of 16 kHz mono float32 audio from the default input device, until Ctrl-C.

    Args:
        block_seconds: seconds per block.
        instead: what to do without a microphone, for the sentence that says there is none.
    """
    try:
        import sounddevice as sd

        sd.query_devices(kind="input")
    except Exception as e:  # no PortAudio, no device
        raise ToolError(
            f"No microphone was found (or no sound system to reach it); plug one in, or {instead}."
        ) from e
    blocks: queue.Queue[np.ndarray] = queue.Queue()

    def on_audio(data, frames, time_info, status) -> None:  # noqa: ARG001 - sounddevice's signature
        blocks.put(data[:, 0].copy())

    with sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                        blocksize=int(block_seconds * SAMPLE_RATE), callback=on_audio):
        while True:
            yield blocks.get()


FRAME_SECONDS = 0.05  # seconds per energy frame when looking for a pause to cut at
SEARCH_FRACTION = 0.4  # look for the quietest moment in the last 40 % of a chunk


def quietest_cut(samples: np.ndarray, earliest: int) -> int:
    """The sample index after ``earliest`` where the audio is quietest (a pause between words)."""
    frame = int(FRAME_SECONDS * SAMPLE_RATE)
    tail = samples[earliest:]
    count = len(tail) // frame
    if count < 2:
        return len(samples)
    energy = np.square(tail[: count * frame]).reshape(count, frame).mean(axis=1)
    return earliest + int(np.argmin(energy)) * frame + frame // 2


def chunks(blocks: Iterator[np.ndarray], chunk_seconds: float) -> Iterator[tuple[float, np.ndarray]]:
    """Group blocks into chunks of about ``chunk_seconds``, cut at a pause; yield (start seconds, samples).

    A word cut in half is lost to both chunks, so each cut is placed at the quietest
    moment of the chunk's last part; what follows the cut starts the next chunk.
    """
    wanted = int(chunk_seconds * SAMPLE_RATE)
    buffer = np.zeros(0, dtype=np.float32)
    start = 0.0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        if len(buffer) >= wanted:
            cut = quietest_cut(buffer, int(len(buffer) * (1 - SEARCH_FRACTION)))
            yield start, buffer[:cut]
            start += cut / SAMPLE_RATE
            buffer = buffer[cut:]
    if len(buffer):
        yield start, buffer


def is_silent(samples: np.ndarray, threshold: float = 0.01) -> bool:
    """Whether a chunk holds no speech worth sending (RMS below ``threshold``)."""
    return float(np.sqrt(np.mean(np.square(samples)))) < threshold if len(samples) else True


def listen(
    *, file: str | None = None, chunk_seconds: float = 5.0, language: str | None = None, translate: bool = False
) -> Iterator[str]:
    """Transcribe a live source chunk by chunk; yield one printable line per chunk."""
    from agent.cli.oneshot import make_context
    from tools import make_tool

    if chunk_seconds <= 0:
        raise ToolError("--chunk-seconds must be a positive number of seconds.")
    context = make_context(argparse.Namespace())
    tool = make_tool("translate_speech" if translate else "transcribe_audio", context)
    blocks = file_blocks(file, context.settings.max_audio_seconds) if file else microphone_blocks()
    for start, samples in chunks(blocks, chunk_seconds):
        if is_silent(samples):
            continue
        artifact = context.artifacts.add_audio(samples, SAMPLE_RATE, origin="uploaded", turn=1)
        args = {"audio": artifact.id}
        if language:
            args["language"] = language
        text = tool.execute(**args).text.strip()
        if text:
            end = start + len(samples) / SAMPLE_RATE
            yield f"[{start:6.1f} → {end:6.1f}] {text}"


def register(subparsers: argparse._SubParsersAction) -> None:
    listen_parser = subparsers.add_parser("listen", help="live transcription from the microphone")
    listen_parser.add_argument("--file", metavar="FILE", help="stream a recording instead of the microphone")
    listen_parser.add_argument("--chunk-seconds", type=float, default=5.0, help="seconds of audio per chunk")
    listen_parser.add_argument("--language", help="language hint, e.g. en or French")
    listen_parser.add_argument("--translate", action="store_true", help="translate the speech into English")
    listen_parser.set_defaults(handler=run_listen)


def run_listen(args: argparse.Namespace) -> int:
    for line in listen(file=args.file, chunk_seconds=args.chunk_seconds, language=args.language,
                       translate=args.translate):
        print(line, flush=True)
    return 0
