"""Tiny random models for the ``tiny`` profile and the tests, built from configs without downloads.

Each builder makes a structurally real model with random (seeded) weights plus its processor,
and saves both with ``save_pretrained`` into one folder, so the standard classes load them with
``from_pretrained(folder)`` and generate() / pipelines run end to end. Outputs are gibberish.
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
    from transformers import BertTokenizer, BlipConfig, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

TINY_KINDS: tuple[str, ...] = (
    "whisper",
    "blip-caption",
    "blip-vqa",
    "trocr",
    "speecht5",
    "hifigan",
    "marian",
    "stable-diffusion",
    "chat",
)
"""Every kind of tiny model `build_tiny` can make."""

TINY_FORMAT_VERSION = 1
"""Bump when a builder changes, so cached tiny models are rebuilt."""

MARKER_NAME = "polychat-tiny.json"
SEED = 0
IMAGE_SIZE = 32  # px, input size of the tiny vision encoders
PATCH_SIZE = 8  # px
MEL_BINS = 80  # what SpeechT5 predicts and HiFi-GAN consumes
SPEAKER_EMBEDDING_DIM = 512  # real x-vectors are 512-dimensional
SAMPLE_RATE = 16_000  # Hz

# Small transformer dimensions shared by the text models.
HIDDEN = 32
HEADS = 2
FFN = 64


def _tiny_vit() -> dict[str, object]:
    """Keyword arguments of a tiny ViT-style vision config."""
    return dict(
        hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=HEADS, intermediate_size=FFN,
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
    )


def _unreadable_ids(tokenizer: PreTrainedTokenizerBase, token_ids: range) -> list[int]:
    """The ids among `token_ids` whose text is not printable (bytes of a UTF-8 sequence, "\\n")."""
    texts = [tokenizer.decode([i]) for i in token_ids]
    return [i for i, text in zip(token_ids, texts) if not text.isprintable() or "\ufffd" in text]


def _never_predict(output_head: torch.nn.Linear, token_ids: list[int]) -> None:
    """Zero the (untied) output rows of `token_ids`: a logit of 0 ~never beats the best random one."""
    with torch.no_grad():
        output_head.weight[token_ids] = 0.0


def _quiet_whisper_tokens(model: torch.nn.Module, token_ids: list[int]) -> None:
    """Make the tiny Whisper never pick `token_ids` unless generate() forces one of them.

    With random weights, Whisper predicts timestamp tokens at random; long-form generation then
    seeks by random small steps and loops for a very long time. Here hidden feature 0 of the
    decoder's final layer norm becomes a constant 1, which the untied output head uses as a bias
    of -20 for the quiet tokens. Other tokens keep their random logits.
    """
    with torch.no_grad():
        model.model.decoder.layer_norm.weight[0] = 0.0
        model.model.decoder.layer_norm.bias[0] = 1.0
        model.proj_out.weight[token_ids] = 0.0
        model.proj_out.weight[token_ids, 0] = -20.0


def _build_whisper(dest: Path) -> None:
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    from agent.models.tiny_tokenizers import whisper_tokenizer

    tokenizer = whisper_tokenizer()
    token_id = tokenizer.convert_tokens_to_ids
    eot, sot = token_id("<|endoftext|>"), token_id("<|startoftranscript|>")
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=MEL_BINS, d_model=HIDDEN,
        encoder_layers=1, encoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
        decoder_layers=2, decoder_attention_heads=HEADS, decoder_ffn_dim=FFN,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
        begin_suppress_tokens=None, suppress_tokens=None, tie_word_embeddings=False,
    )
    model = WhisperForConditionalGeneration(config)
    # Quiet: every special and timestamp token (language detection then picks <|en|>), and byte
    # tokens that do not decode to printable text, so transcripts are readable gibberish.
    _quiet_whisper_tokens(model, _unreadable_ids(tokenizer, range(eot)) + list(range(sot, len(tokenizer))))
    # The fields of openai/whisper-*'s generation_config.json that Whisper's generate() reads.
    symbols = [token_id(t) for t in '"#()*+/:;<=>@[]^_{|}~']
    model.generation_config = GenerationConfig(
        bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, decoder_start_token_id=sot,
        max_length=448,
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": token_id(f"<|{code}|>") for code in LANGUAGES},
        task_to_id={"translate": token_id("<|translate|>"), "transcribe": token_id("<|transcribe|>")},
        no_timestamps_token_id=token_id("<|notimestamps|>"),
        prev_sot_token_id=token_id("<|startofprev|>"),
        forced_decoder_ids=[[1, None], [2, token_id("<|transcribe|>")]],
        begin_suppress_tokens=[token_id("Ġ"), eot],
        suppress_tokens=sorted({*symbols, sot, *map(token_id, ["<|startoflm|>", "<|startofprev|>", "<|nospeech|>"])}),
        max_initial_timestamp_index=50,
        return_timestamps=False,
        alignment_heads=[[1, 0], [1, 1]],
    )
    model.save_pretrained(dest)
    feature_extractor = WhisperFeatureExtractor(feature_size=MEL_BINS)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(dest)


def _blip_config() -> tuple[BlipConfig, BertTokenizer]:
    from transformers import BlipConfig

    from agent.models.tiny_tokenizers import blip_tokenizer

    tokenizer = blip_tokenizer()
    text_config = dict(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, encoder_hidden_size=HIDDEN,
        num_hidden_layers=1, num_attention_heads=HEADS, intermediate_size=FFN,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, sep_token_id=tokenizer.sep_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    config = BlipConfig(
        text_config=text_config, vision_config=_tiny_vit(), projection_dim=HIDDEN, image_text_hidden_size=HIDDEN
    )
    return config, tokenizer


def _build_blip(dest: Path, *, question_answering: bool) -> None:
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    config, tokenizer = _blip_config()
    model_class = BlipForQuestionAnswering if question_answering else BlipForConditionalGeneration
    model = model_class(config)
    model.save_pretrained(dest)
    image_processor = BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(dest)


def _build_trocr(dest: Path) -> None:
    from transformers import (
        TrOCRConfig,
        TrOCRForCausalLM,
        TrOCRProcessor,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
        VisionEncoderDecoderModel,
    )

    from agent.models.tiny_tokenizers import roberta_tokenizer

    tokenizer = roberta_tokenizer()
    pad, eos, bos = tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id
    encoder = ViTModel(ViTConfig(**_tiny_vit()), add_pooling_layer=False)
    decoder = TrOCRForCausalLM(TrOCRConfig(
        vocab_size=len(tokenizer), d_model=HIDDEN, decoder_layers=1, decoder_attention_heads=HEADS,
        decoder_ffn_dim=FFN, max_position_embeddings=64, cross_attention_hidden_size=HIDDEN,
        pad_token_id=pad, bos_token_id=bos, eos_token_id=eos, decoder_start_token_id=eos,
        tie_word_embeddings=False,
    ))
    unwanted = [bos, pad, tokenizer.unk_token_id, tokenizer.mask_token_id]
    _never_predict(decoder.output_projection, unwanted + _unreadable_ids(tokenizer, range(len(tokenizer))))
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    for settings in (model.config, model.generation_config):
        settings.decoder_start_token_id, settings.pad_token_id, settings.eos_token_id = eos, pad, eos
    model.generation_config.max_length = 32
    model.save_pretrained(dest)
    image_processor = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    TrOCRProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(dest)


def _build_speecht5(dest: Path) -> None:
    from transformers import SpeechT5Config, SpeechT5FeatureExtractor, SpeechT5ForTextToSpeech, SpeechT5Processor

    from agent.models.tiny_tokenizers import speecht5_tokenizer

    with tempfile.TemporaryDirectory() as work_dir:
        tokenizer = speecht5_tokenizer(Path(work_dir))
        config = SpeechT5Config(
            vocab_size=len(tokenizer), hidden_size=HIDDEN, encoder_layers=1, encoder_attention_heads=HEADS,
            encoder_ffn_dim=FFN, decoder_layers=1, decoder_attention_heads=HEADS, decoder_ffn_dim=FFN,
            num_mel_bins=MEL_BINS, speech_decoder_prenet_units=HIDDEN, speech_decoder_postnet_layers=2,
            speech_decoder_postnet_units=HIDDEN, speaker_embedding_dim=SPEAKER_EMBEDDING_DIM,
            reduction_factor=2, max_speech_positions=4000, max_text_positions=450,
        )
        model = SpeechT5ForTextToSpeech(config)
        # Random stop logits end speech after one frame; this tiny model never asks to stop, so
        # generate_speech() runs to its length limit, maxlenratio (default 20) frames per token.
        with torch.no_grad():
            model.speech_decoder_postnet.prob_out.bias.fill_(-20.0)
        model.save_pretrained(dest)
        feature_extractor = SpeechT5FeatureExtractor(num_mel_bins=MEL_BINS, sampling_rate=SAMPLE_RATE)
        SpeechT5Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(dest)


def _build_hifigan(dest: Path) -> None:
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    # 4*4*4*4 = 256 samples per mel frame, SpeechT5's hop length at 16 kHz. The larger weight
    # init (real: 0.01) makes the noise it outputs audible instead of ~1e-8.
    config = SpeechT5HifiGanConfig(
        model_in_dim=MEL_BINS, sampling_rate=SAMPLE_RATE, upsample_initial_channel=32,
        upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], initializer_range=0.15,
    )
    SpeechT5HifiGan(config).save_pretrained(dest)


def _build_marian(dest: Path) -> None:
    from transformers import MarianConfig, MarianMTModel

    from agent.models.tiny_tokenizers import marian_tokenizer

    with tempfile.TemporaryDirectory() as work_dir:
        tokenizer = marian_tokenizer(Path(work_dir))
        pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
        config = MarianConfig(
            vocab_size=len(tokenizer), d_model=HIDDEN, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
            decoder_ffn_dim=FFN, max_position_embeddings=128, pad_token_id=pad, eos_token_id=eos,
            decoder_start_token_id=pad, forced_eos_token_id=eos,
        )
        model = MarianMTModel(config)
        generation = model.generation_config
        generation.bad_words_ids, generation.max_length, generation.num_beams = [[pad]], 64, 2
        model.save_pretrained(dest)
        tokenizer.save_pretrained(dest)


def _build_stable_diffusion(dest: Path) -> None:
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from agent.models.tiny_tokenizers import clip_tokenizer

    # Like get_dummy_components() in diffusers' tests/pipelines/stable_diffusion, but with a VAE
    # that downsamples 8x as the real one does, so a 512x512 request stays cheap (64x64 latents).
    tokenizer = clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN, norm_num_groups=2, attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 4, 8, 8], in_channels=3, out_channels=3, layers_per_block=1,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4, norm_num_groups=2, sample_size=64, mid_block_add_attention=False,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_attention_heads=HEADS,
        num_hidden_layers=2, max_position_embeddings=tokenizer.model_max_length, layer_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=HIDDEN,
    ))
    # The scheduler config of runwayml/stable-diffusion-v1-5.
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(dest)


def _build_chat(dest: Path) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from agent.models.tiny_tokenizers import chat_tokenizer

    tokenizer = chat_tokenizer()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        tie_word_embeddings=False, bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
    )
    model = Qwen2ForCausalLM(config)
    unwanted = [pad, tokenizer.convert_tokens_to_ids("<|im_start|>")]
    _never_predict(model.lm_head, unwanted + _unreadable_ids(tokenizer, range(pad)))
    model.generation_config.eos_token_id = [eos, pad]
    model.generation_config.pad_token_id = pad
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "whisper": _build_whisper,
    "blip-caption": lambda dest: _build_blip(dest, question_answering=False),
    "blip-vqa": lambda dest: _build_blip(dest, question_answering=True),
    "trocr": _build_trocr,
    "speecht5": _build_speecht5,
    "hifigan": _build_hifigan,
    "marian": _build_marian,
    "stable-diffusion": _build_stable_diffusion,
    "chat": _build_chat,
}


def _check_kind(kind: str) -> None:
    if kind not in _BUILDERS:
        raise ValueError(f"Unknown tiny model kind {kind!r}; expected one of: {', '.join(TINY_KINDS)}.")


def build_tiny(kind: str, dest: Path) -> Path:
    """Build the tiny model of `kind` into folder `dest` (created), return dest. Deterministic (seeded).

    Args:
        kind: One of `TINY_KINDS`.
        dest: The folder to write; created with its parents if missing.

    Returns:
        `dest`, holding the model and its processor/tokenizer as `save_pretrained` writes them.

    Raises:
        ValueError: `kind` is not one of `TINY_KINDS`.
    """
    _check_kind(kind)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    logger.info("Building tiny %s model into %s", kind, dest)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        _BUILDERS[kind](dest)
    return dest


def _is_current(folder: Path, kind: str) -> bool:
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == {"kind": kind, "format": TINY_FORMAT_VERSION}


def ensure_tiny(kind: str, cache_dir: Path) -> Path:
    """Return cache_dir/kind, building it first if missing or stale.

    The model is built into a temporary sibling folder and renamed into place, so a reader never
    sees a half-built folder and two processes racing to build it both end up with a good one.
    The folder holds a marker file ``polychat-tiny.json`` with the kind and `TINY_FORMAT_VERSION`;
    a folder whose marker does not match is rebuilt.

    Args:
        kind: One of `TINY_KINDS`.
        cache_dir: The folder holding the tiny models; created if missing.

    Returns:
        The model folder, ``cache_dir / kind``.

    Raises:
        ValueError: `kind` is not one of `TINY_KINDS`.
    """
    _check_kind(kind)
    cache_dir = Path(cache_dir)
    final = cache_dir / kind
    if _is_current(final, kind):
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{kind}.building-", dir=cache_dir))
    stale = staging.with_name(staging.name.replace(".building-", ".stale-"))
    try:
        build_tiny(kind, staging)
        marker = {"kind": kind, "format": TINY_FORMAT_VERSION}
        (staging / MARKER_NAME).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        if final.exists() and not _is_current(final, kind):
            try:
                os.rename(final, stale)
            except FileNotFoundError:
                pass  # another process moved the stale folder first
        try:
            os.rename(staging, final)
        except OSError:
            if not _is_current(final, kind):  # lost a race to something that is not a good build
                raise
            logger.info("Another process built tiny %s first; using its copy", kind)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    return final
