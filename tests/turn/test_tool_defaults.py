"""Per-person tool defaults (the browser chat's image steps and seed) reach the tools."""

from __future__ import annotations

from pathlib import Path

from agent.turn.assistant import Assistant
from agent.turn.executor import Executor
from agent.router.plan import Plan, Step
from tools import make_tool

SMALL = {"width": 64, "height": 64}  # px, enough to tell images apart, quick on a CPU


def test_defaults_fill_only_what_a_step_leaves_out(tiny_context) -> None:
    tool = make_tool("generate_image", tiny_context)
    defaults = {"generate_image": {"steps": 2, "seed": 7, "colour": "red"}, "speak_text": {"voice": "x"}}
    plan = Plan(
        steps=[
            Step("generate_image", {"prompt": "a red circle", **SMALL}),
            Step("generate_image", {"prompt": "a red circle", "seed": 8, **SMALL}),
            Step("generate_image", {"prompt": "a red circle", **SMALL}),
        ]
    )
    record = Executor({"generate_image": tool}, defaults).run(plan)

    assert [o.ok for o in record.outcomes] == [True, True, True], [o.error for o in record.outcomes]
    assert record.steps[0].args == {"prompt": "a red circle", "steps": 2, "seed": 7, **SMALL}  # "colour" is no argument
    assert plan.steps[0].args == {"prompt": "a red circle", **SMALL}  # the routed plan itself never changes
    assert [o.result.data["seed"] for o in record.outcomes] == [7, 8, 7]
    assert all(o.result.data["steps"] == 2 for o in record.outcomes)
    first, second, third = (Path(o.result.artifacts[0].path).read_bytes() for o in record.outcomes)
    assert first == third != second  # the same seed gives the same picture


def test_respond_passes_tool_defaults_to_the_turn(tiny_settings, tiny_manager, tmp_path: Path) -> None:
    from agent.turn.session import Session

    session = Session(tmp_path / "sessions", tiny_settings, "defaults-test")
    assistant = Assistant(settings=tiny_settings, models=tiny_manager)
    reply = assistant.respond(session, "draw a red circle", tool_defaults={"generate_image": {"steps": 2, "seed": 11}})

    drawn = [s for s in reply.steps if s.tool == "generate_image"]
    assert drawn and drawn[0].ok, reply.text
    assert drawn[0].result.data["seed"] == 11 and drawn[0].result.data["steps"] == 2
    assert reply.plan[0]["args"]["seed"] == 11
