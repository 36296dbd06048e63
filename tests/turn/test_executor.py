"""Running plans: references between steps, errors as sentences, timing, going on after a failure."""

from __future__ import annotations

from PIL import Image

from agent.turn.executor import Executor, resolve_args
from agent.router.plan import Plan, step_ref
from tools import default_tools


def _executor(context) -> Executor:
    return Executor({tool.name: tool for tool in default_tools(context)})


def _image(context, colour="red"):
    return context.artifacts.add_image(Image.new("RGB", (64, 48), colour), origin="uploaded", turn=1)


def test_chain_passes_outputs_along(tiny_context):
    image = _image(tiny_context)
    plan = Plan()
    ocr = plan.add("read_image_text", image=image.id)
    translated = plan.add("translate_text", text=ocr, target_language="fr")
    plan.add("speak_text", text=translated)
    # a tiny OCR model may read nothing from a blank image: feed a known text instead
    plan.steps[1].args["text"] = "the red car is fast"
    record = _executor(tiny_context).run(plan)
    assert [o.tool for o in record.outcomes] == ["read_image_text", "translate_text", "speak_text"]
    assert record.outcomes[1].ok and record.outcomes[2].ok, [o.error for o in record.outcomes]
    assert record.outcomes[2].args["text"] == record.outcomes[1].output_text
    audio = [a for a in record.artifacts() if a.kind == "audio"]
    assert len(audio) == 1 and audio[0].path.is_file()
    assert all(isinstance(o.to_json()["seconds"], float) for o in record.outcomes)  # timed, not bounded


def test_failed_step_skips_its_dependants_but_not_the_rest(tiny_context):
    plan = Plan()
    plan.add("caption_image", image="image-9")  # no such image
    plan.add("speak_text", text=step_ref(1))
    plan.add("translate_text", text="good morning", target_language="fr")
    record = _executor(tiny_context).run(plan)
    first, second, third = record.outcomes
    assert not first.ok and "There is no image-9" in first.error
    assert not second.ok and second.error.startswith("Skipped speak_text") and "caption_image" in second.error
    assert third.ok and third.output_text
    assert [o.to_json()["ok"] for o in record.outcomes] == [False, False, True]


def test_unknown_tool_is_a_sentence(tiny_context):
    plan = Plan()
    plan.add("launch_rocket", target="moon")
    record = _executor(tiny_context).run(plan)
    assert record.outcomes[0].error == "There is no tool called launch_rocket."


def test_image_reference_resolves_to_the_made_artifact(tiny_context):
    plan = Plan()
    plan.add("generate_image", prompt="a red kite", steps=2, width=64, height=64, seed=3)
    plan.add("caption_image", image=step_ref(1, "image"))
    record = _executor(tiny_context).run(plan)
    assert record.outcomes[0].ok, record.outcomes[0].error
    made = record.outcomes[0].artifact_id("image")
    assert made and record.outcomes[1].args["image"] == made
    assert record.outcomes[1].ok


def test_resolve_args_leaves_plain_values_alone():
    assert resolve_args({"text": "$ 5 dollars", "n": 3}, []) == {"text": "$ 5 dollars", "n": 3}
