"""Qwen2's text tokenizer ("qwen2"), offline: byte-level BPE run by tiktoken from a shipped vocabulary.

References: Qwen-1's `tokenization_qwen.py` (QwenLM/Qwen; it runs the same vocabulary, `qwen.tiktoken`,
through tiktoken) and the `tokenizer.json` of the Qwen2 / Qwen2-VL checkpoints. The facts used here:

* Vocabulary: `data/qwen.tiktoken`, 151,643 byte-level BPE ranks (ids 0..151642). The file comes from
  the Apache-2.0 wheel qwen-agent 0.0.34 (`qwen_agent/utils/qwen.tiktoken`; see data/NOTICE); its
  sha256 is checked at load.
* Pre-tokenizer: the regex below, as in `tokenization_qwen.py`'s PAT_STR and the Split pre-tokenizer
  of Qwen2's tokenizer.json. Unlike cl100k_base, a digit is its own piece (`\\p{N}`, not `\\p{N}{1,3}`).
* Normaliser: NFC (Qwen2's tokenizer.json), applied to the text between special tokens.
* Special tokens: the added tokens of Qwen2-VL's tokenizer, in id order, numbered on from the last
  BPE rank (151643 = `<|endoftext|>`, ..., 151656 = `<|video_pad|>`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import VocabFileError
from . import ENCODINGS
from .tiktoken_files import read_tiktoken_ranks
from .tiktoken_tokenizer import TiktokenTokenizer

QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501

QWEN_TIKTOKEN_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"

#: the number of BPE ranks in qwen.tiktoken, and so the id of the first special token (checked at load)
QWEN_N_RANKS = 151643

#: Qwen2(-VL)'s special tokens in id order; the id of each is QWEN_N_RANKS + its index
QWEN2_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_REINSTALL = "reinstall mmtok (pip install --force-reinstall mmtok)"


def qwen_tiktoken_path() -> Path:
    """The shipped qwen.tiktoken (inside the installed package)."""
    return Path(str(resources.files("mmtok.text") / "data" / "qwen.tiktoken"))


@ENCODINGS.register("qwen2")
def load_qwen2(path: str | Path | None = None) -> TiktokenTokenizer:
    """Qwen2's tokenizer. `path` replaces the shipped vocabulary file (it must have the same sha256)."""
    source = Path(path) if path is not None else qwen_tiktoken_path()
    ranks = read_tiktoken_ranks(source, sha256=QWEN_TIKTOKEN_SHA256, fix=_REINSTALL)
    if len(ranks) != QWEN_N_RANKS or max(ranks.values()) != QWEN_N_RANKS - 1:  # cannot happen after the hash check
        raise VocabFileError(str(source), f"expected {QWEN_N_RANKS:,} ranks, found {len(ranks):,}; {_REINSTALL}")
    specials = {token: QWEN_N_RANKS + i for i, token in enumerate(QWEN2_SPECIAL_TOKENS)}
    return TiktokenTokenizer(
        "qwen2", pattern=QWEN_PATTERN, ranks=ranks, special_tokens=specials, nfc=True, registered=path is None
    )
