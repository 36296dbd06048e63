"""The browser chat's settings panel: what each person's choices change in a turn."""

from __future__ import annotations

import pytest

from agent.config import Settings
from agent.web.prefs import IMAGE_STEPS_MAX, MAX_SEED, Prefs, parse_seed


@pytest.fixture
def base() -> Settings:
    return Settings(profile="tiny", spoken_replies=True, voice="joe", target_language="de")


def test_an_untouched_panel_keeps_the_server_settings(base: Settings) -> None:
    prefs = Prefs.from_panel({}, base)
    assert (prefs.spoken_replies, prefs.voice, prefs.target_language) == (True, "joe", "de")
    assert not prefs.keep_listening
    assert prefs.tool_defaults() == {}
    assert prefs.settings() == base


def test_choices_become_turn_settings_and_image_defaults(base: Settings) -> None:
    chosen = {"spoken_replies": False, "voice": " slt ", "target_language": "es", "image_steps": 4, "image_seed": "42"}
    prefs = Prefs.from_panel(chosen, base)
    settings = prefs.settings()
    assert (settings.spoken_replies, settings.voice, settings.target_language) == (False, "slt", "es")
    assert settings.profile == "tiny" and settings.data_dir == base.data_dir
    assert prefs.tool_defaults() == {"generate_image": {"steps": 4, "seed": 42}}


def test_malformed_choices_fall_back_quietly(base: Settings) -> None:
    prefs = Prefs.from_panel({"image_steps": "lots", "image_seed": "-3", "voice": None}, base)
    assert prefs.image_steps == 0 and prefs.image_seed is None and prefs.voice == "joe"
    assert Prefs.from_panel({"image_steps": 10_000}, base).image_steps == IMAGE_STEPS_MAX


@pytest.mark.parametrize(
    ("typed", "seed"),
    [("7", 7), (" 0 ", 0), (str(MAX_SEED), MAX_SEED), (str(MAX_SEED + 1), None), ("", None), ("1.5", None),
     ("seven", None), (None, None), (12, 12)],
)
def test_seeds_are_whole_numbers_in_range(typed: object, seed: int | None) -> None:
    assert parse_seed(typed) == seed


def test_barge_in_is_on_and_the_silence_follows_the_server_until_chosen(base: Settings) -> None:
    prefs = Prefs.from_panel({}, base)
    assert prefs.barge_in
    assert prefs.silence_seconds == base.end_silence_seconds
    assert prefs.listening_settings().end_silence_seconds == base.end_silence_seconds
    chosen = Prefs.from_panel({"barge_in": False, "silence_seconds": 1.5}, base)
    assert not chosen.barge_in
    assert chosen.listening_settings().end_silence_seconds == 1.5
    assert chosen.listening_settings().voice == base.voice  # only the silence changes


@pytest.mark.parametrize(("chosen", "seconds"), [(0.1, 0.3), (9, 3.0), ("long", 0.8), (None, 0.8), (0, 0.8)])
def test_silence_lengths_stay_in_range(base: Settings, chosen: object, seconds: float) -> None:
    assert Prefs.from_panel({"silence_seconds": chosen}, base).silence_seconds == pytest.approx(seconds)
