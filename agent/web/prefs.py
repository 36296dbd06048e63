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


def parse_seed(raw: Any) -> int | None:
    """A seed typed in the settings panel: a whole number 0..2**32-1, or None (empty or invalid)."""
    text = str(raw if raw is not None else "").strip()
    if not text.isdigit() or int(text) > MAX_SEED:
        return None
    return int(text)


@dataclass(frozen=True)
class Prefs:
    """One person's chat settings.

    Attributes:
        base: the server's settings, which the preferences adjust.
        spoken_replies: answer voice messages out loud.
        keep_listening: hands-free; the microphone stays open between turns.
        voice: the speak_text voice ("" = the backend's default).
        target_language: the language of "translate this".
        image_steps: denoising steps of generate_image (0 = the tool's default).
        image_seed: fixed seed of generate_image (None = a new one each time).
    """

    base: Settings
    spoken_replies: bool
    keep_listening: bool
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
        ]
    )
