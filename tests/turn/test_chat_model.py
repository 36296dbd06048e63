"""The chat model layer: local transformers model, tool-call parsing, absent model."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.config import Settings
from agent.turn.chat import LocalChatModel, load_chat_model, parse_tool_calls, to_chat_messages


def test_local_chat_model_generates_text_with_the_tiny_model(tiny_manager):
    model = LocalChatModel(manager=tiny_manager, max_new_tokens=8)
    answer = model.invoke([SystemMessage("Be brief."), HumanMessage("hello there")])
    assert isinstance(answer, AIMessage)
    assert isinstance(answer.content, str)
    assert answer.tool_calls == []
    loaded = {m.family for m in tiny_manager.loaded()}
    assert "chat-transformers" in loaded


def test_bind_tools_passes_schemas_to_the_template(tiny_manager):
    from langchain_core.tools import tool

    @tool
    def caption_image(image: str) -> str:
        """Describe an image."""
        return image

    bound = LocalChatModel(manager=tiny_manager, max_new_tokens=4).bind_tools([caption_image])
    assert [t["function"]["name"] for t in bound.tools_schema] == ["caption_image"]
    assert isinstance(bound.invoke([HumanMessage("what is in image-1?")]), AIMessage)


def test_tool_calls_are_parsed_and_unknown_tools_dropped():
    text = (
        'Let me look.<tool_call>{"name": "caption_image", "arguments": {"image": "image-1"}}</tool_call>'
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call><tool_call>{not json}</tool_call>'
    )
    content, calls = parse_tool_calls(text, {"caption_image"})
    assert content.startswith("Let me look.")
    assert [(c["name"], c["args"]) for c in calls] == [("caption_image", {"image": "image-1"})]


def test_messages_keep_roles_and_tool_calls():
    call = {"name": "caption_image", "args": {"image": "image-1"}, "id": "c1", "type": "tool_call"}
    out = to_chat_messages([
        HumanMessage("hi"), AIMessage("", tool_calls=[call]), ToolMessage("a red car", tool_call_id="c1", name="caption_image"),
    ])
    assert [m["role"] for m in out] == ["user", "assistant", "tool"]
    assert out[1]["tool_calls"][0]["function"] == {"name": "caption_image", "arguments": {"image": "image-1"}}


def test_no_chat_model_when_weights_are_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert load_chat_model(Settings(data_dir=tmp_path), manager=None) is None


def test_tiny_profile_has_a_local_chat_model(tiny_settings, tiny_manager):
    assert isinstance(load_chat_model(tiny_settings, tiny_manager), LocalChatModel)
