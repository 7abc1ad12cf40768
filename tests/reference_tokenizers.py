"""Reference text tokenizers built in the tests from real vocabulary files, with independent engines."""

from __future__ import annotations

from pathlib import Path

QWEN_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
# Qwen2's added tokens, in id order from 151643 (Qwen2-VL tokenizer_config.json).
QWEN2_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip


def qwen_tiktoken_path() -> Path:
    import mmtok

    return Path(mmtok.__file__).parent / "text" / "data" / "qwen.tiktoken"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map, used by byte-level BPE vocabularies."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merge list implied by tiktoken ranks (karpathy/minbpe gpt4.py's recover_merges)."""

    def split(token: bytes, max_rank: int) -> list[bytes]:
        parts = [bytes([b]) for b in token]
        while True:
            best = None
            for i, (a, b) in enumerate(zip(parts, parts[1:])):
                rank = ranks.get(a + b)
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None or best[0] >= max_rank:
                return parts
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]

    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) > 1:
            pair = split(token, rank)
            assert len(pair) == 2
            merges.append((pair[0], pair[1]))
    return merges


def build_qwen2_tokenizer_json(path: Path) -> None:
    import tiktoken.load
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))
    table = _bytes_to_unicode()

    def u(b: bytes) -> str:
        return "".join(table[x] for x in b)

    merges = recover_merges(ranks)
    tok = Tokenizer(models.BPE(vocab={u(k): v for k, v in ranks.items()}, merges=[(u(a), u(b)) for a, b in merges]))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in QWEN2_SPECIALS])
    tok.save(str(path))


def build_tiny_tokenizer_json(path: Path, specials: list[str], *, bos: str | None = None) -> Path:
    """A small byte-level tokenizer.json (256 byte tokens, no merges) with `specials` as special added
    tokens, for families whose checkpoint vocabulary cannot be downloaded here: mmtok and the reference
    processor then read the same file, so their ids can be compared (the layout is what is tested, not
    the checkpoint's BPE). With `bos`, a post-processor puts it first, as Llama-style tokenizers do when
    called with add_special_tokens=True."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    byte_chars = _bytes_to_unicode()
    vocab = {byte_chars[b]: i for i, b in enumerate(sorted(byte_chars))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    ordered = list(dict.fromkeys(([bos] if bos else []) + list(specials)))
    tokenizer.add_special_tokens(ordered)
    if bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
        )
    tokenizer.save(str(path))
    return Path(path)
