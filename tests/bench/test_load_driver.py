"""The load driver's pure parts: which turns each conversation makes, and the percentiles reported."""

from __future__ import annotations

import io
import math

from PIL import Image

from bench.load import KINDS, LoadResult, TurnResult, conversation_kinds, sample_png
from bench.measure import percentile
from bench.sec_load import latency_table


def test_every_conversation_draws_before_it_asks_about_the_picture() -> None:
    for index in range(8):
        kinds = conversation_kinds(index, 5)
        assert len(kinds) == 5 and set(kinds) == set(KINDS)
        assert kinds.index("draw") < kinds.index("follow-up")
    assert conversation_kinds(0, 5)[0] != conversation_kinds(1, 5)[0]  # neighbours start with different work


def test_percentiles_interpolate_and_an_empty_kind_is_no_number() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([0.0, 10.0], 0.95) == 9.5
    assert math.isnan(percentile([], 0.5))


def test_sample_pictures_differ_and_decode() -> None:
    pictures = {sample_png(i, n) for i in range(3) for n in range(1, 3)}
    assert len(pictures) == 6
    for data in pictures:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()


def test_the_table_counts_errors_per_kind_and_leaves_unanswered_turns_out_of_the_times() -> None:
    result = LoadResult(2, 2, seconds=4.0, turns=[
        TurnResult(0, 1, "chat", "hi", seconds=1.0, status=200),
        TurnResult(0, 2, "draw", "draw", seconds=3.0, status=200),
        TurnResult(1, 1, "draw", "draw", seconds=5.0, status=500, problem="the server answered HTTP 500."),
        TurnResult(1, 2, "describe", "describe it", seconds=9.0, status=0, problem="no answer."),
    ])
    rows = {row[0]: row for row in latency_table(result, "python -m bench --sections load").rows}
    assert rows["draw"][1:3] == [2, 1] and rows["draw"][3] == 4.0
    assert rows["describe"][2] == 1 and math.isnan(rows["describe"][3])
    assert rows["all"][1:3] == [4, 2]
