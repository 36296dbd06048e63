"""answer_image_question: the tiny BLIP VQA end to end, question checks, and ``polychat vqa``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.errors import ToolError
from tools.base import ToolContext
from tools.vqa import AnswerImageQuestionTool, clean_answer


@pytest.fixture
def image_id(tiny_context: ToolContext) -> str:
    pixels = np.full((80, 120, 3), (240, 240, 240), dtype=np.uint8)
    pixels[30:60, 20:100] = (20, 40, 220)
    return tiny_context.artifacts.add_image(Image.fromarray(pixels), origin="uploaded").id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  2 ", "2"), ("yes .", "yes"), ("a  red   car", "a red car"), ("", ""), (" . ", "")],
)
def test_answers_are_tidied(raw, expected):
    assert clean_answer(raw) == expected


def test_answer_carries_question_and_answer(tiny_context, image_id):
    result = AnswerImageQuestionTool(context=tiny_context).execute(image=image_id, question="  What colour is the car? ")
    answer = result.data["answer"]
    assert result.data["question"] == "What colour is the car?"
    assert result.data["image"] == image_id
    assert isinstance(answer, str) and answer
    assert result.text == answer[0].upper() + answer[1:]
    assert result.artifacts == []


def test_answer_is_reproducible_and_depends_on_the_question(tiny_context, image_id):
    tool = AnswerImageQuestionTool(context=tiny_context)
    first = tool.execute(image=image_id, question="what colour is the car?").data["answer"]
    assert tool.execute(image=image_id, question="what colour is the car?").data["answer"] == first
    others = {tool.execute(image=image_id, question=q).data["answer"] for q in ("is there a dog?", "how many people are there?")}
    assert others - {first}  # the tiny model's gibberish still follows its input


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_refused(tiny_context, image_id, question):
    with pytest.raises(ToolError, match=r"^The question is empty; give answer_image_question some words to work with\.$"):
        AnswerImageQuestionTool(context=tiny_context).execute(image=image_id, question=question)


def test_question_over_the_character_limit_is_refused(tiny_context, image_id):
    small = ToolContext(
        settings=tiny_context.settings.with_overrides(max_text_chars=12),
        models=tiny_context.models,
        artifacts=tiny_context.artifacts,
    )
    with pytest.raises(ToolError, match=r"The question is 23 characters long; the limit is 12 \(set POLYCHAT_MAX_TEXT_CHARS"):
        AnswerImageQuestionTool(context=small).execute(image=image_id, question="what colour is the car?")


def test_question_over_the_model_length_is_refused(tiny_context, image_id):
    with pytest.raises(ToolError, match=r"The question is \d+ tokens long and the model reads at most \d+; use a shorter question\."):
        AnswerImageQuestionTool(context=tiny_context).execute(image=image_id, question="is the car red? " * 20)


def test_wrong_ids_are_refused_in_a_sentence(tiny_context, image_id):
    from agent.media import encode_wav

    tool = AnswerImageQuestionTool(context=tiny_context)
    with pytest.raises(ToolError, match="There is no image-3 in this conversation"):
        tool.execute(image="image-3", question="what is it?")
    audio = tiny_context.artifacts.add_bytes(encode_wav(np.zeros(800, dtype=np.float32), 16_000))
    with pytest.raises(ToolError, match="is audio, not an image"):
        tool.execute(image=audio.id, question="what is it?")


def test_langchain_schema_and_invoke(tiny_context, image_id):
    tool = AnswerImageQuestionTool(context=tiny_context)
    assert set(tool.args) == {"image", "question"}
    assert tool.invoke({"image": image_id, "question": "is there a car?"}) == tool.execute(
        image=image_id, question="is there a car?"
    ).text


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tiny_settings, use_settings):
    from agent.cli import main
    from agent.models.manager import ModelManager, set_manager

    use_settings(tiny_settings)
    set_manager(ModelManager(tiny_settings))
    return main


def test_cli_vqa_prints_the_answer_and_json(cli, tmp_path, capsys):
    path = tmp_path / "street.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path)
    assert cli(["vqa", str(path), "what colour is it?"]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain and "\n" not in plain
    assert cli(["vqa", str(path), "what colour is it?", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["question"] == "what colour is it?" and payload["text"] == plain
    assert payload["answer"].lower() == plain.lower() and payload["tool"] == "answer_image_question"


def test_cli_vqa_empty_question_is_one_sentence(cli, tmp_path, capsys):
    path = tmp_path / "street.png"
    Image.new("RGB", (64, 48), "white").save(path)
    assert cli(["vqa", str(path), "  "]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == (
        "polychat: The question is empty; give answer_image_question some words to work with."
    )
