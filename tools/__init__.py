"""The eight tools. ``default_tools(context)`` returns them bound to a context."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.base import PolychatTool, ToolContext

TOOL_CLASSES: dict[str, tuple[str, str]] = {
    # tool name: (module, class)
    "transcribe_audio": ("tools.transcribe", "TranscribeAudioTool"),
    "translate_speech": ("tools.transcribe", "TranslateSpeechTool"),
    "caption_image": ("tools.caption", "CaptionImageTool"),
    "answer_image_question": ("tools.vqa", "AnswerImageQuestionTool"),
    "read_image_text": ("tools.ocr", "ReadImageTextTool"),
    "generate_image": ("tools.imagine", "GenerateImageTool"),
    "speak_text": ("tools.speak", "SpeakTextTool"),
    "translate_text": ("tools.translate", "TranslateTextTool"),
}


def make_tool(name: str, context: ToolContext) -> PolychatTool:
    """One tool by name, bound to ``context`` (imports its module on demand)."""
    import importlib

    module_name, class_name = TOOL_CLASSES[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(context=context)


def default_tools(context: ToolContext) -> list[PolychatTool]:
    """All eight tools bound to ``context``, in the documented order."""
    return [make_tool(name, context) for name in TOOL_CLASSES]
