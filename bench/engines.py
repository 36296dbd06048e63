"""Whisper through transformers and through CTranslate2, decoding a FIXED number of tokens.

Random weights never say "end of text" at the right time, and even real models stop at
different points in different engines, so engine comparisons force the length: the
end-of-text token and every special token after it (timestamps above all, which would
make transformers seek and encode the window again) are suppressed, the language is given
(no detection pass), and generation stops after exactly ``tokens`` new tokens. Both engines
then do the same work: encode one 30 s window once, decode ``tokens`` text tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.media import SAMPLE_RATE


def prompt_tokens(language: str = "en") -> list[str]:
    """The decoder prompt of a transcription without timestamps."""
    return ["<|startoftranscript|>", f"<|{language}|>", "<|transcribe|>", "<|notimestamps|>"]


@dataclass
class HfWhisper:
    """A transformers Whisper (``WhisperForConditionalGeneration``) loaded from a folder."""

    model: Any
    processor: Any
    device: str = "cpu"
    dtype: Any = None

    @classmethod
    def load(cls, path: Path, *, device: str = "cpu", dtype: Any = None, attention: str = "sdpa") -> HfWhisper:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        dtype = dtype or torch.float32
        model = WhisperForConditionalGeneration.from_pretrained(path, dtype=dtype, attn_implementation=attention)
        return cls(model.to(device).eval(), WhisperProcessor.from_pretrained(path), device, dtype)

    def features(self, audio: np.ndarray | list[np.ndarray]) -> Any:
        """Log-mel features of one clip or a batch of clips, padded to 30 s, on the model's device."""
        batch = audio if isinstance(audio, list) else [audio]
        values = self.processor.feature_extractor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        return values.to(self.device, dtype=self.dtype)

    def prompt(self, language: str = "en") -> list[int]:
        """``<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`` as ids."""
        return self.processor.tokenizer.convert_tokens_to_ids(prompt_tokens(language))

    def generate(self, features: Any, tokens: int, beams: int = 1, language: str = "en") -> list[list[int]]:
        """Decode exactly ``tokens`` text tokens per item after the prompt; return them."""
        import torch

        end_of_text = self.processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
        with torch.inference_mode():
            out = self.model.generate(
                features, language=language, task="transcribe", return_timestamps=False,
                max_new_tokens=tokens, min_new_tokens=tokens, num_beams=beams, do_sample=False,
                suppress_tokens=list(range(end_of_text, self.model.config.vocab_size)),
            )
        if out.shape[1] != tokens:  # Whisper's generate returns the new tokens only
            raise RuntimeError(f"transformers decoded {out.shape[1]} tokens where {tokens} were forced")
        return out.tolist()

    def logits(self, features: Any, decoder_ids: list[int]) -> Any:
        """The decoder's logits for a given token sequence (teacher forcing), as float32 on CPU."""
        import torch

        with torch.inference_mode():
            ids = torch.tensor([decoder_ids], device=self.device)
            return self.model(input_features=features, decoder_input_ids=ids).logits[0].float().cpu()


@dataclass
class Ct2Whisper:
    """A CTranslate2 Whisper (the engine inside faster-whisper) loaded from a converted folder."""

    model: Any
    vocabulary: list[str]

    @classmethod
    def load(cls, path: Path, *, compute_type: str = "int8", threads: int = 0, device: str = "cpu") -> Ct2Whisper:
        import json

        import ctranslate2

        model = ctranslate2.models.Whisper(str(path), device=device, compute_type=compute_type, intra_threads=threads)
        return cls(model, json.loads((Path(path) / "vocabulary.json").read_text(encoding="utf-8")))

    def generate(self, features: Any, tokens: int, beams: int = 1, language: str = "en") -> list[list[int]]:
        """Decode exactly ``tokens`` text tokens per item after the prompt; return them.

        CTranslate2 stops Whisper after ``max_length // 2`` new tokens when nothing ends it
        (seen with 4.x), hence ``2 * tokens``; the count is checked.
        """
        import ctranslate2

        prompt = [self.vocabulary.index(token) for token in prompt_tokens(language)]
        end_of_text = self.vocabulary.index("<|endoftext|>")
        array = features.float().cpu().numpy() if hasattr(features, "cpu") else np.asarray(features, np.float32)
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(array))
        results = self.model.generate(
            view, [prompt] * array.shape[0], beam_size=beams, max_length=2 * tokens,
            suppress_tokens=list(range(end_of_text, len(self.vocabulary))), suppress_blank=False,
        )
        sequences = [list(r.sequences_ids[0]) for r in results]
        for sequence in sequences:
            if len(sequence) != tokens:  # the two engines must do the same work
                raise RuntimeError(f"CTranslate2 decoded {len(sequence)} tokens where {tokens} were forced")
        return sequences


def quantize_dynamic_int8(model: Any) -> Any:
    """A copy of a torch model with its ``nn.Linear`` layers dynamically quantized to int8 (CPU only)."""
    import copy

    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def token_agreement(a: list[int], b: list[int]) -> float:
    """Share of positions where two token sequences agree (over the shorter length)."""
    length = min(len(a), len(b))
    if length == 0:
        return 0.0
    return sum(x == y for x, y in zip(a[:length], b[:length])) / length


def logit_drift(reference: Any, other: Any) -> tuple[float, float]:
    """How far ``other`` logits are from ``reference``: (max abs difference / max abs reference, top-1 agreement)."""
    difference = float((reference - other).abs().max())
    scale = float(reference.abs().max()) or 1.0
    agreement = float((reference.argmax(-1) == other.argmax(-1)).float().mean())
    return difference / scale, agreement
