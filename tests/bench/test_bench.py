"""The benchmark suite: its helpers, its fairness checks, and a whole ``--quick`` run (slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import corpus, defaults, realsize
from bench.common import PROJECT_ROOT, RunConfig
from bench.measure import interleaved, stats
from bench.report import RANDOM_REAL_SIZE, REAL_WEIGHTS, Section, Table, render_table
from bench.runner import SECTIONS, parse_sections

SECTION_HEADINGS = (
    "## 1. Per-tool cost",
    "## 2. Speech recognition",
    "## 3. Text to speech",
    "## 4. Voice to voice",
    "## 5. Voice and chat through the turn stream",
    "## 6. Live voice",
    "## 7. Server start",
    "## 8. Load",
    "## 9. Side by side",
    "## 10. GPU",
)
NUMBER = re.compile(r"^-?\d+(\.\d+)?(×|%)?$")


def table_cells(markdown: str) -> list[list[str]]:
    """The body cells of every Markdown table in ``markdown`` (header and separator rows left out)."""
    rows, previous = [], ""
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---") and previous.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        previous = line if line.startswith("|") else ""
    return rows


def section_text(report: str, heading: str) -> str:
    start = report.index(heading)
    following = report.find("\n## ", start + len(heading))
    return report[start: following if following != -1 else len(report)]


# -- helpers ----------------------------------------------------------------------------------


def test_stats_give_median_spread_and_quartiles():
    summary = stats([3.0, 1.0, 2.0, 10.0])
    assert summary.median == 2.5
    assert (summary.minimum, summary.maximum) == (1.0, 10.0)
    assert summary.spread() == "1.00–10.00"
    assert summary.iqr == (1.75, 4.75)
    with pytest.raises(ValueError):
        stats([])


def test_interleaved_runs_contenders_in_turns():
    calls: list[str] = []
    timings, results = interleaved({"a": lambda: calls.append("a") or 1, "b": lambda: calls.append("b") or 2}, 3)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert timings["a"].n == timings["b"].n == 3
    assert results == {"a": 1, "b": 2}


def test_sections_parse_in_report_order_and_refuse_unknown_names():
    assert parse_sections("") == list(SECTIONS)
    assert parse_sections("compare, tools") == ["tools", "compare"]
    with pytest.raises(ValueError, match="unknown section nope"):
        parse_sections("tools,nope")


def test_tables_render_escaped_cells_and_refuse_ragged_rows():
    table = Table("T", ["a |x|", "b"], command="python -m bench --sections tools")
    table.add(1.23456, None)
    table.add("x|y", 7)
    text = render_table(table)
    assert "| a \\|x\\| | b |" in text
    assert "| 1.23 | — |" in text and "| x\\|y | 7 |" in text
    assert "Command: `python -m bench --sections tools`" in text
    with pytest.raises(ValueError):
        table.add(1)


def test_error_rates_ignore_case_and_punctuation():
    assert corpus.word_error_rate(["Hello, world!"], ["hello world"]) == 0.0
    assert corpus.word_error_rate(["the cat sat"], ["the dog sat"]) == pytest.approx(1 / 3)
    assert corpus.word_error_rate(["two words"], [""]) == 1.0
    assert corpus.char_error_rate("Total due: 48.50", "TOTAL DUE 48 50") == 0.0


def test_images_have_the_sizes_the_report_states(tmp_path: Path):
    from PIL import Image

    assert Image.open(corpus.scene_image(tmp_path / "scene.png")).size == (640, 480)
    page = Image.open(corpus.page_image(tmp_path / "page.png"))
    assert page.size == (760, 80 + 60 * len(corpus.PAGE_LINES))


def test_real_vocab_whisper_tokenizer_has_openai_layout():
    tokenizer = realsize.whisper_tokenizer_real_vocab()
    assert len(tokenizer) == 51865
    ids = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>",
                                           "<|notimestamps|>", "<|0.00|>"])
    assert ids == [50257, 50258, 50259, 50359, 50363, 50364]


# -- the verdicts -----------------------------------------------------------------------------


def _section(**findings) -> Section:
    return Section("x", "x", findings=findings)


def test_verdicts_follow_the_numbers(monkeypatch):
    asr = [
        {"model": "whisper-base", "compute_type": "int8", "beams": 5, "threads": 0, "rtf": 0.30, "wer": 0.05},
        {"model": "whisper-base", "compute_type": "float32", "beams": 5, "threads": 0, "rtf": 0.50, "wer": 0.05},
        {"model": "whisper-base", "compute_type": "int8", "beams": 1, "threads": 0, "rtf": 0.20, "wer": 0.05},
    ]
    sections = [_section(asr=asr, engines={("small", "CTranslate2", "int8"): 4.0})]
    assert defaults.asr_engine(sections)[-1] == "keep"  # the code already puts faster-whisper first
    import agent.models.catalog

    monkeypatch.setattr(agent.models.catalog, "preferred_backends", lambda slot: ["transformers", "faster-whisper"])
    assert defaults.asr_engine(sections)[-1].startswith("**change suggested**")
    assert defaults.asr_compute_type(sections)[-1] == "keep"
    beam = defaults.asr_beam(sections)
    assert "beam 5 costs 1.50×" in beam[3] and beam[-1].startswith("**question**")
    assert defaults.asr_threads(sections)[3] == defaults.NOT_MEASURED

    slower_int8 = [dict(asr[0], rtf=0.8), asr[1]]
    assert defaults.asr_compute_type([_section(asr=slower_int8)])[-1].startswith("**change suggested**")


def test_ocr_verdict_prefers_accuracy_then_speed():
    def rows(tesseract: tuple[float, float], rapidocr: tuple[float, float]) -> list[Section]:
        return [_section(tools=[
            {"tool": "read_image_text", "label": REAL_WEIGHTS, "backend": "tesseract", "warm": tesseract[0],
             "score": tesseract[1]},
            {"tool": "read_image_text", "label": REAL_WEIGHTS, "backend": "rapidocr", "warm": rapidocr[0],
             "score": rapidocr[1]},
        ])]

    assert defaults.ocr_engine(rows((0.4, 0.00), (0.3, 0.04)))[-1] == "keep"  # tesseract reads better
    assert defaults.ocr_engine(rows((0.9, 0.01), (0.3, 0.01)))[-1] == "**change suggested**: rapidocr first"


def test_tts_and_streaming_verdicts(monkeypatch):
    tts = [{"engine": "Piper · joe", "label": REAL_WEIGHTS, "rtf": 0.05},
           {"engine": "SpeechT5 + HiFi-GAN · real size", "label": RANDOM_REAL_SIZE, "rtf": 0.9}]
    assert defaults.tts_engine([_section(tts=tts)])[-1] == "keep"  # Piper is already first
    import agent.models.catalog

    monkeypatch.setattr(agent.models.catalog, "preferred_backends", lambda slot: ["speecht5", "piper"])
    assert defaults.tts_engine([_section(tts=tts)])[-1].startswith("**change suggested**")
    voice = {"whole_first_audio": 6.0, "streaming_first_audio": 2.0}
    assert "(3.0×)" in defaults.spoken_replies([_section(voice=voice)])[3]
    assert defaults.tts_engine([])[3] == defaults.NOT_MEASURED


def test_stream_verdicts_read_the_stream_section():
    stream = {"first_audio": 2.0, "whole": 4.0, "target": 1.3, "met": False, "asr_tool": 1.0,
              "asr_language_given": 0.6, "language_given_first_audio": 1.6}
    spoken = defaults.spoken_replies([_section(stream=stream, voice={"whole_first_audio": 9.0,
                                                                     "streaming_first_audio": 1.0})])
    assert spoken[2] == "stream" and "(2.0×)" in spoken[3] and "not met" in spoken[3]
    assert spoken[-1].startswith("keep")
    language = defaults.voice_language([_section(stream=stream)])
    assert "detection is 40% of the transcription" in language[3] and "about 1.60 s" in language[3]
    assert language[-1].startswith("**change suggested**")
    assert defaults.voice_language([_section(stream=dict(stream, asr_language_given=0.9))])[-1] == "keep"
    assert defaults.voice_language([])[3] == defaults.NOT_MEASURED


def test_gpu_verdicts_read_the_gpu_tables():
    gpu = {"card": "Some GPU", "whisper": {("float32", "sdpa"): 2.0, ("float16", "sdpa"): 1.0,
                                          ("float16", "eager"): 1.5}, "sd": {"float32": 6.0, "float16": 2.0}}
    dtype = defaults.cuda_dtype([_section(gpu=gpu)])
    assert "2.00× faster for Whisper, 3.00× for Stable Diffusion" in dtype[3] and dtype[-1] == "keep"
    assert defaults.attention_kernel([_section(gpu=gpu)])[-1] == "keep"
    assert "needs CUDA" in defaults.cuda_dtype([_section(gpu=None)])[3]


def test_defaults_part_is_a_table_of_every_default(tmp_path: Path):
    config = RunConfig(quick=True, device="cpu", work=tmp_path, command="python -m bench --quick")
    text = defaults.render_defaults([], config)
    assert text.startswith("## Defaults chosen from these numbers")
    rows = table_cells(text)
    assert len(rows) == 12 and all(row[3].startswith(defaults.NOT_MEASURED) for row in rows)


# -- the turn stream section ------------------------------------------------------------------


def _voice_events(times: dict[str, float], *, sentences: int = 3, transcribed: bool = True) -> list:
    """A voice turn's events as ``Assistant.stream`` yields them, at the given seconds."""
    import numpy as np

    from agent.turn.events import (AudioChunk, PlanMade, Reply, StepFinished, StepStarted, TextDelta, Transcript,
                                   TurnDone)
    from agent.turn.executor import StepOutcome

    took = times["transcribe_finished"] - times["transcribe_started"]
    heard = StepOutcome("transcribe_audio", {"audio": "audio-1"}, seconds=took, ok=transcribed,
                        error=None if transcribed else "no speech")
    spoken = StepOutcome("speak_text", {"text": "A. B. C."}, seconds=1.0, ok=True)
    # As the stream gives them: a voice note's transcription shows as its transcript, not as step events.
    if not transcribed:
        return [(times["transcribe_finished"], Transcript("", None)),
                (times["done"], TurnDone(Reply(text="no speech", steps=[heard])))]
    events = [(times["transcribe_finished"], Transcript("what can you do", "en")),
              (times["transcribe_finished"] + 0.001, PlanMade([], chat=True)),
              (times["transcribe_finished"] + 0.002, TextDelta("A. B. C.")),
              (times["speak_started"], StepStarted(2, "speak_text", {"text": "A. B. C."}))]
    for index in range(sentences):
        at = times["first_audio"] + index * 0.1
        events.append((at, AudioChunk(2, index, "A.", np.zeros(2205 * (index + 1), np.float32), 22050)))
    events += [(times["done"], StepFinished(2, spoken)),
               (times["done"], TurnDone(Reply(text="A. B. C.", steps=[heard, spoken])))]
    return events


def test_voice_turn_milestones_come_from_the_events_and_add_up():
    from bench import sec_stream

    times = {"transcribe_started": 0.01, "transcribe_finished": 1.01, "speak_started": 1.03, "first_audio": 1.33,
             "done": 2.0}
    turn = sec_stream.voice_turn(_voice_events(times))
    assert (turn.first_audio, turn.done, turn.sentences) == (1.33, 2.0, 3)
    assert turn.first_sentence_audio == pytest.approx(0.1) and turn.transcript == "what can you do"
    assert list(turn.parts) == [key for key, _ in sec_stream.VOICE_PARTS]
    assert sum(turn.parts.values()) == pytest.approx(turn.first_audio)
    assert turn.parts["transcribe"] == pytest.approx(1.0) and turn.rest_of_speech == pytest.approx(0.67)
    with pytest.raises(RuntimeError, match="not spoken"):
        sec_stream.voice_turn([pair for pair in _voice_events(times) if pair[1].type != "audio.chunk"])
    with pytest.raises(RuntimeError, match="transcription failed"):
        sec_stream.voice_turn(_voice_events(times, transcribed=False))


def test_voice_tables_compute_ratios_and_the_target_from_the_measured_numbers():
    from bench import sec_stream

    def turn(first: float, done: float) -> sec_stream.VoiceTurn:
        times = {"transcribe_started": 0.0, "transcribe_finished": first - 0.4, "speak_started": first - 0.3,
                 "first_audio": first, "done": done}
        return sec_stream.voice_turn(_voice_events(times))

    turns = [turn(1.2, 3.0), turn(1.6, 3.2), turn(1.4, 2.8)]
    tables, summary = sec_stream.voice_tables(turns, turn(5.0, 7.0), note_seconds=5.0, command="cmd", target=1.3)
    assert summary["first_audio"].median == 1.4 and summary["done"].median == 3.0
    assert summary["gain"] == pytest.approx(3.0 / 1.4)
    assert summary["paired_gain"].samples == pytest.approx((3.0 / 1.2, 3.2 / 1.6, 2.8 / 1.4))  # per turn
    assert summary["paired_gain"].median == pytest.approx(2.0)
    assert not summary["met"] and "**not met**" in summary["verdict"]
    latency, parts = tables
    assert [row[2] for row in latency.rows] == [1, 1, 3, 3]
    assert latency.rows[2][3:6] == [1.4, "1.20–1.60", "not met"] and latency.rows[3][-1] == summary["gain"]
    assert [row[0] for row in parts.rows][:4] == [label for _, label in sec_stream.VOICE_PARTS]
    assert parts.rows[4][1] == 1.4 and parts.rows[1][1] == pytest.approx(1.0)
    _, easy = sec_stream.voice_tables(turns, None, note_seconds=5.0, command="cmd", target=2.0)
    assert easy["met"] and easy["verdict"].startswith("met")


def test_asr_table_estimates_the_first_audio_from_what_each_call_saves():
    from bench import sec_stream

    timings = {"tool": stats([1.0, 1.2]), "language": stats([0.6, 0.6]), "language_beam1": stats([0.5]),
               "detect": stats([0.4]), "encode": stats([0.35])}
    table, estimates = sec_stream.asr_table(timings, model="m", clip_seconds=5.0, first_audio=2.0, command="cmd")
    assert estimates == {"language": pytest.approx(2.0 - 0.5), "language_beam1": pytest.approx(2.0 - 0.6)}
    assert [row[4] for row in table.rows] == ["100%", "55%", "45%", "36%", "32%"]
    assert table.rows[0][-1] == 2.0 and table.rows[3][-1] is None


def test_chat_turn_reads_first_text_and_refuses_a_turn_without_the_chat_model():
    from agent.turn.assistant import NO_CHAT_MODEL
    from agent.turn.events import PlanMade, Reply, TextDelta, TurnDone
    from bench import sec_stream

    reply = Reply(text="hi there")
    events = [(0.01, PlanMade([], chat=True)), (0.2, TextDelta("hi")), (0.3, TextDelta(" there")),
              (0.5, TurnDone(reply))]
    turn = sec_stream.chat_turn(events)
    assert (turn.first_text, turn.done, turn.deltas, turn.characters) == (0.2, 0.5, 2, 8)
    table, summary = sec_stream.chat_table([turn, sec_stream.ChatTurn(0.4, 1.5, 2, 8)], None, model="m",
                                           command="cmd")
    assert summary["gain"] == pytest.approx(1.0 / 0.3) and table.rows[0][3] == 2
    with pytest.raises(RuntimeError, match="no chat model"):
        sec_stream.chat_turn([(0.01, PlanMade([], chat=True)), (0.02, TextDelta(NO_CHAT_MODEL)),
                              (0.03, TurnDone(reply))])
    with pytest.raises(RuntimeError, match="not routed"):
        sec_stream.chat_turn([(0.01, PlanMade([{"tool": "speak_text", "args": {}}])), (0.5, TurnDone(reply))])


def test_stream_section_is_registered():
    assert SECTIONS["stream"][:2] == ("bench.sec_stream", "run")
    assert parse_sections("stream,voice") == ["voice", "stream"]


# -- engines on one checkpoint ----------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Whisper of whisper-tiny's size with random weights, and its CTranslate2 conversion."""
    cache = tmp_path_factory.mktemp("bench-models")
    return realsize.whisper("tiny", cache), realsize.whisper_ct2("tiny", cache)


@pytest.mark.slow
def test_both_engines_decode_the_same_forced_tokens(whisper_checkpoint):
    import numpy as np

    from bench.engines import Ct2Whisper, HfWhisper, token_agreement

    hf_path, ct2_path = whisper_checkpoint
    hf = HfWhisper.load(hf_path)
    features = hf.features(np.zeros(16_000, dtype=np.float32))
    encoder_passes = []
    hook = hf.model.model.encoder.register_forward_pre_hook(lambda *args: encoder_passes.append(1))
    transformers_tokens = hf.generate(features, 6)[0]
    hook.remove()
    ct2_tokens = Ct2Whisper.load(ct2_path, compute_type="float32").generate(features, 6)[0]
    assert len(encoder_passes) == 1  # no language detection pass, no seeking: the same work as CTranslate2
    assert len(transformers_tokens) == len(ct2_tokens) == 6
    assert token_agreement(transformers_tokens, ct2_tokens) == 1.0  # the conversion kept the checkpoint


@pytest.mark.slow
def test_gpu_section_code_runs_on_cpu_with_small_sizes(whisper_checkpoint):
    import torch

    from bench import sec_gpu

    rows = sec_gpu.whisper_precision_rows(whisper_checkpoint[0], device="cpu", dtypes=[torch.float32, torch.bfloat16],
                                          attentions=["sdpa", "eager"], tokens=3, runs=1)
    assert [(r[0], r[1]) for r in rows] == [("float32", "sdpa"), ("float32", "eager"), ("bfloat16", "sdpa"),
                                           ("bfloat16", "eager")]
    assert rows[0][4] == 1.0 and all(r[2] > 0 and r[5] is None for r in rows)  # no VRAM reading on CPU
    batches = sec_gpu.whisper_batch_rows(whisper_checkpoint[0], device="cpu", dtype=torch.float32, batches=[1, 2],
                                         tokens=2, runs=1)
    assert [b[0] for b in batches] == [1, 2] and batches[1][2] == pytest.approx(batches[1][1] / 2)

    def small_pipeline(dtype):
        return sec_gpu.random_sd_pipeline(
            unet=dict(sec_gpu.SD_UNET, block_out_channels=(32, 32, 32, 32), layers_per_block=1, norm_num_groups=8,
                      attention_head_dim=2, cross_attention_dim=32),
            vae=dict(sec_gpu.SD_VAE, block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4),
            text=dict(sec_gpu.SD_TEXT, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, projection_dim=32),
        ).to(dtype)

    images = sec_gpu.sd_rows(small_pipeline, device="cpu", dtypes=[torch.float32], steps=2, size=64, runs=1)
    assert images[0][0] == "float32" and images[0][3] == pytest.approx(images[0][1] / 2)


def test_gpu_section_without_cuda_says_how_to_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bench import sec_gpu

    monkeypatch.setattr(sec_gpu, "cuda_available", lambda: False)
    section = sec_gpu.run(RunConfig(quick=True, device="cpu", work=tmp_path))
    assert not section.tables
    assert any("python -m bench --sections gpu" in note for note in section.notes)


def test_polychat_bench_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from agent import cli
    from bench import sec_gpu

    monkeypatch.setattr(sec_gpu, "cuda_available", lambda: False)
    out = tmp_path / "report.md"
    assert cli.main(["bench", "--sections", "gpu", "--out", str(out)]) == 0
    report = out.read_text(encoding="utf-8")
    assert report.startswith("# polychat benchmarks")
    assert "Written by `polychat bench --sections gpu`" in report
    assert "## 1. GPU" in report and "## Defaults chosen from these numbers" in report
    assert cli.main(["bench", "--sections", "nope", "--out", str(out)]) == 1


def test_cli_without_the_bench_package_still_works(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    from agent import cli
    monkeypatch.setitem(sys.modules, "bench.runner", None)  # as if the package were not installed
    assert cli.main(["bench", "--quick", "--sections", "gpu"]) == 1
    assert "The benchmark suite (the bench package) is not installed" in capsys.readouterr().err
    assert "translate" in cli.build_parser().format_help()  # the other commands are still there


# -- the whole quick run ----------------------------------------------------------------------


@pytest.mark.slow
def test_quick_run_writes_every_section_with_numbers(tmp_path: Path):
    out = tmp_path / "BENCHMARKS.md"
    env = dict(os.environ, POLYCHAT_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text(encoding="utf-8")
    for heading in (*SECTION_HEADINGS, "## Machine", "## Defaults chosen from these numbers"):
        assert heading in report
    assert "This section failed" not in report and "failed:" not in report
    for heading in SECTION_HEADINGS[:-1]:  # the GPU section has tables only on a CUDA machine
        text = section_text(report, heading)
        numbers = [cell for row in table_cells(text) for cell in row if NUMBER.match(cell)]
        assert numbers, f"no numbers under {heading}"
        assert "Command: `python -m bench --sections" in text
    machine = dict(row[:2] for row in table_cells(section_text(report, "## Machine")))
    assert machine["cores"] and machine["RAM"].endswith("GB") and machine["torch"][0].isdigit()
    verdicts = table_cells(section_text(report, "## Defaults chosen from these numbers"))
    assert any(row[0] == "ASR engine on CPU" for row in verdicts)


@pytest.mark.slow
def test_gpu_model_check_loads_every_model_through_the_manager_and_keeps_the_budget(tmp_path: Path):
    """The same code the GPU section runs on CUDA, here on the CPU with the tiny profile's models."""
    from bench import sec_gpu

    config = RunConfig(quick=True, device="cpu", work=tmp_path)
    rows, loaded = sec_gpu.model_rows(config, device="cpu", runs=1)
    tools = [(r[0], r[1]) for r in rows]
    assert ("caption_image", "transformers") in tools and ("generate_image", "diffusers") in tools
    assert ("transcribe_audio", "faster-whisper") in tools  # the packaged Whisper base, CTranslate2
    assert {t for t, _ in tools} == {call[0] for call in sec_gpu.MODEL_CALLS}
    by_tool = {(r[0], r[1]): r for r in rows}
    assert by_tool[("caption_image", "transformers")][4] == "float32"  # dtype auto on the CPU
    # SDPA wherever transformers offers it for the architecture (BLIP and SpeechT5 have only eager attention)
    assert by_tool[("transcribe_audio", "transformers")][5] == by_tool[("translate_text", "marian")][5] == "sdpa"
    assert by_tool[("transcribe_audio", "faster-whisper")][4] == "int8"
    assert "AttnProcessor2_0" in by_tool[("generate_image", "diffusers")][5]  # diffusers' SDPA processor
    assert all(r[6] > 0 and r[7] > 0 and r[8] > 0 and r[9] is None for r in rows)  # no CUDA reading on the CPU

    budget, held = sec_gpu.budget_rows(loaded)
    assert held and len(budget) == len(loaded[1])
    assert max(r[1] for r in budget) < len(budget)  # models were unloaded to stay within the budget


def test_capacity_on_paper_is_the_stated_arithmetic_on_the_run_s_costs():
    from bench import capacity

    tools = _section(tools=[{"tool": "caption_image", "engine": "transformers · BLIP base size (3 beams, 30 tokens)",
                             "warm": 5.0}])
    gpu = _section(gpu={"model_seconds": {("generate_image", "diffusers"): 2.0}})
    cpu_costs, gpu_costs = capacity.costs_from([tools, gpu])
    assert cpu_costs == {"vision": 5.0} and gpu_costs == {"painter": 2.0}
    rows = {r[0]: r for r in capacity.plan_rows(cpu_costs)}
    # 0.5 × 60 s / (5 s × 20% of turns) = 30 people per replica: 4 replicas for 100, 34 for 1,000
    assert rows["vision"][3] == pytest.approx(30.0) and rows["vision"][4:] == [4, 34]
    assert rows["painter"][1] is None
    text = capacity.render(cpu_costs, gpu_costs, cpu_name="CPU node")
    assert "| vision | 5.00 | 20% | 30 | 4 | 34 |" in text and "| painter | 2.00 | 10% | 150 | 1 | 7 |" in text
