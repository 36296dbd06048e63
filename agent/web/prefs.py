"""Each person's preferences in the browser chat: the ⚙ settings panel and what it changes.

Chainlit keeps the panel's values with the conversation (and restores them when a
conversation is reopened); :class:`Prefs` reads them and turns them into the
settings and per-tool defaults of a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.config import Settings

IMAGE_STEPS_MAX = 100  # denoising steps; generate_image refuses more
MAX_SEED = 2**32 - 1  # generate_image takes unsigned 32-bit seeds
SILENCE_RANGE = (0.3, 3.0)  # seconds of silence that may end a spoken turn (the panel's slider)


def parse_seed(raw: Any) -> int | None:
    """A seed typed in the settings panel: a whole number 0..2**32-1, or None (empty or invalid)."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or int(text) > MAX_SEED:
        return None
    return int(text)


def parse_silence(raw: Any, default: float) -> float:
    """The end-of-turn silence chosen in the panel, within :data:`SILENCE_RANGE` (else ``default``)."""
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return default
    if seconds != seconds or seconds <= 0:  # NaN or nothing chosen
        return default
    low, high = SILENCE_RANGE
    return min(high, max(low, seconds))


@dataclass(frozen=True)
class Prefs:
    """One person's chat settings.

    Attributes:
        base: the server's settings, which the preferences adjust.
        spoken_replies: answer voice messages out loud.
        keep_listening: hands-free; the microphone stays open between turns.
        barge_in: in hands-free mode, speaking over a reply stops it and is answered.
        silence_seconds: the silence after speech that ends a spoken turn.
        voice: the speak_text voice ("" = the backend's default).
        target_language: the language of "translate this".
        image_steps: denoising steps of generate_image (0 = the tool's default).
        image_seed: fixed seed of generate_image (None = a new one each time).
    """

    base: Settings
    spoken_replies: bool
    keep_listening: bool
    barge_in: bool
    silence_seconds: float
    voice: str
    target_language: str
    image_steps: int
    image_seed: int | None

    @classmethod
    def from_panel(cls, chosen: dict[str, Any] | None, base: Settings) -> Prefs:
        """Read the panel's values (missing or malformed ones fall back to ``base``)."""
        chosen = dict(chosen or {})
        steps = chosen.get("image_steps", 0)
        return cls(
            base=base,
            spoken_replies=bool(chosen.get("spoken_replies", base.spoken_replies)),
            keep_listening=bool(chosen.get("keep_listening", False)),
            barge_in=bool(chosen.get("barge_in", True)),
            silence_seconds=parse_silence(chosen.get("silence_seconds"), base.end_silence_seconds),
            voice=str(chosen.get("voice") or base.voice or "").strip(),
            target_language=str(chosen.get("target_language") or base.target_language),
            image_steps=min(IMAGE_STEPS_MAX, max(0, int(steps))) if isinstance(steps, (int, float)) else 0,
            image_seed=parse_seed(chosen.get("image_seed")),
        )

    def settings(self) -> Settings:
        """The settings a turn runs with."""
        return self.base.with_overrides(
            spoken_replies=self.spoken_replies, voice=self.voice, target_language=self.target_language
        )

    def listening_settings(self) -> Settings:
        """The settings the microphone is heard with (this person's end-of-turn silence)."""
        return self.base.with_overrides(end_silence_seconds=self.silence_seconds)

    def tool_defaults(self) -> dict[str, dict[str, Any]]:
        """Argument defaults by tool, for ``Assistant.respond(tool_defaults=...)``."""
        image: dict[str, Any] = {}
        if self.image_steps > 0:
            image["steps"] = self.image_steps
        if self.image_seed is not None:
            image["seed"] = self.image_seed
        return {"generate_image": image} if image else {}


def settings_panel(prefs: Prefs) -> Any:
    """The ⚙ panel's widgets (a ``cl.ChatSettings``), showing ``prefs``."""
    import chainlit as cl
    from chainlit.input_widget import Select, Slider, Switch, TextInput

    from agent.languages import LANGUAGES

    languages = {f"{english} ({code})": code for code, (english, _native, _other) in LANGUAGES.items()}
    return cl.ChatSettings(
        [
            Switch(id="spoken_replies", label="Speak my replies to voice messages", initial=prefs.spoken_replies),
            Switch(
                id="keep_listening",
                label="Hands-free: keep the microphone open between turns",
                initial=prefs.keep_listening,
            ),
            Switch(
                id="barge_in",
                label="Hands-free: speaking over a reply stops it (use the browser's echo cancellation or headphones)",
                initial=prefs.barge_in,
            ),
            TextInput(id="voice", label="Voice", initial=prefs.voice, placeholder="empty: the default voice"),
            Select(
                id="target_language",
                label="Language for 'translate this'",
                items=languages,
                initial_value=prefs.target_language if prefs.target_language in LANGUAGES else "fr",
            ),
            Slider(
                id="image_steps",
                label="Image steps (0: automatic)",
                initial=prefs.image_steps,
                min=0,
                max=IMAGE_STEPS_MAX,
                step=1,
            ),
            TextInput(
                id="image_seed",
                label="Image seed",
                initial="" if prefs.image_seed is None else str(prefs.image_seed),
                placeholder="empty: a new picture each time",
            ),
            Slider(  # after the image sliders: the panel's first slider stays the image steps
                id="silence_seconds",
                label="Seconds of silence that end what I say",
                initial=min(SILENCE_RANGE[1], max(SILENCE_RANGE[0], prefs.silence_seconds)),
                min=SILENCE_RANGE[0],
                max=SILENCE_RANGE[1],
                step=0.1,
            ),
        ]
    )
