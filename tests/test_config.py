from pathlib import Path

import pytest

from agent.config import Settings, load_settings
from agent.errors import ConfigError


def test_defaults_without_env_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"POLYCHAT_DATA_DIR": str(tmp_path)})
    assert settings.profile == "default"
    assert settings.device == "auto"
    assert settings.data_dir == tmp_path
    assert settings.model_for("caption_image") is None


def test_env_overrides_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "polychat.toml").write_text(
        'profile = "tiny"\nmax_upload_mb = 3\n[models]\ncaption_image = "/models/blip"\n'
        '[backends]\ntranscribe_audio = "faster-whisper"\n'
    )
    settings = load_settings({"POLYCHAT_MAX_UPLOAD_MB": "7.5", "POLYCHAT_SPEAK_TEXT_BACKEND": "piper"})
    assert settings.profile == "tiny"
    assert settings.max_upload_mb == 7.5
    assert settings.upload_limit_bytes == int(7.5 * 1024 * 1024)
    assert settings.model_for("caption_image") == "/models/blip"
    assert settings.backend_for("transcribe_audio") == "faster-whisper"
    assert settings.backend_for("speak_text") == "piper"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"POLYCHAT_PROFILE": "huge"}, "Unknown profile 'huge'"),
        ({"POLYCHAT_DEVICE": "tpu"}, "Unknown device 'tpu'"),
        ({"POLYCHAT_MAX_UPLOAD_MB": "lots"}, "not a valid float"),
        ({"POLYCHAT_SPOKEN_REPLIES": "maybe"}, "not a valid bool"),
    ],
)
def test_bad_values_are_one_sentence(env, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=words):
        load_settings(env)


def test_unknown_toml_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "custom.toml"
    path.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        load_settings({"POLYCHAT_CONFIG": str(path)})


def test_with_overrides_merges_models():
    base = Settings(models={"chat": "a"})
    changed = base.with_overrides(models={"caption_image": "b"}, device="cpu")
    assert changed.models == {"chat": "a", "caption_image": "b"}
    assert changed.device == "cpu"
    assert base.device == "auto"
    assert isinstance(changed.data_dir, Path)


def test_auth_users_are_parsed_and_bad_entries_explained() -> None:
    from agent.config import parse_auth_users

    assert parse_auth_users("alice:secret, bob:p:w ,") == {"alice": "secret", "bob": "p:w"}
    assert parse_auth_users("") == {}
    with pytest.raises(ConfigError, match="name:password"):
        parse_auth_users("alice")
