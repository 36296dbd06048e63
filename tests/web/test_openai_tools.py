"""Tools the client runs itself, the OpenAI way, through ``/v1/chat/completions`` and the ``openai`` client.

The chat model calls a client's function: the answer ends with ``finish_reason: "tool_calls"``
and the calls; the client runs them and sends their results back as ``role: "tool"`` messages,
and the chat model goes on from there. The tiny profile's chat model cannot call tools (its
chat template shows it none): a request with tools is refused, saying how to get one that can.
"""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, ToolMessage

from chat_fakes import StreamingFakeChatModel

openai = pytest.importorskip("openai")

KEY = "sk-test"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASKED = {"role": "user", "content": "What is the weather like in Paris right now?"}
RAN = "sunny, 24 degrees"
SAID = "It is sunny and 24 degrees in Paris."


def _client(app: FastAPI):
    return openai.OpenAI(base_url="http://testserver/v1", api_key=KEY, max_retries=0, http_client=TestClient(app))


@pytest.fixture
def fake_chat(tiny_settings, tiny_manager):
    """The API over an assistant whose chat model first calls get_weather, then answers."""
    from agent.turn.assistant import Assistant
    from agent.web.api import TurnApi
    from agent.web.openai_api import mount_openai_api

    settings = tiny_settings.with_overrides(api_keys=KEY)
    model = StreamingFakeChatModel(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_7"}]),
        AIMessage(content=SAID),
    ]))
    model.seen.clear()
    turns = TurnApi(settings)
    turns._assistant = Assistant(settings, models=tiny_manager, chat_model=model)
    app = FastAPI()
    mount_openai_api(app, turns)
    return _client(app), model


def _ran(call_id: str, arguments: str) -> list[dict]:
    """The messages a client sends back once it has run get_weather."""
    call = {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    return [ASKED, {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": RAN}]


def test_the_chat_model_calls_the_clients_tool_and_answers_with_its_result(fake_chat):
    client, model = fake_chat
    first = client.chat.completions.create(model="polychat", messages=[ASKED], tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and not choice.message.content
    [call] = choice.message.tool_calls
    assert call.id == "call_7" and call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    second = client.chat.completions.create(model="polychat", messages=_ran(call.id, call.function.arguments),
                                            tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content == SAID
    # the chat model went on from its call and the client's result
    called, result = model.seen[-1][-2:]
    assert isinstance(called, AIMessage) and called.tool_calls[0]["args"] == {"city": "Paris"}
    assert isinstance(result, ToolMessage) and result.content == RAN and result.tool_call_id == "call_7"


def test_streamed_tool_calls_come_as_chunks(fake_chat):
    client, model = fake_chat
    chunks = list(client.chat.completions.create(model="polychat", messages=[ASKED], tools=[WEATHER], stream=True))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    calls = [c for chunk in chunks for c in chunk.choices[0].delta.tool_calls or []]
    assert [(c.index, c.id, c.function.name) for c in calls] == [(0, "call_7", "get_weather")]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}

    streamed = list(client.chat.completions.create(model="polychat", messages=_ran("call_7", '{"city": "Paris"}'),
                                                   tools=[WEATHER], stream=True))
    assert streamed[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == SAID


def test_tools_are_refused_when_the_chat_model_cannot_call_them(tiny_settings):
    from agent.web.openai_api import create_app
    from agent.web.openai_chat import NO_TOOL_CALLING

    client = _client(create_app(tiny_settings.with_overrides(api_keys=KEY)))
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="polychat", messages=[ASKED], tools=[WEATHER], stream=stream)
        assert refused.value.body["message"] == NO_TOOL_CALLING and refused.value.body["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as refused:  # a tool's result, with no model to read it
        client.chat.completions.create(model="polychat", messages=_ran("call_1", "{}"))
    assert refused.value.body["message"] == NO_TOOL_CALLING
