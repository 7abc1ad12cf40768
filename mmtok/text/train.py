"""Training a text tokenizer with the `tokenizers` library, saved as a tokenizer.json that mmtok and
transformers' PreTrainedTokenizerFast both load (and that give the same ids).

The pipelines (Hugging Face `tokenizers` 0.2x; the byte-level BPE is the GPT-2 / cl100k / Qwen kind,
as in "Language Models are Unsupervised Multitask Learners", Radford et al. 2019, section 2.2):

* ``bpe``: byte-level BPE. Pre-tokenizer = Split(pattern regex, "isolated") then ByteLevel
  (use_regex=False), decoder ByteLevel, the 256 byte symbols as the initial alphabet. Lossless: every
  string decodes back to itself, no unknown token is ever needed.
* ``unigram``: the Unigram language model of Kudo 2018 ("Subword Regularization") over the same
  byte-level pieces as ``bpe`` (same Split + ByteLevel, all 256 byte symbols kept), so it is lossless
  too. (SentencePiece's Metaspace pipeline would turn characters outside the vocabulary into <unk>;
  train with sentencepiece itself for that kind and load the .model with mmtok.)
* ``wordpiece``: BERT's WordPiece (Devlin et al. 2019): BertNormalizer (cased: no lowercasing, no
  accent stripping), BertPreTokenizer (whitespace and punctuation), "##" continuations, [UNK]. It is
  lossy by design: decoding rejoins words with single spaces. A pattern does not apply to it. The
  library keeps every character of the alphabet (and its "##" form) whatever vocab_size says, so
  mmtok keeps the vocab_size // 4 most frequent characters (limit_alphabet); the rest become [UNK].

Determinism: byte-level BPE training is deterministic (the same input gives a byte-identical
tokenizer.json, in one process or in two): the trainer breaks count ties by pair id, and the pair ids
come from the fixed byte alphabet. The library's WordPiece and Unigram trainers are not (tokenizers
0.23): WordPiece numbers its "##" symbols in hash-map order, which changes how ties are broken, and
Unigram sums floats in hash-map order; two runs can give different vocabularies. mmtok says so rather
than hiding it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import InvalidOptionError
from .patterns import get_pattern
from .tokenizer_json import TokenizerJson

ALGOS = ("bpe", "wordpiece", "unigram")
DEFAULT_PATTERN = "cl100k"
WORDPIECE_UNK = "[UNK]"
_CHUNK = 1 << 20  # characters per training sequence taken from a file (cut at a line end)


def _file_texts(files: Sequence[str | os.PathLike]) -> Iterator[str]:
    for file in files:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InvalidOptionError(
                f"{path}: training files must be UTF-8 text (byte {e.start} is not); convert it, e.g. with iconv"
            ) from None
        except OSError as e:
            raise InvalidOptionError(f"{path}: cannot read the training file ({e.strerror or e}); check the path") from None
        start = 0
        while start < len(text):
            end = min(len(text), start + _CHUNK)
            if end < len(text):
                cut = text.rfind("\n", start, end)
                end = cut + 1 if cut > start else end
            yield text[start:end]
            start = end


def _chain(*iterables: Iterable[str]) -> Iterator[str]:
    for iterable in iterables:
        yield from iterable


def _pipeline(algo: str, pattern: str | None, vocab_size: int):
    """(tokenizer, trainer class, trainer options) for `algo`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if algo == "wordpiece":
        if pattern is not None:
            raise InvalidOptionError(
                "wordpiece uses BERT's pre-tokenizer (whitespace and punctuation); drop the pattern, or train bpe or unigram"
            )
        tok = Tokenizer(models.WordPiece(unk_token=WORDPIECE_UNK))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        return tok, trainers.WordPieceTrainer, {"limit_alphabet": max(1, vocab_size // 4)}
    regex = get_pattern(pattern or DEFAULT_PATTERN)
    try:
        compiled = Regex(regex)
    except Exception as e:  # the library raises a bare Exception with Oniguruma's message
        raise InvalidOptionError(f"pattern {regex!r} is not a regex the tokenizers library accepts ({e}); fix it") from None
    model = models.BPE() if algo == "bpe" else models.Unigram()
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(compiled, "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    options = {"initial_alphabet": pre_tokenizers.ByteLevel.alphabet()}
    return tok, (trainers.BpeTrainer if algo == "bpe" else trainers.UnigramTrainer), options


def train(
    files: Sequence[str | os.PathLike] = (),
    *,
    texts: Iterable[str] | None = None,
    algo: str = "bpe",
    vocab_size: int,
    pattern: str | None = None,
    special_tokens: Sequence[str] = (),
    min_frequency: int = 2,
    out: str | os.PathLike | None = None,
    show_progress: bool | None = None,
) -> TokenizerJson:
    """Train a tokenizer on UTF-8 `files` (and/or the strings `texts`) and return it (an mmtok
    TextTokenizer over the trained tokenizer.json); with `out`, also write the tokenizer.json there.

    `algo` is "bpe" (byte-level), "unigram" (byte-level) or "wordpiece" (BERT); `pattern` is a name
    from mmtok.text.patterns (gpt2, cl100k/gpt4/llama3, o200k, qwen) or a regex, default cl100k (bpe
    and unigram only). `vocab_size` counts the special tokens, which take ids 0, 1, ... in the order
    given (wordpiece adds [UNK] first if missing). `min_frequency` (bpe, wordpiece): a merge needs that
    many occurrences. The progress bar is the library's own, shown only when stderr is a terminal.
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    algo = algo.lower()
    if algo not in ALGOS:
        raise InvalidOptionError(f"unknown training algorithm {algo!r}; use one of {', '.join(ALGOS)}")
    specials = list(dict.fromkeys(special_tokens))
    if algo == "wordpiece" and WORDPIECE_UNK not in specials:
        specials.insert(0, WORDPIECE_UNK)
    floor = len(specials) + (256 if algo != "wordpiece" else 1)
    if not isinstance(vocab_size, int) or vocab_size < floor:
        raise InvalidOptionError(
            f"vocab_size {vocab_size!r} is too small for {algo}: it needs at least {floor} "
            f"({len(specials)} special tokens" + (" + 256 byte symbols)" if algo != "wordpiece" else " + 1)")
        )
    if min_frequency < 0:
        raise InvalidOptionError(f"min_frequency must be >= 0; got {min_frequency}")
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    tokenizer, trainer_class, options = _pipeline(algo, pattern, vocab_size)
    if algo != "unigram":
        options["min_frequency"] = min_frequency
    trainer = trainer_class(vocab_size=vocab_size, special_tokens=specials, show_progress=show_progress, **options)

    seen = [0]

    def sequences() -> Iterator[str]:
        more = [texts] if isinstance(texts, str) else (texts or ())
        for text in _chain(_file_texts(files), more):
            seen[0] += len(text)
            yield text

    tokenizer.train_from_iterator(sequences(), trainer)
    if not seen[0]:
        raise InvalidOptionError("the training input holds no text; pass non-empty files or texts")
    json_text = tokenizer.to_str(pretty=True)
    name = str(out) if out is not None else f"trained-{algo}"
    if out is not None:
        Path(out).write_text(json_text, encoding="utf-8")
    return TokenizerJson(json_text, name)
