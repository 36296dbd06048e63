"""The browser chat, driven in headless Chromium (Debian's ``chromium``) with Playwright.

A real ``polychat serve`` runs in a subprocess on the tiny profile, with the real
Whisper base and Piper voices that ship on PyPI for speech, so a voice message
through Chromium's fake microphone is heard and answered out loud. A screenshot of
each failing test is saved under ``$POLYCHAT_TEST_ARTIFACTS`` (default: the system
temporary folder's ``polychat-test-artifacts``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server_helpers import Server  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
ESPEAK = shutil.which("espeak-ng")
REPLY_TIMEOUT = 240_000  # milliseconds a turn may take (first use loads models on 2 slow cores)
UI_TIMEOUT = 60_000  # milliseconds for the page to load and connect
ARTIFACTS = Path(os.environ.get("POLYCHAT_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "polychat-test-artifacts")

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped",
                allow_module_level=True)


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("web-data"))
    running.start()
    yield running
    running.stop()


# --------------------------------------------------------------------------- the browser


def spoken_wav(path: Path, text: str) -> Path:
    """``text`` spoken by espeak-ng, with silence around it so the pause ends the utterance."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run([ESPEAK, "-v", "en-us", "-s", "130", "-w", str(raw), text], check=True, capture_output=True)
    with wave.open(str(raw), "rb") as source:
        rate = source.getframerate()
        speech = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    silence = np.zeros(int(rate * 1.0), dtype="<i2")
    samples = np.concatenate([silence, speech, silence, silence, silence])  # 1 s before, 3 s after
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def espeak(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng: 16-bit samples and their rate."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "said.wav"
        subprocess.run([ESPEAK, "-v", "en-us", "-s", "130", "-w", str(raw), text], check=True, capture_output=True)
        with wave.open(str(raw), "rb") as source:
            return np.frombuffer(source.readframes(source.getnframes()), dtype="<i2"), source.getframerate()


def piper(text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by the packaged Piper voice (Whisper hears it more surely than espeak-ng)."""
    from speech_helpers import piper_wav

    with tempfile.TemporaryDirectory() as folder:
        with wave.open(str(piper_wav(text, Path(folder) / "said.wav")), "rb") as source:
            return np.frombuffer(source.readframes(source.getnframes()), dtype="<i2"), source.getframerate()


def recording(path: Path, *parts: str | float, voice=None) -> Path:
    """A microphone recording: each string spoken (by espeak-ng, or ``voice``), each number that many seconds of silence."""
    pieces, rate = [], 22_050
    for part in parts:
        if isinstance(part, str):
            speech, rate = (voice or espeak)(part)
            pieces.append(speech)
        else:
            pieces.append(np.zeros(int(rate * part), dtype="<i2"))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.concatenate(pieces).tobytes())
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    with playwright_api.sync_playwright() as running:
        yield running


def launch(playwright, microphone: Path, *, loop: bool = True):
    """Chromium whose fake microphone plays ``microphone`` (over and over, or once then silence)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}{'' if loop else '%noloop'}",
        ],
    )


@pytest.fixture(scope="module")
def browser(playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    wav = spoken_wav(tmp_path_factory.mktemp("mic") / "say-hello.wav", "say hello world")
    chromium = launch(playwright, wav)
    yield chromium
    chromium.close()


@pytest.fixture
def new_page(browser, playwright, server: Server, request: pytest.FixtureRequest):
    """Open pages in fresh browser contexts; screenshot them if the test fails."""
    contexts, browsers = [], []
    failed_before = request.session.testsfailed

    def open_page(
        url: str | None = None, *, socket_events: list[str] | None = None, frames: list | None = None,
        microphone: Path | None = None,
    ):
        """A connected chat page; the names of the socket events it receives go to ``socket_events``.

        ``frames`` receives each event as ``(name, data)``; ``microphone``: a recording the page's
        microphone plays once (in a browser of its own), then silence.
        """
        chromium = browser
        if microphone is not None:
            chromium = launch(playwright, microphone, loop=False)
            browsers.append(chromium)
        context = chromium.new_context(permissions=["microphone"], viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT)
        if socket_events is not None or frames is not None:
            record_socket_events(page, socket_events if socket_events is not None else [], frames)
        page.goto(url or server.url)
        wait_connected(page)
        return page

    yield open_page
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, context in enumerate(contexts):
            for index, page in enumerate(context.pages):
                shot = ARTIFACTS / f"{request.node.name}-{number}-{index}.png"
                try:
                    page.screenshot(path=str(shot), full_page=True)
                    print(f"screenshot: {shot}")
                except Exception as e:  # noqa: BLE001 - a crashed page cannot be photographed
                    print(f"no screenshot of {request.node.name}: {e}")
        print(server.log_tail())
    for context in contexts:
        context.close()
    for chromium in browsers:
        chromium.close()


def log_in(browser, url: str, name: str, password: str):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(url)
    page.click("#email")
    page.keyboard.type(name)
    page.click("#password")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    return page


SOCKET_EVENT = re.compile(r'^4[25](?:\d+-)?(?:/[^,]*,)?\d*\["([^"]+)"')
"""A socket.io event (or binary event) in an Engine.IO message frame; group 1 is its name."""


def record_socket_events(page, names: list[str], frames: list | None = None) -> None:
    """Append the name of every socket.io event the page receives to ``names`` (call before loading).

    ``frames``, if given, receives ``(name, data)`` of each text event too.
    """

    def watch(socket) -> None:
        def received(payload) -> None:
            match = SOCKET_EVENT.match(payload) if isinstance(payload, str) else None
            if match:
                names.append(match.group(1))
                if frames is not None:
                    try:
                        event = json.loads(payload[payload.index("[") :])
                    except ValueError:
                        return
                    frames.append((event[0], event[1] if len(event) > 1 else None))

        socket.on("framereceived", received)

    page.on("websocket", watch)


def wait_connected(page) -> None:
    """The chat is ready once the app's settings panel arrived over the socket."""
    page.wait_for_selector("#chat-input")
    page.wait_for_selector("#chat-settings-open-modal")


def attach(page, path: Path) -> None:
    """Attach a file with the paperclip and wait until the server has it."""
    with page.expect_response(lambda r: "/project/file" in r.url and r.request.method == "POST") as upload:
        page.set_input_files("#upload-button-input", str(path))
    assert upload.value.ok, f"upload of {path.name} failed with HTTP {upload.value.status}"


def send(page, text: str) -> None:
    page.click("#chat-input")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def assistant_messages(page):
    return page.locator('[data-step-type="assistant_message"]')


def wait_for_reply(page, count: int = 1):
    """Wait until ``count`` assistant messages are shown and the run has finished; return the last."""
    page.wait_for_function(
        "n => document.querySelectorAll('[data-step-type=\"assistant_message\"]').length >= n",
        arg=count, timeout=REPLY_TIMEOUT,
    )
    wait_until_idle(page)
    return assistant_messages(page).nth(count - 1)


def wait_until_idle(page) -> None:
    """Wait until no turn runs (the stop button has turned back into the send button)."""
    page.wait_for_function("() => !document.querySelector('#stop-button')", timeout=REPLY_TIMEOUT)


def image_size_rendered(locator) -> int:
    """The natural width of an <img> once it has loaded (0 if it failed to load)."""
    locator.wait_for(state="visible", timeout=REPLY_TIMEOUT)
    handle = locator.element_handle()
    handle.wait_for_element_state("stable")
    return int(locator.evaluate("img => img.complete ? img.naturalWidth : 0"))


def make_png(path: Path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(image).ellipse((20, 8, 76, 56), fill="red")
    image.save(path)
    return path


# --------------------------------------------------------------------------- tests


def test_page_loads_with_starters_and_welcome(new_page) -> None:
    page = new_page()
    for starter in ("Draw something", "Describe my photo", "Read the text in an image", "Talk to me"):
        assert page.get_by_text(starter, exact=True).is_visible()
    assert "polychat" in page.title().lower()


def test_typed_message_gets_a_reply(new_page) -> None:
    page = new_page()
    send(page, "hello there")
    page.get_by_text("hello there").first.wait_for()
    reply = wait_for_reply(page)
    assert reply.inner_text().strip()


def test_uploaded_image_is_captioned_with_a_visible_tool_step(new_page, tmp_path: Path) -> None:
    page = new_page()
    attach(page, make_png(tmp_path / "dot.png"))
    send(page, "what is in this picture?")
    wait_for_reply(page)
    page.get_by_text("caption_image").first.wait_for(timeout=REPLY_TIMEOUT)


def test_refused_upload_is_explained_in_words(new_page, tmp_path: Path) -> None:
    page = new_page()
    fake = tmp_path / "broken.png"
    fake.write_bytes(b"this is not a picture at all")
    attach(page, fake)
    send(page, "describe it")
    reply = wait_for_reply(page)
    assert "broken.png" in reply.inner_text()
    assert "Traceback" not in page.content()


def test_drawing_shows_an_inline_image(new_page) -> None:
    page = new_page()
    send(page, "draw a red circle")
    reply = wait_for_reply(page)
    assert image_size_rendered(reply.locator("img.inline-image").first) > 0
    page.get_by_text("generate_image").first.wait_for()


def test_settings_panel_sets_the_steps_and_seed_of_pictures(new_page) -> None:
    page = new_page()
    page.click("#chat-settings-open-modal")
    slider = page.locator('[role="slider"]').first
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert slider.get_attribute("aria-valuenow") == "2"
    page.click("#image_seed")
    page.keyboard.type("42")
    page.click("#confirm")
    send(page, "draw a red circle")
    first = wait_for_reply(page)
    send(page, "draw a red circle")
    second = wait_for_reply(page, 2)
    assert "seed 42" in first.inner_text() and "seed 42" in second.inner_text()
    sources = [r.locator("img.inline-image").first.get_attribute("src") for r in (first, second)]
    pictures = [page.request.get(source).body() for source in sources]
    assert pictures[0] == pictures[1]  # the same seed and prompt give the same picture


def test_voice_message_through_the_microphone_is_answered_out_loud(new_page) -> None:
    page = new_page()
    microphone = page.locator("#upload-button").locator("xpath=preceding::button[1]")
    microphone.click()
    user_words = page.locator('[data-step-type="user_message"]').filter(has_text="hello")
    user_words.first.wait_for(timeout=REPLY_TIMEOUT)
    assert "world" in user_words.first.inner_text().lower()
    reply = wait_for_reply(page)
    reply.locator("audio").first.wait_for(state="attached", timeout=REPLY_TIMEOUT)
    source = reply.locator("audio").first.get_attribute("src")
    assert source


def press_microphone(page) -> None:
    page.locator("#upload-button").locator("xpath=preceding::button[1]").click()


def user_message_contents(frames: list) -> list[str]:
    """The contents the person's messages were sent or updated with, in order."""
    return [
        data.get("output", "")
        for name, data in frames
        if name in ("new_message", "update_message") and isinstance(data, dict) and data.get("type") == "user_message"
    ]


def histories(data_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in (data_dir / "web" / "threads").glob("*/history.json")]


def wait_for_history(page, server: Server, words: str) -> Path:
    """Wait until a conversation's history holds a turn whose words include ``words``; its folder."""
    for _ in range(REPLY_TIMEOUT // 500):
        for path in (server.data_dir / "web" / "threads").glob("*/history.json"):
            turns = json.loads(path.read_text())["turns"]
            if any(words in turn["user_text"].lower() for turn in turns):
                return path.parent
        page.wait_for_timeout(500)
    raise AssertionError(f"no turn with {words!r} was recorded")


def test_voice_partial_words_show_while_speaking_then_the_final_transcript(new_page, tmp_path: Path) -> None:
    events: list[str] = []
    frames: list = []
    wav = recording(
        tmp_path / "two-sentences.wav",
        1.0, "Say good morning to everyone.", 0.6,
        "Then tell me about the weather in the mountains today, and whether it will rain or snow tomorrow "
        "morning near the lake, and what I should wear for a long walk.", 5.0,
    )
    page = new_page(socket_events=events, frames=frames, microphone=wav)
    press_microphone(page)
    reply = wait_for_reply(page)
    reply.locator("audio").first.wait_for(state="attached", timeout=REPLY_TIMEOUT)
    shown = user_message_contents(frames)
    partial = [n for n, text in enumerate(shown) if text.startswith("🎤") and "morning" in text.lower()]
    final = [n for n, text in enumerate(shown) if "weather" in text.lower() and not text.startswith("🎤")]
    assert partial and final, shown
    assert partial[0] < final[0], shown  # the words so far showed before the whole transcript
    assert "morning" in shown[final[0]].lower()
    assert "audio_chunk" in events  # the reply was spoken as it was made


def test_voice_going_on_after_a_pause_is_one_question_answered_once(new_page, server: Server, tmp_path: Path) -> None:
    # Hands-free. The pause after "Say good morning" passes the end-of-turn silence (an
    # answer begins), and the person goes on within the grace window: that answer is
    # withdrawn, and the whole sentence is answered once.
    frames: list = []
    wav = recording(tmp_path / "pause.wav", 1.0, "Say good morning", 0.5, "to all of my friends.", 5.0)
    page = new_page(frames=frames, microphone=wav)
    page.click("#chat-settings-open-modal")
    page.click("#keep_listening")
    page.click("#confirm")
    press_microphone(page)
    thread = wait_for_history(page, server, "friends")
    wait_until_idle(page)
    page.wait_for_timeout(1_000)  # let a withdrawn answer's clean-up land (a step, not an assertion)
    turns = json.loads((thread / "history.json").read_text())["turns"]
    assert len(turns) == 1, turns  # the answer begun at the pause left no turn
    heard = turns[0]["user_text"].lower()
    # both halves in one question ("morning" before the pause; Whisper base on a loaded CPU has heard "mourning")
    assert re.search(r"mo\w*rning", heard) and "friends" in heard, heard
    kept = json.loads((thread / "artifacts.json").read_text())["artifacts"]
    assert sorted(a["id"] for a in kept) == sorted(turns[0]["attachments"] + turns[0]["artifacts"]), kept
    assert assistant_messages(page).count() == 1
    said = [text for text in user_message_contents(frames) if not text.startswith("🎤")]
    assert said and "friends" in said[-1].lower(), said


@pytest.mark.skipif(not __import__("speech_helpers").piper_available(), reason="needs the packaged Piper voice")
def test_voice_speaking_over_a_reply_interrupts_it_and_is_answered(new_page, server: Server, tmp_path: Path) -> None:
    events: list[str] = []
    long_text = (
        "Say the weather is mild today and the river runs slowly past the old stone mill "
        "while the birds sing in the tall green trees and the children play by the water "
        "until the sun goes down behind the hills and the lamps are lit in every window of the quiet village"
    )
    # The reply (about 12 s of speech) begins as the end-of-turn silence after the request
    # ends; 6 s later, "Say hello world." comes while it still plays, whatever the server's speed
    # within reason (its first sentence must begin within about 5 s).
    wav = recording(tmp_path / "barge-in.wav", 1.0, long_text, 6.0, "Say hello world.", 5.0, voice=piper)
    page = new_page(socket_events=events, microphone=wav)
    page.click("#chat-settings-open-modal")
    page.click("#keep_listening")
    page.click("#confirm")
    press_microphone(page)
    page.locator('[data-step-type="user_message"]').filter(has_text="world").first.wait_for(timeout=REPLY_TIMEOUT)
    wait_for_reply(page, 2)
    assert "audio_interrupt" in events, events  # the first reply's playback was stopped
    turns = next(h["turns"] for h in histories(server.data_dir) if "stone mill" in json.dumps(h).lower())
    assert turns[0]["cancelled"], turns[0]  # cut off: marked so, keeping only the words played
    assert "stone mill" in turns[0]["user_text"].lower()
    assert len(turns) >= 2 and "world" in turns[1]["user_text"].lower(), turns  # the new words were answered


def test_voice_silence_is_never_taken_for_words(new_page, tmp_path: Path) -> None:
    rate = 22_050
    noise = (np.random.default_rng(7).normal(0, 60, rate * 6)).astype("<i2")  # a quiet room's hiss
    wav = tmp_path / "hiss.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(noise.tobytes())
    page = new_page(microphone=wav)
    press_microphone(page)
    page.wait_for_timeout(6_000)  # let the whole recording reach the server (a step, not an assertion)
    press_microphone(page)  # off: the recording held no speech
    said = page.get_by_text(re.compile(r"didn't hear any speech|couldn't hear any words"))
    said.first.wait_for(timeout=REPLY_TIMEOUT)
    words = page.locator('[data-step-type="user_message"]')
    assert words.count() == 0 or all(w.strip() in ("", "🎤 …", "(voice message)") for w in words.all_inner_texts())


COUNT_STREAM_PLAYERS = """() => {
    window.streamPlayers = 0;
    const Node = window.AudioWorkletNode;
    window.AudioWorkletNode = class extends Node {
        constructor(context, name, options) {
            super(context, name, options);
            if (name === "stream_processor") window.streamPlayers += 1;
        }
    };
}"""
"""Counts the audio outputs Chainlit's stream player opens (one per stretch of streamed speech)."""


def test_spoken_reply_streams_to_the_player_sentence_by_sentence(new_page) -> None:
    events: list[str] = []
    page = new_page(socket_events=events)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda note: problems.append(note.text) if "polychat:" in note.text else None)
    page.evaluate(COUNT_STREAM_PLAYERS)
    send(page, 'say "The first sentence is here. The second one follows. And this is the third."')
    reply = wait_for_reply(page)
    player = reply.locator("audio").first
    player.wait_for(state="attached", timeout=REPLY_TIMEOUT)
    assert player.get_attribute("src")
    assert events.count("audio_chunk") > 1, events  # one per sentence, not one recording at the end
    assert events.index("audio_chunk") < len(events) - 1 - events[::-1].index("element")  # heard before attached
    assert player.evaluate("audio => audio.autoplay") is False  # already heard: the player does not repeat it
    assert page.evaluate("window.streamPlayers") >= 1  # the sentences went to a player connected to the speakers
    assert not problems


def test_reply_text_streams_into_the_message(new_page) -> None:
    events: list[str] = []
    page = new_page(socket_events=events)
    send(page, "hello there")
    reply = wait_for_reply(page)
    assert reply.inner_text().strip()
    assert "stream_start" in events
    assert events.count("stream_token") > 1, events  # the chat model's words arrive piece by piece


def test_stop_button_stops_a_long_picture(new_page) -> None:
    page = new_page()
    page.click("#chat-settings-open-modal")
    slider = page.locator('[role="slider"]').first
    slider.focus()
    page.keyboard.press("End")
    assert slider.get_attribute("aria-valuenow") == "100"
    page.click("#confirm")
    send(page, "draw a lighthouse in the fog")
    page.get_by_text(re.compile(r"step \d+ of 100")).first.wait_for(timeout=REPLY_TIMEOUT)
    page.click("#stop-button")
    wait_until_idle(page)
    stopped = assistant_messages(page).filter(has_text="You stopped this reply")
    stopped.first.wait_for(timeout=REPLY_TIMEOUT)
    assert "Stopped generate_image" in stopped.first.inner_text()
    assert page.locator("img.inline-image").count() == 0
    shown = assistant_messages(page).count()
    send(page, "say hello again")  # the conversation goes on
    wait_for_reply(page, shown + 1).locator("audio").first.wait_for(state="attached", timeout=REPLY_TIMEOUT)


def test_conversation_survives_a_server_restart(new_page, server: Server, tmp_path: Path) -> None:
    page = new_page()
    attach(page, make_png(tmp_path / "dot.png"))
    send(page, "what is in this picture?")
    wait_for_reply(page)
    send(page, "draw a green apple")
    assert image_size_rendered(wait_for_reply(page, 2).locator("img.inline-image").first) > 0
    page.context.close()

    server.restart()
    page = new_page()
    page.locator("#thread-history").get_by_text("what is in this picture?").first.click()
    page.get_by_text("draw a green apple").first.wait_for()
    drawn = wait_for_reply(page, 2).locator("img.inline-image").first
    assert image_size_rendered(drawn) > 0
    assert "/polychat/files/" in drawn.get_attribute("src")  # served from the stored copy
    sent = page.locator('[data-step-type="user_message"]').first.locator("img").first
    assert image_size_rendered(sent) == 96  # the photo of the very first message is kept too
    send(page, "say welcome back")
    wait_for_reply(page, 3).locator("audio").first.wait_for(state="attached", timeout=REPLY_TIMEOUT)


def test_two_people_chat_at_the_same_time(new_page) -> None:
    first, second = new_page(), new_page()
    send(first, "draw a blue square")
    send(second, "say good morning")
    drawn = wait_for_reply(first)
    spoken = wait_for_reply(second)
    assert image_size_rendered(drawn.locator("img.inline-image").first) > 0
    spoken.locator("audio").first.wait_for(state="attached", timeout=REPLY_TIMEOUT)
    assert drawn.locator("audio").count() == 0
    assert spoken.locator("img.inline-image").count() == 0


def test_password_login_keeps_each_persons_conversations_apart(browser, tmp_path: Path) -> None:
    guarded = Server(tmp_path, POLYCHAT_AUTH_USERS="alice:wonderland,bob:builder")
    guarded.start()
    pages = []
    try:
        intruder = log_in(browser, guarded.url, "alice", "wrong")
        pages.append(intruder)
        intruder.get_by_text("credentialssignin", exact=False).wait_for()
        assert "/login" in intruder.url

        alice = log_in(browser, guarded.url, "alice", "wonderland")
        pages.append(alice)
        wait_connected(alice)
        send(alice, "describe my photo")
        assert "image" in wait_for_reply(alice).inner_text().lower()  # no photo yet: a sentence, no model
        alice.wait_for_url("**/thread/**")
        alice_thread = alice.url

        bob = log_in(browser, guarded.url, "bob", "builder")
        pages.append(bob)
        wait_connected(bob)
        assert bob.locator("#thread-history").get_by_text("describe my photo").count() == 0
        bob.goto(alice_thread)
        bob.get_by_text("Couldn't resume chat").wait_for()
        assert bob.locator('[data-step-type="user_message"]').count() == 0
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"password-login-{index}.png"))
        print(guarded.log_tail())
        raise
    finally:
        for page in pages:
            page.context.close()
        guarded.stop()


def test_the_first_caption_on_an_empty_cache_shows_its_download_then_answers(new_page, tmp_path: Path) -> None:
    """A connected first run: BLIP comes from a hub (the loopback stand-in, slowed down) while the turn waits."""
    from hub_standin import StandIn

    (tmp_path / "hub").mkdir()
    hub = StandIn(tmp_path / "hub", "--mode", "tiny", "--repo", "Salesforce/blip-image-captioning-base").start(
        "--rate", "20000")  # 20 kB/s: the tiny weights take seconds, as real ones take minutes
    first_run = Server(tmp_path / "data", HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=hub.url,
                       POLYCHAT_CAPTION_IMAGE_MODEL="Salesforce/blip-image-captioning-base")
    first_run.start()
    try:
        page = new_page(first_run.url)
        attach(page, make_png(tmp_path / "dot.png"))
        send(page, "what is in this picture?")
        pattern = re.compile(r"Downloading BLIP captioning \(([\d.]+) of ([\d.]+) kB\)")
        seen: list[str] = []  # each progress text the page showed, as it changed
        deadline = time.monotonic() + REPLY_TIMEOUT / 1000
        while (not assistant_messages(page).count() or page.query_selector("#stop-button")) \
                and time.monotonic() < deadline:
            for text in page.get_by_text(pattern).all_inner_texts():
                if not seen or seen[-1] != text:
                    seen.append(text)
            page.wait_for_timeout(100)
        reply = wait_for_reply(page)
        assert reply.inner_text().strip()  # the tiny model's caption
        progress = [pattern.search(text) for text in seen]
        done = [float(m.group(1)) for m in progress if m]
        assert len(set(done)) >= 2 and done == sorted(done), seen  # it moved, forwards
        assert done[-1] > 100 and len({m.group(2) for m in progress if m}) == 1, seen  # one total throughout
        assert any(r.get("file") == "model.safetensors" for r in hub.requests())
    finally:
        first_run.stop()
        hub.kill()
