"""Tokenizers for the tiny random models, made locally from a handful of sentences.

Every maker returns a real transformers tokenizer of the class the real checkpoint uses
(byte-level BPE for Whisper, CLIP, RoBERTa and Qwen2; WordPiece for BLIP's BERT;
sentencepiece for SpeechT5 and Marian), so the standard processors load it from disk.
Nothing here downloads anything.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import sentencepiece
from tokenizers import AddedToken, pre_tokenizers
from transformers import (
    BertTokenizer,
    CLIPTokenizer,
    MarianTokenizer,
    Qwen2Tokenizer,
    RobertaTokenizer,
    SpeechT5Tokenizer,
    WhisperTokenizer,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES

CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "A picture of a cat sitting on a red sofa in the living room.",
    "What colour is the car? The car is blue.",
    "Hello world, this is a small test of the speech system.",
    "Please translate this sentence into French, German and Spanish.",
    "Le chat est assis sur le canapé rouge dans le salon.",
    "Bonjour le monde, ceci est un petit essai du système.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El perro marrón corre en el parque con una pelota.",
    "Two people walking on a beach at sunset with a dog.",
    "There are 3 apples, 12 oranges and 7 bananas on the table!",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 .,;:!?'\"()-",
)
"""The sentences every tokenizer here is trained on."""

BERT_WORDS: tuple[str, ...] = (
    "a", "an", "the", "of", "on", "in", "at", "with", "and", "is", "are", "what", "how", "many",
    "colour", "color", "picture", "photo", "image", "man", "woman", "people", "person", "dog",
    "cat", "car", "bus", "tree", "house", "street", "beach", "table", "sofa", "room", "sky",
    "water", "red", "blue", "green", "white", "black", "yellow", "small", "large", "two",
    "three", "one", "yes", "no", "sitting", "standing", "walking", "running", "holding",
    "near", "next", "to", "front", "top", "there", "this", "that", "it", "his", "her", "by",
    "sunset", "park", "ball", "road", "building", "window", "field", "grass", "snow", "food",
    "plate", "pizza", "group", "young", "old", "boy", "girl", "child", "horse", "bird", "train",
    "##s", "##ing", "##ed", "##er", ".", ",", "?", "!", "'",
)
"""The WordPiece vocabulary of BLIP's BERT tokenizer, after the five BERT special tokens."""

WHISPER_TASK_TOKENS: tuple[str, ...] = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)
WHISPER_MAX_TIMESTAMP = 30.0  # s, the last timestamp token <|30.00|>
WHISPER_TIME_PRECISION = 0.02  # s per timestamp token

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""Qwen's ChatML chat template, without tool support."""


def train_byte_bpe(
    vocab_size: int, *, lowercase: bool = False, end_of_word_suffix: str = ""
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn a GPT-2 style byte-level BPE from `CORPUS`, deterministically.

    A plain greedy BPE learner (ties go to the alphabetically first pair), because the
    `tokenizers` trainer breaks ties in hash order and its output changes from run to run.

    Args:
        vocab_size: Size of the vocabulary, the byte symbols included.
        lowercase: Learn from the lowercased corpus (CLIP lowercases its input).
        end_of_word_suffix: Suffix marking the last symbol of a word (CLIP uses "</w>"); with
            it, words are split on whitespace, without it GPT-2 style with a leading "Ġ".

    Returns:
        The vocabulary (token to id, ids contiguous from 0) and the merges, in order.
    """
    to_byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    words: Counter[tuple[str, ...]] = Counter()
    for sentence in CORPUS:
        sentence = sentence.lower() if lowercase else sentence
        if end_of_word_suffix:
            pieces = [to_byte_level.pre_tokenize_str(w)[0][0] for w in sentence.split()]
        else:
            pieces = [piece for piece, _ in to_byte_level.pre_tokenize_str(sentence)]
        for piece in pieces:
            words[(*piece[:-1], piece[-1] + end_of_word_suffix)] += 1
    tokens = alphabet + [c + end_of_word_suffix for c in alphabet if end_of_word_suffix]
    merges: list[tuple[str, str]] = []
    while len(tokens) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        tokens.append(best[0] + best[1])
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            symbols, i = [], 0
            while i < len(word):
                if word[i : i + 2] == best:
                    symbols.append(best[0] + best[1])
                    i += 2
                else:
                    symbols.append(word[i])
                    i += 1
            merged[tuple(symbols)] += count
        words = merged
    return {token: i for i, token in enumerate(tokens)}, merges


def whisper_tokenizer(*, text_tokens: int | None = None, languages: int | None = None) -> WhisperTokenizer:
    """Make a multilingual Whisper tokenizer laid out like openai/whisper-*.

    Args:
        text_tokens: pad the byte-level BPE with filler tokens (never produced by encoding)
            up to this many ids before <|endoftext|>, to match a real checkpoint's vocabulary.
        languages: keep only the first N language tokens (None: all of them).

    The order matters to transformers: <|endoftext|>, <|startoftranscript|>, one token per
    language in `LANGUAGES` order, the task tokens ending with <|notimestamps|>, then the
    1501 timestamp tokens <|0.00|> .. <|30.00|>.
    """
    vocab, merges = train_byte_bpe(400)
    for filler in range(max(0, (text_tokens or 0) - len(vocab))):
        vocab[f"filler{filler}"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    codes = list(LANGUAGES)[:languages] if languages is not None else list(LANGUAGES)
    specials = ["<|startoftranscript|>", *(f"<|{code}|>" for code in codes), *WHISPER_TASK_TOKENS]
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=merges, pad_token="<|endoftext|>", extra_special_tokens=specials, model_max_length=448
    )
    steps = round(WHISPER_MAX_TIMESTAMP / WHISPER_TIME_PRECISION)
    timestamps = [f"<|{i * WHISPER_TIME_PRECISION:.2f}|>" for i in range(steps + 1)]
    tokenizer.add_tokens([AddedToken(t, lstrip=False, rstrip=False, normalized=False) for t in timestamps])
    return tokenizer


def clip_tokenizer() -> CLIPTokenizer:
    """Make a lowercasing CLIP BPE tokenizer with "</w>" word ends and a 77-token limit."""
    vocab, merges = train_byte_bpe(800, lowercase=True, end_of_word_suffix="</w>")
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def roberta_tokenizer() -> RobertaTokenizer:
    """Make a RoBERTa byte-level BPE tokenizer (the TrOCR decoder's), specials first."""
    trained, merges = train_byte_bpe(500)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *trained, "<mask>"]
    return RobertaTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, model_max_length=512)


def blip_tokenizer() -> BertTokenizer:
    """Make BLIP's BERT WordPiece tokenizer: [PAD]=0 .. [MASK], words, then [DEC] and [ENC]."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS]
    return BertTokenizer(
        vocab={t: i for i, t in enumerate(tokens)},
        bos_token="[DEC]",
        extra_special_tokens=["[ENC]"],
        model_max_length=512,
    )


def chat_tokenizer() -> Qwen2Tokenizer:
    """Make a Qwen2 byte-level BPE tokenizer with ChatML special tokens and chat template."""
    vocab, merges = train_byte_bpe(500)
    for token in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[token] = len(vocab)
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML_TEMPLATE,
        model_max_length=512,
    )


def train_sentencepiece(path: Path, *, model_type: str, vocab_size: int, **kwargs: object) -> Path:
    """Train a sentencepiece model on `CORPUS` and write it to `path`.

    Args:
        path: Where the `.model` / `.spm` file goes.
        model_type: "char", "unigram" or "bpe".
        vocab_size: Wanted vocabulary size (a soft limit).
        **kwargs: Further `SentencePieceTrainer.train` options (special piece ids, ...).

    Returns:
        `path`.
    """
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        **kwargs,
    )
    path.write_bytes(model.getvalue())
    return path


def speecht5_tokenizer(work_dir: Path) -> SpeechT5Tokenizer:
    """Make SpeechT5's character-level sentencepiece tokenizer (<s>=0, <pad>=1, </s>=2, <unk>=3).

    Args:
        work_dir: A scratch folder for the sentencepiece model file.
    """
    spm = train_sentencepiece(
        work_dir / "spm_char.model", model_type="char", vocab_size=100,
        bos_id=0, pad_id=1, eos_id=2, unk_id=3,
    )
    return SpeechT5Tokenizer(vocab_file=str(spm))


def marian_tokenizer(work_dir: Path) -> MarianTokenizer:
    """Make a Marian tokenizer: one unigram sentencepiece model shared by source and target.

    As in Helsinki-NLP/opus-mt-*, vocab.json has "</s>"=0, "<unk>"=1 and "<pad>" last.

    Args:
        work_dir: A scratch folder for source.spm, target.spm and vocab.json.
    """
    spm = train_sentencepiece(work_dir / "source.spm", model_type="unigram", vocab_size=200)
    (work_dir / "target.spm").write_bytes(spm.read_bytes())
    processor = sentencepiece.SentencePieceProcessor(model_file=str(spm))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    tokens = ["</s>", "<unk>", *(p for p in pieces if p not in ("<unk>", "<s>", "</s>")), "<pad>"]
    vocab_file = work_dir / "vocab.json"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    return MarianTokenizer(
        source_spm=str(spm), target_spm=str(work_dir / "target.spm"), vocab=str(vocab_file)
    )
