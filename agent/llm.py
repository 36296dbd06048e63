"""The chat model: a local transformers model, or Ollama / an OpenAI-compatible server.

All of them are langchain-core ``BaseChatModel`` s. The local one loads through the
model manager like every other model, and understands tool calls in the
``<tool_call>{json}</tool_call>`` form that Qwen2.5's chat template asks for.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from agent.config import Settings
from agent.errors import PolychatError, ToolError

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 384  # tokens per chat reply
TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(message.type, "user")


def to_chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """langchain messages -> the list of dicts that chat templates read."""
    out: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"role": _role(message), "content": message.content if isinstance(message.content, str) else json.dumps(message.content)}
        if isinstance(message, AIMessage) and message.tool_calls:
            entry["tool_calls"] = [
                {"type": "function", "function": {"name": c["name"], "arguments": c["args"]}} for c in message.tool_calls
            ]
        if isinstance(message, ToolMessage):
            entry["name"] = message.name or "tool"
        out.append(entry)
    return out


def parse_tool_calls(text: str, known: set[str]) -> tuple[str, list[dict[str, Any]]]:
    """Split generated text into plain content and tool calls for known tools."""
    calls = []
    for match in TOOL_CALL.finditer(text):
        try:
            payload = json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
        name = payload.get("name")
        args = payload.get("arguments", {})
        if name in known and isinstance(args, dict):
            calls.append({"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}", "type": "tool_call"})
    return TOOL_CALL.sub("", text).strip(), calls


class LocalChatModel(BaseChatModel):
    """A chat model run by transformers on this machine, loaded through the model manager."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    manager: Any
    tools_schema: list[dict[str, Any]] = []
    max_new_tokens: int = MAX_NEW_TOKENS

    @property
    def _llm_type(self) -> str:
        return "polychat-local"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> LocalChatModel:
        return self.model_copy(update={"tools_schema": [convert_to_openai_tool(t) for t in tools]})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import torch

        with self.manager.use("chat") as bundle:
            tokenizer, model = bundle.processor, bundle.model
            template_kwargs: dict[str, Any] = {"add_generation_prompt": True, "return_tensors": "pt", "return_dict": True}
            if self.tools_schema:
                template_kwargs["tools"] = self.tools_schema
            inputs = tokenizer.apply_chat_template(to_chat_messages(messages), **template_kwargs)
            inputs = {k: v.to(bundle.device) for k, v in inputs.items()}
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                )
            new_tokens = output[0, inputs["input_ids"].shape[1]:]
            text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        known = {t["function"]["name"] for t in self.tools_schema}
        content, calls = parse_tool_calls(text, known) if known else (text, [])
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content, tool_calls=calls))])


def load_chat_model(settings: Settings, manager: Any) -> BaseChatModel | None:
    """The configured chat model, or None when none can be used here.

    A local model whose weights are absent gives None (the agent then answers
    conversation with what it can do); a server backend needs its optional extra.
    """
    from agent.catalog import resolve

    choice = resolve("chat", settings)
    if choice.backend == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as e:
            raise ToolError("The Ollama chat backend needs \"pip install langchain-ollama\".") from e
        return ChatOllama(model=choice.source, base_url=settings.chat_url or "http://localhost:11434")
    if choice.backend == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as e:
            raise ToolError("The OpenAI-compatible chat backend needs \"pip install langchain-openai\".") from e
        return ChatOpenAI(model=choice.source, base_url=settings.chat_url or None, api_key=settings.chat_api_key or "none")
    if not choice.present:
        log.info("No chat model on this machine (%s); conversation replies list the tools.", choice.source)
        return None
    return LocalChatModel(manager=manager)


def safe_invoke(model: BaseChatModel, messages: list[BaseMessage]) -> AIMessage | None:
    """Invoke a chat model; None (and a log line) if it fails, so a turn never crashes."""
    try:
        result = model.invoke(messages)
    except PolychatError:
        raise
    except Exception as e:  # a server down, a broken local model
        log.warning("The chat model failed: %s: %s", type(e).__name__, e)
        return None
    return result if isinstance(result, AIMessage) else AIMessage(content=str(result.content))
