"""Fake chat models that behave like real ones: they stream tokens, then their tool calls."""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk


class StreamingFakeChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model, streaming word by word the way a served model does.

    Each answer in ``messages`` streams its content a word (or space) at a time, then its
    tool calls as ``tool_call_chunks``, as OpenAI-compatible and Ollama models do. It can be
    bound to tools, and remembers the messages of every call in ``seen``.
    """

    seen: list = []

    def bind_tools(self, tools: Any, **kwargs: Any) -> StreamingFakeChatModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        message = self._generate(messages, stop=stop, run_manager=run_manager, **kwargs).generations[0].message
        for token in re.split(r"(\s)", message.content or ""):
            if token:
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        if message.tool_calls:
            chunks = [
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i, "type": "tool_call_chunk"}
                for i, c in enumerate(message.tool_calls)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))
