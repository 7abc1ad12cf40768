"""`mmtok lineage` speed, and the null distribution its thresholds rest on.

    python bench/lineage.py            # seconds: qwen2 vs cl100k_base, qwen2 vs a shuffled qwen2
    python bench/lineage.py --null     # also train BPEs on disjoint offline corpora and compare them

Timing: loading both vocabularies, the core comparison (membership, order, prefix, kinds, verdict)
and the merge agreement (minbpe-style merge recovery for the first 10,000 merges of a tiktoken file)
are timed separately; best of --repeat. The budget is 2 s for the core comparison of two ~150k
vocabularies.

Null distribution (--null): byte-level BPEs trained with the `tokenizers` library (GPT-2 byte-level
pre-tokenizer, as its documentation trains them) on disjoint corpora that ship with Python and the
installed packages, so nothing is downloaded: (1) the standard library's .py files split in two
halves (alternate files), (2) the standard library vs the .py files of numpy, sklearn and
transformers. For each vocabulary size the table shows what two independent tokenizers share and how
much of their order agrees; mmtok/text/lineage.py quotes the numbers.
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmtok.text.lineage import compare_vocabularies  # noqa: E402
from mmtok.text.vocab import Vocabulary, from_tokenizer_json, load_vocabulary  # noqa: E402


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def shuffled(v: Vocabulary, seed: int = 0) -> Vocabulary:
    tokens = list(v.tokens)
    random.Random(seed).shuffle(tokens)
    return Vocabulary(v.name + " (shuffled)", v.source, tokens, list(range(len(tokens))), dict(v.specials))


def timing(repeat: int) -> None:
    load_time, (a, b) = best(lambda: (load_vocabulary("qwen2"), load_vocabulary("cl100k_base")), 1)
    print(f"load qwen2 + cl100k_base: {load_time:.3f} s (first load, includes reading both files)")
    core, report = best(lambda: compare_vocabularies(a, b, merges=False), repeat)
    print(f"qwen2 vs cl100k_base, core comparison: {core:.3f} s ({report.verdict})")
    fresh = lambda: compare_vocabularies(load_vocabulary("qwen2"), load_vocabulary("cl100k_base"))  # noqa: E731
    with_merges, _ = best(fresh, 1)
    print(f"qwen2 vs cl100k_base, core + merges (first 10,000 recovered per side; tokenizers cached): {with_merges:.3f} s")
    full, merges = best(lambda: load_vocabulary("qwen2").merges(), 1)
    print(f"qwen2: all {len(merges):,} merges recovered from the ranks: {full:.3f} s (not part of a comparison)")
    s = shuffled(a)
    core, report = best(lambda: compare_vocabularies(a, s, merges=False), repeat)
    print(f"qwen2 vs shuffled qwen2 (151,643 tokens each), core comparison: {core:.3f} s ({report.verdict})")
    other = shuffled(b, 1)
    core, report = best(lambda: compare_vocabularies(a, other, merges=False), repeat)
    print(f"qwen2 vs shuffled cl100k_base, core comparison: {core:.3f} s ({report.verdict})")


def _read(files: list[Path], limit: int) -> list[str]:
    texts, total = [], 0
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text)
        if total >= limit:
            break
    return texts


def _train(texts: list[str], vocab_size: int) -> Vocabulary:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return from_tokenizer_json(tok.to_str(), f"bpe{vocab_size}")


def null(sizes: list[int], chars: int) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    std_files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts and "test" not in p.parts)
    site = Path(sysconfig.get_paths()["purelib"])
    third = sorted(p for name in ("numpy", "sklearn", "transformers") for p in (site / name).rglob("*.py"))
    random.Random(0).shuffle(std_files)
    random.Random(1).shuffle(third)
    pairs = {
        "stdlib half 1 vs half 2": (_read(std_files[0::2], chars), _read(std_files[1::2], chars)),
        "stdlib vs numpy+sklearn+transformers": (_read(std_files, chars), _read(third, chars)),
    }
    print(f"\nnull: independent byte-level BPEs (`tokenizers`), corpora of ~{chars / 1e6:.0f}M characters each")
    header = "pair | vocab | shared | LCP | LCP-256 | multi-byte shared | LIS fraction | Spearman | first 100 merges: same position / in both | verdict"
    print(header)
    for label, (x, y) in pairs.items():
        for size in sizes:
            r = compare_vocabularies(_train(x, size), _train(y, size)).to_dict()
            m, lcp = r["order_multibyte"], r["common_prefix"]["length"]
            k100 = r["merges"]["100"]
            merges = f"{k100['same_position']} / {k100['in_both']}"
            print(
                f"{label} | {size:,} | {r['shared']['count']:,} | {lcp} | {lcp - 256} | {m['count']:,} | "
                f"{m['lis_fraction']:.3f} | {m['spearman']:.3f} | {merges} | {r['verdict']['verdict']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--null", action="store_true", help="also measure the null distribution (trains BPEs)")
    parser.add_argument("--sizes", default="1000,8000,32000")
    parser.add_argument("--chars", type=int, default=6_000_000, help="characters per training corpus")
    args = parser.parse_args()
    timing(args.repeat)
    if args.null:
        null([int(s) for s in args.sizes.split(",")], args.chars)


if __name__ == "__main__":
    main()
