"""GPT-2-style vocab.json + merges.txt byte-level BPE files, and tiktoken ranks as a tokenizer.json.

References: OpenAI's GPT-2 release (`encoder.json` + `vocab.bpe`, the files Hugging Face renamed
vocab.json + merges.txt) and its `encoder.py`; the `tokenizers` library's `models.BPE.from_file`,
which reads them; transformers' `GPT2TokenizerFast`, which runs them with the ByteLevel
pre-tokenizer (GPT-2's regex, no prefix space) and the ByteLevel decoder. mmtok builds the same
pipeline, so the ids are GPT2TokenizerFast's.

`tiktoken_to_tokenizer_json` goes the other way for a tiktoken vocabulary (qwen2): a BPE vocabulary
is tiktoken's ranks with tokens spelled in GPT-2's byte-to-unicode alphabet, and the merges are
recovered as in transformers' `TikTokenConverter` (and minbpe's `recover_merges`): the merge that
made a token is the split into two parts that BPE with only the lower ranks reaches. `ignore_merges`
is on because tiktoken takes a piece that is itself a token at once, without merging.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InvalidOptionError, VocabFileError
from .patterns import GPT2_PATTERN, get_pattern, tokenizers_pattern
from .tokenizer_json import TokenizerJson, bytes_to_unicode

VOCAB_FILE, MERGES_FILE = "vocab.json", "merges.txt"


def find_bpe_files(path: str | os.PathLike) -> tuple[Path, Path] | None:
    """(vocab.json, merges.txt) for a folder holding both, or for either file with the other beside it."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir() or path.name in (VOCAB_FILE, MERGES_FILE):
        vocab, merges = folder / VOCAB_FILE, folder / MERGES_FILE
        if vocab.is_file() and merges.is_file():
            return vocab, merges
    return None


def load_bpe_files(
    vocab: str | os.PathLike,
    merges: str | os.PathLike | None = None,
    *,
    pattern: str = "gpt2",
    special_tokens: list[str] | None = None,
) -> TokenizerJson:
    """A byte-level BPE tokenizer from a GPT-2-style vocab.json and merges.txt (default: beside it).

    `pattern` is the pre-tokenizer regex (a name from mmtok.text.patterns or a regex; default GPT-2's).
    `special_tokens`: spellings to treat as special tokens; a spelling in vocab.json keeps its id, others
    are appended. Default: "<|endoftext|>" if vocab.json has it (GPT-2's only special token).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = Path(vocab)
    merges = Path(merges) if merges is not None else vocab.parent / MERGES_FILE
    for file in (vocab, merges):
        if not file.is_file():
            raise VocabFileError(str(file), f"no such file; a GPT-2-style BPE needs both {VOCAB_FILE} and {MERGES_FILE}")
    try:
        vocab_map = json.loads(vocab.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VocabFileError(str(vocab), f"is not a JSON object of token -> id ({e}); pass a GPT-2-style vocab.json") from None
    if not isinstance(vocab_map, dict):
        raise VocabFileError(str(vocab), "is JSON but not an object of token -> id; pass a GPT-2-style vocab.json")
    try:
        model = models.BPE.from_file(str(vocab), str(merges))
    except Exception as e:  # the library raises a bare Exception with its parser's message
        raise VocabFileError(
            f"{vocab} + {merges}", f"the tokenizers library cannot read them as BPE files ({e}); check {MERGES_FILE}"
        ) from None
    tokenizer = Tokenizer(model)
    regex = get_pattern(pattern)
    if regex == GPT2_PATTERN:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        try:
            split = pre_tokenizers.Split(Regex(regex), "isolated")
        except Exception as e:  # a bare Exception with Oniguruma's message
            raise InvalidOptionError(f"pattern {regex!r} is not a regex the tokenizers library accepts ({e})") from None
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    tokenizer.decoder = decoders.ByteLevel()
    if special_tokens is None:
        special_tokens = [t for t in ("<|endoftext|>",) if t in vocab_map]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return TokenizerJson(tokenizer.to_str(), str(vocab.parent if vocab.name == VOCAB_FILE else vocab))


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """`token` split by BPE that may use only the ranks below `max_rank`."""
    parts = [bytes((b,)) for b in token]
    while True:
        best, best_rank = None, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < max_rank and (best_rank is None or rank < best_rank):
                best, best_rank = i, rank
        if best is None:
            return parts
        parts[best : best + 2] = [parts[best] + parts[best + 1]]


def tiktoken_to_tokenizer_json(
    ranks: dict[bytes, int], pattern: str, special_tokens: dict[str, int], *, nfc: bool = False, name: str = "tiktoken"
) -> str:
    """The tokenizer.json text of a tiktoken vocabulary: the same ids in the `tokenizers` library.

    The ranks must be 0..n-1 and the special ids n, n+1, ... in a row (the library numbers added
    tokens in order; cl100k_base's gap before <|endofprompt|> cannot be written).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    n = len(ranks)
    if sorted(ranks.values()) != list(range(n)):
        raise InvalidOptionError(f"{name}: its ranks are not 0..{n - 1} in a row, so it has no tokenizer.json form")
    ordered = sorted(special_tokens.items(), key=lambda item: item[1])
    if [i for _, i in ordered] != list(range(n, n + len(ordered))):
        raise InvalidOptionError(
            f"{name}: its special-token ids are not {n}, {n + 1}, ... in a row (the tokenizers library numbers added "
            "tokens in order), so it has no tokenizer.json form; use the tokenizer in memory"
        )
    to_unicode = bytes_to_unicode()

    def spell(token: bytes) -> str:
        return "".join(to_unicode[b] for b in token)

    vocab = {spell(token): rank for token, rank in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        parts = _bpe_parts(ranks, token, rank)
        if len(parts) != 2:
            raise InvalidOptionError(f"{name}: token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens")
        merges.append((spell(parts[0]), spell(parts[1])))
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
    if nfc:
        tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(tokenizers_pattern(pattern)), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s, _ in ordered])
    return tokenizer.to_str(pretty=True)
