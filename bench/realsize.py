"""Random models of real size: the real checkpoints' dimensions, random weights, local tokenizers.

No package carries BLIP, Marian, SpeechT5 or transformers-format Whisper weights, and the
benchmark never downloads. A model built from the real configuration (layers, widths,
heads, vocabulary size) costs what the real one costs per token or step, so it times the
code path truthfully; its output is noise. Tokenizers are the tiny ones of ``agent.models.tiny_tokenizers``
padded with filler entries to the real vocabulary size, so ids line up with the real layout.

Built models are cached under ``<data dir>/bench-models/<name>`` and reused by later runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import BertTokenizer, WhisperTokenizer

log = logging.getLogger(__name__)

FORMAT = 1  # bump when a builder changes, so cached models are rebuilt
MARKER = "bench-model.json"
SEED = 0

# Dimensions of openai/whisper-{tiny,base,small} (multilingual: 51865 tokens, 99 languages).
WHISPER_DIMS: dict[str, dict[str, int]] = {
    "tiny": dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                 decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536),
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                 decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048),
    "small": dict(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
                  decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072),
}
WHISPER_TEXT_TOKENS = 50257  # byte-level BPE tokens before <|endoftext|>
WHISPER_LANGUAGES = 99  # language tokens of the multilingual v1/v2 checkpoints
WHISPER_MEL_BINS = 80

# Salesforce/blip-image-captioning-base and blip-vqa-base: ViT-B/16 at 384 px, BERT-base text side.
BLIP_IMAGE_SIZE = 384  # px
BLIP_VOCAB = 30524  # BERT's 30522 WordPiece tokens + [DEC] + [ENC]
BLIP_TEXT = dict(hidden_size=768, encoder_hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)
BLIP_VISION = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                   image_size=BLIP_IMAGE_SIZE, patch_size=16)

# Helsinki-NLP/opus-mt-en-fr: a Marian transformer-base.
MARIAN_VOCAB = 59514
MARIAN_DIMS = dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                   decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, max_position_embeddings=512)
MARIAN_BEAMS = 4  # opus-mt-en-fr's generation config
MARIAN_MAX_LENGTH = 64  # tokens; the real config says 512, but random weights never stop, so this caps the cost

SPEECHT5_VOCAB = 81  # microsoft/speecht5_tts's character vocabulary


def _build_cached(name: str, cache_root: Path, builder: Callable[[Path], None]) -> Path:
    """``cache_root/name``, built by ``builder(folder)`` first when missing or stale."""
    final = cache_root / name
    expected = {"name": name, "format": FORMAT}
    try:
        if json.loads((final / MARKER).read_text(encoding="utf-8")) == expected:
            return final
    except (OSError, ValueError):
        pass
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=cache_root))
    try:
        log.info("Building the real-size random model %s (once)…", name)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            builder(staging)
        (staging / MARKER).write_text(json.dumps(expected) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


# -- Whisper --------------------------------------------------------------------------------


def whisper_tokenizer_real_vocab() -> WhisperTokenizer:
    """A Whisper tokenizer laid out exactly like openai/whisper-base's: 51865 ids, specials at 50257+.

    The byte-level BPE is the tiny one, padded with filler tokens that encoding never produces.
    """
    from agent.models.tiny_tokenizers import whisper_tokenizer

    return whisper_tokenizer(text_tokens=WHISPER_TEXT_TOKENS, languages=WHISPER_LANGUAGES)


def _build_whisper(dims: str) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        from transformers import (
            GenerationConfig,
            WhisperConfig,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperProcessor,
        )
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        tokenizer = whisper_tokenizer_real_vocab()
        token_id = tokenizer.convert_tokens_to_ids
        eot, sot = token_id("<|endoftext|>"), token_id("<|startoftranscript|>")
        config = WhisperConfig(
            vocab_size=len(tokenizer), num_mel_bins=WHISPER_MEL_BINS, **WHISPER_DIMS[dims],
            max_source_positions=1500, max_target_positions=448,
            pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
            begin_suppress_tokens=None, suppress_tokens=None,
        )
        model = WhisperForConditionalGeneration(config)
        languages = [f"<|{code}|>" for code in list(LANGUAGES)[:WHISPER_LANGUAGES]]
        model.generation_config = GenerationConfig(
            bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, decoder_start_token_id=sot, max_length=448,
            is_multilingual=True, lang_to_id={t: token_id(t) for t in languages},
            task_to_id={"translate": token_id("<|translate|>"), "transcribe": token_id("<|transcribe|>")},
            no_timestamps_token_id=token_id("<|notimestamps|>"), prev_sot_token_id=token_id("<|startofprev|>"),
            return_timestamps=False,
        )
        model.save_pretrained(dest)
        WhisperProcessor(WhisperFeatureExtractor(feature_size=WHISPER_MEL_BINS), tokenizer).save_pretrained(dest)

    return build


def whisper(dims: str, cache_root: Path) -> Path:
    """A transformers Whisper of the dimensions of openai/whisper-``dims``, random weights."""
    return _build_cached(f"whisper-{dims}", cache_root, _build_whisper(dims))


def whisper_ct2(dims: str, cache_root: Path) -> Path:
    """The same checkpoint as ``whisper(dims)`` converted to CTranslate2 (float32; int8 is chosen at load)."""
    source = whisper(dims, cache_root)

    def convert(dest: Path) -> None:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(source), copy_files=["tokenizer.json"]).convert(str(dest), force=True)

    return _build_cached(f"whisper-{dims}-ct2", cache_root, convert)


# -- BLIP -----------------------------------------------------------------------------------


def _blip_tokenizer_real_vocab() -> BertTokenizer:
    from transformers import BertTokenizer

    from agent.models.tiny_tokenizers import BERT_WORDS

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS]
    tokens += [f"[unused{i}]" for i in range(BLIP_VOCAB - 2 - len(tokens))]
    return BertTokenizer(
        vocab={t: i for i, t in enumerate(tokens)}, bos_token="[DEC]", extra_special_tokens=["[ENC]"],
        model_max_length=512,
    )


def _build_blip(question_answering: bool) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        from transformers import (
            BlipConfig,
            BlipForConditionalGeneration,
            BlipForQuestionAnswering,
            BlipImageProcessor,
            BlipProcessor,
        )

        tokenizer = _blip_tokenizer_real_vocab()
        text = dict(
            BLIP_TEXT, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id, sep_token_id=tokenizer.sep_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        config = BlipConfig(text_config=text, vision_config=BLIP_VISION, projection_dim=512, image_text_hidden_size=256)
        model = (BlipForQuestionAnswering if question_answering else BlipForConditionalGeneration)(config)
        model.save_pretrained(dest)
        processor = BlipImageProcessor(size={"height": BLIP_IMAGE_SIZE, "width": BLIP_IMAGE_SIZE})
        BlipProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(dest)

    return build


def blip_caption(cache_root: Path) -> Path:
    """BLIP base captioning (ViT-B/16 384 px + BERT-base decoder), random weights."""
    return _build_cached("blip-caption-base", cache_root, _build_blip(question_answering=False))


def blip_vqa(cache_root: Path) -> Path:
    """BLIP base question answering (ViT-B/16 + BERT-base encoder and decoder), random weights."""
    return _build_cached("blip-vqa-base", cache_root, _build_blip(question_answering=True))


# -- Marian ---------------------------------------------------------------------------------


def _build_marian(dest: Path) -> None:
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    from agent.models.tiny_tokenizers import marian_tokenizer

    with tempfile.TemporaryDirectory() as work:
        marian_tokenizer(Path(work))  # writes the sentencepiece models and a small vocab.json
        vocab = json.loads((Path(work) / "vocab.json").read_text(encoding="utf-8"))
        tokens = sorted(vocab, key=vocab.get)[:-1]  # "<pad>" goes last again, as in opus-mt
        tokens += [f"▁filler{i}" for i in range(MARIAN_VOCAB - 1 - len(tokens))] + ["<pad>"]
        (Path(work) / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(Path(work) / "source.spm"), target_spm=str(Path(work) / "target.spm"),
            vocab=str(Path(work) / "vocab.json"),
        )
        pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
        config = MarianConfig(
            vocab_size=len(tokens), **MARIAN_DIMS, pad_token_id=pad, eos_token_id=eos,
            decoder_start_token_id=pad, forced_eos_token_id=eos, scale_embedding=True,
            activation_function="swish", share_encoder_decoder_embeddings=True,
        )
        model = MarianMTModel(config)
        generation = model.generation_config
        generation.bad_words_ids, generation.num_beams, generation.max_length = [[pad]], MARIAN_BEAMS, MARIAN_MAX_LENGTH
        model.save_pretrained(dest)
        tokenizer.save_pretrained(dest)


def marian(cache_root: Path) -> Path:
    """An opus-mt transformer-base (en→fr dimensions), random weights, decoding capped at 64 tokens."""
    return _build_cached("marian-base", cache_root, _build_marian)


# -- SpeechT5 -------------------------------------------------------------------------------


def _build_speecht5(dest: Path) -> None:
    from transformers import SpeechT5Config, SpeechT5FeatureExtractor, SpeechT5ForTextToSpeech, SpeechT5Processor

    from agent.models.tiny_tokenizers import speecht5_tokenizer
    from tools.voices import TINY_MARKER_FILE

    with tempfile.TemporaryDirectory() as work:
        tokenizer = speecht5_tokenizer(Path(work))
        model = SpeechT5ForTextToSpeech(SpeechT5Config(vocab_size=max(SPEECHT5_VOCAB, len(tokenizer))))
        with torch.no_grad():  # random stop logits would end speech at once; never stop (the tool bounds it)
            model.speech_decoder_postnet.prob_out.bias.fill_(-20.0)
        model.save_pretrained(dest)
        SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tokenizer).save_pretrained(dest)
    # Random weights have no real speakers: the marker makes speak_text use the tiny voices' vectors.
    (dest / TINY_MARKER_FILE).write_text(json.dumps({"kind": "bench-real-size-speecht5"}) + "\n", encoding="utf-8")


def _build_hifigan(dest: Path) -> None:
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    SpeechT5HifiGan(SpeechT5HifiGanConfig()).save_pretrained(dest)


def speecht5(cache_root: Path) -> tuple[Path, Path]:
    """SpeechT5 TTS and its HiFi-GAN vocoder at microsoft/speecht5_tts / speecht5_hifigan size."""
    return _build_cached("speecht5-tts", cache_root, _build_speecht5), _build_cached(
        "speecht5-hifigan", cache_root, _build_hifigan
    )
