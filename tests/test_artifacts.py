"""Tests for agent.artifacts.ArtifactStore: ids, lookups, safe paths, persistence, threads."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent import media
from agent.artifacts import INDEX_NAME, Artifact, ArtifactStore
from agent.config import Settings
from agent.errors import MediaError, ToolError


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(seconds: float = 0.25) -> bytes:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return media.encode_wav(0.3 * np.sin(2 * np.pi * 440 * t), 16_000)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(tmp_path: Path, settings: Settings) -> ArtifactStore:
    return ArtifactStore(tmp_path / "sessions" / "s1", settings)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# --------------------------------------------------------------------------- adding and ids


def test_ids_are_numbered_per_kind(store: ArtifactStore) -> None:
    first = store.add_bytes(png_bytes(), turn=1, name="cat.png")
    voice = store.add_bytes(wav_bytes(), turn=1)
    second = store.add_bytes(png_bytes((0, 0, 255)), turn=2)
    assert [first.id, voice.id, second.id] == ["image-1", "audio-1", "image-2"]
    assert (first.kind, first.mime, first.origin) == ("image", "image/png", "uploaded")
    assert (first.turn, first.name) == (1, "cat.png")
    assert (voice.kind, voice.mime) == ("audio", "audio/wav")
    assert first.path == store.root / "image-1.png"
    assert voice.path == store.root / "audio-1.wav"
    assert first.path.read_bytes() == png_bytes()
    assert len(store) == 3
    assert [a.id for a in store.all()] == ["image-1", "audio-1", "image-2"]


def test_the_root_folder_is_made_private_with_the_first_file(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "a" / "b" / "session"
    store = ArtifactStore(root, settings)
    assert not (tmp_path / "a").exists()  # a store nobody wrote to leaves nothing behind
    store.add_bytes(png_bytes())
    assert root.is_dir() and (root.stat().st_mode & 0o777) == 0o700
    assert sorted((p.name, p.stat().st_mode & 0o777) for p in root.iterdir()) == [
        (INDEX_NAME, 0o600), ("image-1.png", 0o600)
    ]


def test_extension_comes_from_the_bytes_not_the_name(store: ArtifactStore) -> None:
    artifact = store.add_bytes(wav_bytes(), name="holiday.jpg")
    assert artifact.id == "audio-1"
    assert artifact.path.name == "audio-1.wav"
    assert artifact.name == "holiday.jpg"


def test_get_resolves_ids(store: ArtifactStore) -> None:
    image = store.add_bytes(png_bytes())
    audio = store.add_bytes(wav_bytes())
    assert store.get("image-1") == image
    assert store.get(" Image-1 ") == image
    assert store.get("audio-1", kind="audio") == audio
    assert "image-1" in store and "AUDIO-1" in store
    assert "image-2" not in store and 3 not in store


def test_unknown_ids_are_refused_with_the_known_list(store: ArtifactStore) -> None:
    store.add_bytes(png_bytes())
    store.add_bytes(png_bytes())
    store.add_bytes(wav_bytes())
    with pytest.raises(ToolError) as caught:
        store.get("image-7")
    assert str(caught.value) == "There is no image-7 in this conversation; known: image-1, image-2, audio-1."
    with pytest.raises(ToolError, match="There is no picture-1 in this conversation; known: image-1"):
        store.get("picture-1")
    with pytest.raises(ToolError, match="known: audio-1.$"):
        store.get("audio-9", kind="audio")


def test_unknown_ids_in_an_empty_store(store: ArtifactStore) -> None:
    with pytest.raises(ToolError) as caught:
        store.get("image-1")
    assert str(caught.value) == "There is no image-1 in this conversation; no images or audio yet."
    store.add_bytes(wav_bytes())
    with pytest.raises(ToolError) as caught:
        store.get("image-1", kind="image")
    assert str(caught.value) == "There is no image-1 in this conversation; no images yet."


def test_kind_mismatch_is_a_sentence(store: ArtifactStore) -> None:
    store.add_bytes(png_bytes())
    store.add_bytes(wav_bytes())
    with pytest.raises(ToolError) as caught:
        store.get("audio-1", kind="image")
    assert str(caught.value) == "audio-1 is audio, not an image; use one of image-1."
    with pytest.raises(ToolError) as caught:
        store.get("image-1", kind="audio")
    assert str(caught.value) == "image-1 is an image, not audio; use one of audio-1."


def test_latest_returns_the_newest_of_a_kind(store: ArtifactStore) -> None:
    assert store.latest("image") is None
    store.add_bytes(png_bytes())
    store.add_bytes(wav_bytes())
    newest = store.add_bytes(png_bytes((1, 2, 3)))
    assert store.latest("image") == newest
    assert store.latest("audio").id == "audio-1"


def test_uploads_are_checked(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="The file is empty"):
        store.add_bytes(b"")
    with pytest.raises(MediaError, match=r"is audio \(audio/wav\), not an image"):
        store.add_bytes(wav_bytes(), kind="image")
    with pytest.raises(MediaError, match="is text, which polychat cannot read"):
        store.add_bytes(b"just some words\n", name="notes.png")
    assert len(store) == 0
    assert store.add_bytes(png_bytes()).id == "image-1"  # refusals used up no numbers


def test_oversized_uploads_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s", Settings(max_upload_mb=0.0001))  # about 100 bytes
    big = tmp_path / "big.wav"
    big.write_bytes(wav_bytes(1.0))
    for attempt in (lambda: store.add_bytes(big.read_bytes()), lambda: store.add_file(big)):
        with pytest.raises(MediaError) as caught:
            attempt()
        assert "the limit is 0.0001 MB" in str(caught.value)
        assert "POLYCHAT_MAX_UPLOAD_MB" in str(caught.value)
    assert len(store) == 0


def test_add_file_copies_the_file_in(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "uploads" / "voice note.wav"
    source.parent.mkdir()
    source.write_bytes(wav_bytes())
    artifact = store.add_file(source, turn=4)
    assert (artifact.id, artifact.name, artifact.turn) == ("audio-1", "voice note.wav", 4)
    assert artifact.path.parent == store.root
    assert artifact.path.read_bytes() == source.read_bytes()
    source.unlink()
    assert artifact.path.is_file()
    with pytest.raises(MediaError, match="does not exist"):
        store.add_file(tmp_path / "missing.png")


def test_add_image_saves_png(store: ArtifactStore) -> None:
    image = Image.new("RGB", (16, 9), (10, 120, 240))
    artifact = store.add_image(image, turn=3, step=1, tool="generate_image")
    assert (artifact.id, artifact.mime, artifact.origin) == ("image-1", "image/png", "generated")
    assert artifact.describe() == "image-1 (made by generate_image in turn 3)"
    with Image.open(artifact.path) as saved:
        assert saved.format == "PNG" and saved.size == (16, 9)
        assert saved.getpixel((0, 0)) == (10, 120, 240)
    cmyk = store.add_image(Image.new("CMYK", (4, 4)), origin="uploaded")
    assert cmyk.origin == "uploaded"
    assert media.load_image(cmyk.path).mode == "RGB"


def test_add_audio_saves_wav(store: ArtifactStore) -> None:
    t = np.arange(22_050) / 22_050
    artifact = store.add_audio(0.4 * np.sin(2 * np.pi * 220 * t), 22_050, turn=2, step=3, tool="speak_text")
    assert (artifact.id, artifact.mime, artifact.path.name) == ("audio-1", "audio/wav", "audio-1.wav")
    decoded = media.decode_audio(artifact.path)
    assert abs(decoded.size - media.SAMPLE_RATE) < 0.01 * media.SAMPLE_RATE


def test_origin_is_validated(store: ArtifactStore) -> None:
    with pytest.raises(ValueError):
        store.add_bytes(png_bytes(), origin="downloaded")


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..\\..\\Windows\\win.ini",
        "evil\x00.png",
        "../",
        "image-2.png",
        "a" * 5_000,
    ],
    ids=["dotdot", "absolute", "backslashes", "nul", "bare-dotdot", "another-id", "very-long"],
)
def test_outside_names_never_become_paths(tmp_path: Path, settings: Settings, name: str) -> None:
    root = tmp_path / "sessions" / "s1"
    root.mkdir(parents=True)
    store = ArtifactStore(root, settings)
    before = files_under(tmp_path)
    artifact = store.add_bytes(png_bytes(), name=name)
    assert artifact.path == root.resolve() / "image-1.png"
    assert files_under(tmp_path) - before == {root / "image-1.png", root / INDEX_NAME}
    if artifact.name is not None:
        assert "/" not in artifact.name and "\\" not in artifact.name and "\x00" not in artifact.name
        assert len(artifact.name) <= 255


def test_weird_ids_are_refused_not_resolved(store: ArtifactStore) -> None:
    store.add_bytes(png_bytes())
    for bad in ("../image-1", "image-1.png", "/etc/passwd", "image-01", "image-0", "", "image-1\x00"):
        with pytest.raises(ToolError, match="in this conversation"):
            store.get(bad)


def test_a_planted_symlink_is_not_written_through(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root, settings)
    store.add_bytes(png_bytes())
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    os.symlink(outside, root / "image-2.png")
    with pytest.raises(MediaError, match="outside the session folder"):
        store.add_bytes(png_bytes())
    assert outside.read_text() == "keep me"


# --------------------------------------------------------------------------- persistence


def test_reopening_keeps_ids_and_numbering(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root, settings)
    store.add_bytes(png_bytes(), turn=1, name="cat.png")
    store.add_bytes(wav_bytes(), turn=1)
    store.add_image(Image.new("RGB", (3, 3)), turn=2, step=1, tool="generate_image")

    reopened = ArtifactStore(root, settings)
    assert reopened.all() == store.all()
    assert reopened.get("image-2").tool == "generate_image"
    assert reopened.get("image-1").name == "cat.png"
    assert reopened.add_bytes(png_bytes()).id == "image-3"
    assert reopened.add_bytes(wav_bytes()).id == "audio-2"
    index = json.loads((root / INDEX_NAME).read_text())
    assert [entry["id"] for entry in index["artifacts"]] == ["image-1", "audio-1", "image-2", "image-3", "audio-2"]


def test_a_deleted_file_is_forgotten_but_its_number_not_reused(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root, settings)
    store.add_bytes(png_bytes())
    store.add_bytes(png_bytes())
    (root / "image-2.png").unlink()
    reopened = ArtifactStore(root, settings)
    assert [a.id for a in reopened.all()] == ["image-1"]
    assert reopened.add_bytes(png_bytes()).id == "image-3"


def test_a_lost_or_broken_index_is_rebuilt_from_the_files(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root, settings)
    store.add_bytes(png_bytes())
    store.add_bytes(wav_bytes())
    store.add_bytes(png_bytes())
    (root / INDEX_NAME).write_text("{ not json")
    reopened = ArtifactStore(root, settings)
    assert sorted(a.id for a in reopened.all()) == ["audio-1", "image-1", "image-2"]
    assert reopened.get("audio-1").mime == "audio/wav"
    (root / INDEX_NAME).unlink()
    assert len(ArtifactStore(root, settings)) == 3


def test_paths_in_a_tampered_index_are_ignored(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    store = ArtifactStore(root, settings)
    store.add_bytes(png_bytes())
    index = json.loads((root / INDEX_NAME).read_text())
    index["artifacts"][0]["file"] = str(secret)
    index["artifacts"].append({"id": "image-2", "kind": "image", "mime": "image/png", "file": "../secret.png"})
    index["artifacts"].append({"id": "../../secret", "kind": "image", "mime": "image/png"})
    (root / INDEX_NAME).write_text(json.dumps(index))
    reopened = ArtifactStore(root, settings)
    assert [a.id for a in reopened.all()] == ["image-1"]
    assert reopened.get("image-1").path == root.resolve() / "image-1.png"


def test_no_temporary_files_are_left_behind(store: ArtifactStore) -> None:
    store.add_bytes(png_bytes())
    store.add_audio(np.zeros(100), 16_000)
    assert sorted(p.name for p in store.root.iterdir()) == ["artifacts.json", "audio-1.wav", "image-1.png"]


# --------------------------------------------------------------------------- threads


def test_concurrent_adds_get_distinct_ids(tmp_path: Path, settings: Settings) -> None:
    root = tmp_path / "s"
    store = ArtifactStore(root, settings)
    results: list[Artifact] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            for n in range(10):
                if (index + n) % 3 == 0:
                    results.append(store.add_audio(np.zeros(160), 16_000))
                else:
                    results.append(store.add_bytes(png_bytes((index, n, 0))))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = [a.id for a in results]
    assert len(ids) == len(set(ids)) == 80
    images = sorted(int(i.split("-")[1]) for i in ids if i.startswith("image-"))
    audio = sorted(int(i.split("-")[1]) for i in ids if i.startswith("audio-"))
    assert images == list(range(1, len(images) + 1))
    assert audio == list(range(1, len(audio) + 1))
    assert sorted(a.id for a in ArtifactStore(root, settings).all()) == sorted(ids)
