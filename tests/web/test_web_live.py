"""The browser's live turn: events read in a worker thread and handed to the event loop."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from agent.errors import ToolError
from agent.turn.events import StepProgress, StepStarted, TextDelta
from agent.web.live import TurnFeed, newest_progress_only
from agent.web.render import step_result_text


def progress(step: int, done: int) -> StepProgress:
    return StepProgress(step, "generate_image", "generate_image", done, 20)


def test_only_the_newest_progress_of_each_step_is_kept_in_order() -> None:
    batch = [progress(1, 1), TextDelta("a"), progress(2, 1), progress(1, 2), progress(1, 3), TextDelta("b")]
    assert newest_progress_only(batch) == [TextDelta("a"), progress(2, 1), progress(1, 3), TextDelta("b")]


async def collect(feed: TurnFeed) -> list:
    seen = []
    while (event := await feed.next_event()) is not None:
        seen.append(event)
    return seen


def test_feed_hands_over_every_event_in_order_then_ends() -> None:
    events = [StepStarted(1, "speak_text", {}), *(TextDelta(str(n)) for n in range(50))]
    threads = []

    def stream():
        threads.append(threading.current_thread())
        yield from events

    async def main() -> list:
        feed = TurnFeed(stream, threading.Event())
        seen = await collect(feed)
        assert feed.finished
        assert await feed.next_event() is None
        return seen

    assert asyncio.run(main()) == events
    assert threads[0] is not threading.main_thread()  # the turn never runs on the event loop's thread


def test_feed_raises_what_the_turn_raised_at_the_start() -> None:
    def stream():
        raise ToolError("The voice 'zzz' does not exist.")
        yield  # pragma: no cover - makes this a generator

    async def main() -> None:
        await TurnFeed(stream, threading.Event()).next_event()

    with pytest.raises(ToolError, match="zzz"):
        asyncio.run(main())


def test_feed_keeps_the_loop_free_while_the_turn_works() -> None:
    release = threading.Event()

    def stream():
        release.wait(10)
        yield TextDelta("late")

    async def main() -> list:
        feed = TurnFeed(stream, threading.Event())
        reader = asyncio.create_task(collect(feed))
        await asyncio.sleep(0.05)  # the loop runs other work while the turn is busy
        assert not reader.done()
        release.set()
        return await reader

    assert asyncio.run(main()) == [TextDelta("late")]


def test_finished_step_text_has_its_result_or_error_and_seconds() -> None:
    ok = SimpleNamespace(ok=True, result=SimpleNamespace(text="Made image-1."), error=None, tool="generate_image",
                         seconds=1.234)
    failed = SimpleNamespace(ok=False, result=None, error="Stopped generate_image.", tool="generate_image",
                             seconds=0.5)
    assert step_result_text(ok) == ("Made image-1.\n\n_1.23 s_", False)
    assert step_result_text(failed) == ("Stopped generate_image.\n\n_0.50 s_", True)


def test_a_reply_cut_off_keeps_the_words_its_played_sentences_held() -> None:
    from agent.web.live import LiveTurn

    live = LiveTurn.__new__(LiveTurn)  # no chat context needed for the arithmetic
    live.sentences = [("Good morning.", 10.0, 1.0), ("How are you today, my friend?", 11.0, 2.0), ("Bye.", 13.0, 0.5)]
    live.cut_at = None
    assert live.words_played() == "Good morning. How are you today, my friend? Bye."
    live.cut_at = 12.0  # half-way through the second sentence
    assert live.words_played() == "Good morning. How are you …"
    live.cut_at = 10.0  # before anything played
    assert live.words_played() == ""
