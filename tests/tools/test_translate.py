"""translate_text and ``polychat translate``: languages, sentences, routes through English."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import Settings
from agent.errors import ModelUnavailableError, ToolError
from agent.languages import detect_language, resolve_language
from tools.translate import TranslateTextTool, join_paragraphs, split_long, split_paragraphs

ROOT = Path(__file__).resolve().parents[2]


# -- languages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [("French", "fr"), ("français", "fr"), ("fr", "fr"), ("FR", "fr"), ("हिन्दी", "hi"), ("हिंदी", "hi"),
     ("Hindi", "hi"), ("Deutsch", "de"), ("español", "es"), ("pt-BR", "pt"), (" english ", "en")],
)
def test_language_names_and_codes(name, code):
    assert resolve_language(name) == code


def test_an_unknown_language_is_one_sentence():
    with pytest.raises(ToolError) as error:
        resolve_language("Klingon")
    assert str(error.value) == "I don't know the language 'Klingon'; use a name like French or an ISO code like fr."


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The weather is nice today and I want to go for a walk.", "en"),
        ("Please send me the report by Friday.", "en"),
        ("Bonjour, je voudrais une tasse de café s'il vous plaît.", "fr"),
        ("Le chat dort sur le canapé.", "fr"),
        ("Il a mangé une pomme.", "fr"),
        ("Hola, ¿cómo estás? Me gustaría un café con leche.", "es"),
        ("Mañana vamos a la playa.", "es"),
        ("Los niños juegan en la calle.", "es"),
        ("Guten Morgen, ich hätte gern einen Kaffee.", "de"),
        ("Der Hund schläft unter dem Tisch.", "de"),
        ("Il gatto dorme sul divano.", "it"),
        ("O cachorro está dormindo no sofá.", "pt"),
        ("De hond slaapt onder de tafel.", "nl"),
        ("नमस्ते, आप कैसे हैं?", "hi"),
        ("मुझे एक कप चाय चाहिए।", "hi"),
        ("Привет, как дела?", "ru"),
        ("Привіт, як справи? Я їду додому.", "uk"),
        ("你好，今天天气很好。", "zh"),
        ("こんにちは、元気ですか？", "ja"),
        ("안녕하세요, 잘 지내세요?", "ko"),
        ("مرحبا، كيف حالك؟", "ar"),
    ],
)
def test_detect_language_on_real_sentences(text, code):
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "12345 !!!", "OK", "Paris"])
def test_detect_language_says_none_when_it_cannot_tell(text):
    assert detect_language(text) is None


# -- sentences ---------------------------------------------------------------------------


def test_paragraphs_survive_a_split_and_a_join():
    text = "One. Two.\n\nThree!\nFour?"
    paragraphs = split_paragraphs(text)
    assert paragraphs == [["One.", "Two."], [], ["Three!"], ["Four?"]]
    assert join_paragraphs(paragraphs, "fr") == text
    assert join_paragraphs([["你好。", "再见。"]], "zh") == "你好。再见。"


def test_an_over_long_sentence_is_cut_at_words_under_the_limit(tiny_manager):
    tokenizer = tiny_manager.get("translate_text", variant={"src": "en", "tgt": "fr"}).bundle.processor

    def count(text: str) -> int:
        return len(tokenizer(text)["input_ids"])

    sentence = " ".join(f"word{i}" for i in range(300))
    pieces = split_long(sentence, count, limit=40)

    assert len(pieces) > 1
    assert all(count(piece) <= 40 for piece in pieces)
    assert " ".join(pieces) == sentence
    assert split_long("Short one.", count, limit=40) == ["Short one."]


# -- the tool on the tiny profile --------------------------------------------------------


@pytest.fixture
def tool(tiny_context) -> TranslateTextTool:
    return TranslateTextTool(context=tiny_context)


def test_translation_keeps_paragraphs_and_reports_languages(tool):
    text = "Bonjour tout le monde. Je suis très content.\n\nMerci pour votre aide."
    result = tool.execute(text=text, target_language="English")

    assert result.data["source_language"] == "fr"
    assert result.data["source_detection"] == "detected"
    assert result.data["target_language"] == "en"
    assert result.data["route"] == ["fr-en"]
    assert result.data["text"] == result.text
    lines = result.text.split("\n")
    assert len(lines) == 3 and lines[1] == "" and lines[0] and lines[2]
    assert result.artifacts == []


def test_source_language_given_by_name_and_target_in_its_own_script(tool):
    result = tool.execute(text="Good morning.", target_language="हिन्दी", source_language="anglais")

    assert (result.data["source_language"], result.data["target_language"]) == ("en", "hi")
    assert result.data["source_detection"] == "given"
    assert result.data["route"] == ["en-hi"]
    assert result.text.strip()


def test_undetectable_text_is_assumed_english_and_says_so(tool):
    result = tool.execute(text="12345", target_language="fr")

    assert result.data["source_language"] == "en"
    assert result.data["source_detection"] == "assumed"
    assert "assumed English" in result.data["note"]
    assert result.data["route"] == ["en-fr"]


def test_same_source_and_target_returns_the_text_unchanged(tool, tiny_context):
    loads_before = tiny_context.models.load_count
    result = tool.execute(text="  Le chat dort sur le canapé.  ", target_language="fr")

    assert result.text == "Le chat dort sur le canapé."
    assert result.data["route"] == []
    assert result.data["note"] == "The text is already in French; nothing to translate."
    assert tiny_context.models.load_count == loads_before


def test_no_target_uses_the_default_target_language(tool, tiny_context):
    result = tool.execute(text="Good morning to you all.")
    assert result.data["target_language"] == tiny_context.settings.target_language == "fr"


def test_long_text_is_translated_in_batches_with_progress(tool, tiny_context):
    calls: list[tuple[str, int, int]] = []
    tiny_context.progress = lambda label, done, total: calls.append((label, done, total))
    text = " ".join(f"This is sentence number {i}." for i in range(20))

    result = tool.execute(text=text, target_language="de", source_language="en")

    assert calls == [("translate_text", 1, 3), ("translate_text", 2, 3), ("translate_text", 3, 3)]
    assert result.text.strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"text": "   ", "target_language": "fr"}, "The text is empty; give translate_text some words to work with."),
        ({"text": "Hello", "target_language": "Klingon"}, "I don't know the language 'Klingon'"),
        ({"text": "Hello", "target_language": "fr", "source_language": "Elvish"}, "I don't know the language 'Elvish'"),
        ({"text": "x" * 5001, "target_language": "fr"}, "The text is 5001 characters long; the limit is 5000"),
    ],
)
def test_bad_input_is_one_sentence(tool, args, message):
    with pytest.raises(ToolError) as error:
        tool.execute(**args)
    assert str(error.value).startswith(message)


def test_langchain_invoke_returns_the_translation(tool):
    content = tool.invoke({"text": "Good night.", "target_language": "fr"})
    assert isinstance(content, str) and content.strip()


# -- routes through English, with models present only for some pairs ---------------------


@pytest.fixture(scope="module")
def pair_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local folder template with tiny Marian models for fr-en and en-hi only."""
    from agent.models.tiny import build_tiny

    root = tmp_path_factory.mktemp("opus-mt")
    build_tiny("marian", root / "opus-mt-fr-en")
    shutil.copytree(root / "opus-mt-fr-en", root / "opus-mt-en-hi")
    return str(root / "opus-mt-{src}-{tgt}")


@pytest.fixture
def pair_tool(pair_template, tmp_path, data_root):
    from agent.artifacts import ArtifactStore
    from agent.models.manager import ModelManager
    from tools.base import ToolContext

    settings = Settings(data_dir=data_root, device="cpu", models={"translate_text": pair_template})
    manager = ModelManager(settings)
    context = ToolContext(settings=settings, models=manager, artifacts=ArtifactStore(tmp_path / "s", settings))
    yield TranslateTextTool(context=context)
    manager.close()


def test_a_missing_pair_goes_through_english(pair_tool, pair_template):
    result = pair_tool.execute(text="Bonjour. Comment allez-vous ?\n\nMerci.", target_language="hi")

    assert result.data["route"] == ["fr-en", "en-hi"]
    assert result.data["source_language"] == "fr"
    assert len(result.text.split("\n")) == 3
    loaded = sorted(Path(m.key[1]).name for m in pair_tool.context.models.loaded())
    assert loaded == ["opus-mt-en-hi", "opus-mt-fr-en"]


def test_a_present_pair_is_used_directly(pair_tool):
    assert pair_tool.execute(text="Bonjour.", target_language="en", source_language="fr").data["route"] == ["fr-en"]


@pytest.mark.parametrize(
    ("source", "target", "missing"),
    [("de", "hi", "opus-mt-de-hi"), ("en", "de", "opus-mt-en-de"), ("hi", "en", "opus-mt-hi-en")],
)
def test_no_route_raises_the_sentence_for_the_missing_pair(pair_tool, source, target, missing):
    with pytest.raises(ModelUnavailableError) as error:
        pair_tool.execute(text="Some words here.", target_language=target, source_language=source)
    message = str(error.value)
    assert missing in message and "does not exist" in message
    assert "\n" not in message


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POLYCHAT_")}
    full_env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), POLYCHAT_DEVICE="cpu", **env)
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "translate", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300,
    )


def test_cli_prints_json(data_root, tmp_path):
    tiny = {"POLYCHAT_PROFILE": "tiny", "POLYCHAT_DATA_DIR": str(data_root)}
    done = run_cli("Bonjour tout le monde. Merci beaucoup.", "--to", "en", "--json", env=tiny, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert list(payload)[:4] == ["text", "source_language", "target_language", "route"]
    assert (payload["source_language"], payload["target_language"], payload["route"]) == ("fr", "en", ["fr-en"])
    assert payload["text"].strip()


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("Hello", "--to", "Klingon"), "polychat: I don't know the language 'Klingon'; use a name like French"),
        (("", "--to", "fr"), "polychat: The text is empty; give translate_text some words to work with."),
        (("Hello", "--to", "fr", "--from", "xx"), "polychat: I don't know the language 'xx';"),
    ],
)
def test_cli_bad_input_is_one_sentence(data_root, tmp_path, args, sentence):
    tiny = {"POLYCHAT_PROFILE": "tiny", "POLYCHAT_DATA_DIR": str(data_root)}
    done = run_cli(*args, env=tiny, cwd=tmp_path)

    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(sentence)


def test_cli_unsupported_pair_offline_is_one_sentence(tmp_path):
    """The default profile with an empty model cache: fr-hi and the route through English are missing."""
    offline = {"POLYCHAT_DATA_DIR": str(tmp_path / "data"), "HF_HOME": str(tmp_path / "hf")}
    done = run_cli("Bonjour tout le monde.", "--to", "hi", env=offline, cwd=tmp_path)

    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("polychat: The translate_text model Helsinki-NLP/opus-mt-fr-hi is not on this machine")
    assert "HF_HUB_OFFLINE" in lines[0]
