"""answer_image_question: answer a question about an image (BLIP VQA)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.models import loaders
from agent.models.backends import Backend
from tools.base import PolychatTool, ToolResult
from tools.caption import blip_inputs, open_image_artifact

ANSWER_MAX_NEW_TOKENS = 10  # tokens; BLIP VQA answers are a word or a short phrase
ANSWER_BEAMS = 3  # beam width

BACKENDS: dict[str, tuple[Backend, ...]] = {
    "answer_image_question": (
        Backend(
            "transformers",
            loaders.load_blip_vqa,
            "Salesforce/blip-vqa-base",
            tiny="tiny:blip-vqa",
            title="BLIP question answering",
            module="transformers",
            torch=True,
        ),
    ),
}


def clean_answer(answer: str) -> str:
    """BLIP's answer with spaces tidied and no trailing punctuation ("" stays "")."""
    return " ".join(answer.split()).strip(" .,;:")


class AnswerImageQuestionInput(BaseModel):
    image: str = Field(description="Id of an image in the conversation, e.g. 'image-1'.")
    question: str = Field(
        description="The question about the image, in English, e.g. 'What colour is the car?' or 'How many people are there?'."
    )


class AnswerImageQuestionTool(PolychatTool):
    """Answer a question about an image with BLIP VQA."""

    name: str = "answer_image_question"
    description: str = (
        "Answer a specific question about an image: colours, counts, objects, yes/no questions "
        "such as 'is there a dog?'. Answers are short (a word or a few). Use caption_image instead "
        "for a general description and read_image_text to read the text in an image."
    )
    args_schema: type[BaseModel] = AnswerImageQuestionInput

    def execute(self, image: str, question: str) -> ToolResult:
        """Answer a question about an image artifact.

        Args:
            image: the artifact id, e.g. ``image-1``.
            question: the question, non-empty and within ``max_text_chars``.

        Returns:
            The answer as text; data ``{"question", "answer", "image"}``.
        """
        import torch

        question = self.check_text(question, "question")
        artifact, picture = open_image_artifact(self.context, image)
        self.context.report("Answering the question", 0, 1)
        with self.context.models.use(self.name, **self.context.model_kwargs()) as bundle:
            inputs = blip_inputs(bundle, picture, question, what="question")
            with torch.inference_mode():
                output = bundle.model.generate(**inputs, max_new_tokens=ANSWER_MAX_NEW_TOKENS, num_beams=ANSWER_BEAMS)
            answer = clean_answer(bundle.processor.decode(output[0], skip_special_tokens=True))
        self.context.report("Answering the question", 1, 1)
        data = {"question": question, "answer": answer, "image": artifact.id}
        if not answer:
            return ToolResult(f"I could not find an answer to that in {artifact.id}.", data=data)
        return ToolResult(answer[0].upper() + answer[1:], data=data)
