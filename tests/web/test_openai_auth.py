"""Who may use the OpenAI-compatible API, and its refusals in OpenAI's shape (no models run here)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agent.web.openai_auth import LOCAL_OWNER, NO_KEYS, Keys, UrlSigner, api_keys, owner_of


def test_without_keys_only_this_machine_is_answered(tiny_settings):
    keys = Keys(tiny_settings)
    assert keys.owner(None, "127.0.0.1") == (LOCAL_OWNER, "")
    assert keys.owner("Bearer anything", "::1") == (LOCAL_OWNER, "")
    assert keys.owner(None, "192.168.1.20") == (None, NO_KEYS)
    with_login = Keys(tiny_settings.with_overrides(auth_users="alice:secret"))
    assert with_login.owner(None, "127.0.0.1")[0] is None  # login on: a key is needed


def test_keys_from_the_setting_and_the_file_each_own_their_files(tiny_settings, tmp_path):
    listed = tmp_path / "keys"
    listed.write_text("# the team\nsk-file  # Bob\n\n")
    settings = tiny_settings.with_overrides(api_keys="sk-one, sk-two", api_keys_file=str(listed))
    assert api_keys(settings) == ("sk-one", "sk-two", "sk-file")
    keys = Keys(settings)
    assert keys.owner("Bearer sk-two", "10.0.0.1") == (owner_of("sk-two"), "")
    assert owner_of("sk-one") != owner_of("sk-two")
    refused, sentence = keys.owner("Bearer sk-three", "127.0.0.1")
    assert refused is None and "POLYCHAT_API_KEYS" in sentence


def test_artifact_links_are_signed(tmp_path):
    signer = UrlSigner(tmp_path / "api")
    signature = signer.sign("local", "s1", "image-1")
    assert signer.valid(signature, "local", "s1", "image-1")
    assert not signer.valid(signature, "local", "s1", "image-2")
    assert not signer.valid("ü", "local", "s1", "image-1") and not signer.valid(None, "local", "s1", "image-1")
    assert UrlSigner(tmp_path / "api").sign("local", "s1", "image-1") == signature  # the secret is kept


def _client(settings) -> TestClient:
    from agent.web.openai_api import create_app

    return TestClient(create_app(settings.with_overrides(api_keys="sk-test")))


def test_refusals_are_in_openais_shape(tiny_settings):
    client = _client(tiny_settings)
    headers = {"Authorization": "Bearer sk-test"}
    wrong = client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    form = client.post("/v1/chat/completions", headers=headers, data={"model": "polychat"})
    assert form.status_code == 415 and "application/json" in form.json()["error"]["message"]
    nothing = client.post("/v1/chat/completions", headers=headers, json={"model": "polychat", "messages": []})
    assert nothing.status_code == 400 and nothing.json()["error"]["param"] == "messages"
    assistant_last = client.post("/v1/chat/completions", headers=headers,
                                 json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert assistant_last.status_code == 400 and "last message" in assistant_last.json()["error"]["message"]
    huge = tiny_settings.max_message_chars + 1
    too_long = client.post("/v1/chat/completions", headers=headers,
                           json={"messages": [{"role": "user", "content": "a" * huge}]})
    assert too_long.status_code == 413 and "POLYCHAT_MAX_MESSAGE_CHARS" in too_long.json()["error"]["message"]
    missing = client.get("/v1/files", headers=headers)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}
    method = client.delete("/v1/models", headers=headers)
    assert method.status_code == 405 and method.headers["allow"] == "GET"
    size = client.post("/v1/images/generations", headers=headers, json={"prompt": "a kite", "size": "big"})
    assert size.status_code == 400 and size.json()["error"]["param"] == "size"


def test_each_key_may_have_only_so_many_requests_in_progress():
    from agent.web.openai_admission import Admission, Busy

    admission = Admission(2)
    first, second = admission.enter("alice"), admission.enter("alice")
    with pytest.raises(Busy) as refused:
        admission.enter("alice")
    assert "POLYCHAT_API_MAX_WAITING" in str(refused.value) and 1 <= refused.value.retry_after <= 60
    bob = admission.enter("bob")  # another key has its own places
    first.release()
    first.release()  # given back once, however often released
    assert admission.in_progress("alice") == 1 and admission.in_progress("bob") == 1
    third = admission.enter("alice")
    for place in (second, third, bob):
        place.release()
    assert admission.in_progress("alice") == admission.in_progress("bob") == 0
    assert Admission(0).limit == 1  # never unbounded
