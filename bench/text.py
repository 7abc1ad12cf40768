"""Qwen2 text encoding: mmtok vs raw tiktoken vs the `tokenizers` library, one process, same texts.

    python bench/text.py [--kib N] [--repeat N]

For each language sample (English, Chinese, Python code, Hindi, Tamil, mixed emoji; each a long
text of about `--kib` KiB of UTF-8, NFC as real text is) it prints tokens/s for

* raw tiktoken: `tiktoken.Encoding` on qwen.tiktoken with Qwen's regex (no NFC step at all, so the
  floor for any exact Qwen2 encoder built on tiktoken),
* mmtok: `get_tokenizer("qwen2").encode(text)` (special-token check + NFC + tiktoken),
* tokenizers: a tokenizer.json rebuilt from qwen.tiktoken with Qwen2's pipeline (NFC, Split on the
  regex, ByteLevel; tests/reference_tokenizers.py build_qwen2_tokenizer_json),

and the ratios mmtok time / tiktoken time (target <= 1.1) and tokenizers time / mmtok time
(target >= 5). The three must give the same ids before anything is timed. One thread, pinned to one
core when the OS allows; best of `--repeat`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENGLISH = [
    "All human beings are born free and equal in dignity and rights.",
    "They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
    "The quick brown fox jumps over the lazy dog, and the dog doesn't mind; it's seen worse.",
    "In 2023, the team shipped 14 releases, fixed 1,284 bugs and wrote 37 design notes.",
    "Please describe the image: what objects are visible, where are they, and what are they doing?",
    "We'll meet at 10:30 a.m. on Tuesday, unless the train from Zürich is late again.",
]
CHINESE = [
    "人人生而自由，在尊严和权利上一律平等。",
    "他们赋有理性和良心，并应以兄弟关系的精神相对待。",
    "请描述一下这张图片中的内容，包括人物、物体以及它们之间的关系。",
    "今天天气很好，我们去公园散步吧。",
    "机器学习模型需要大量的数据来训练，数据的质量直接影响模型的效果。",
]
HINDI = [
    "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है।",
    "उन्हें बुद्धि और अन्तरात्मा की देन प्राप्त है और परस्पर उन्हें भाईचारे के भाव से बर्ताव करना चाहिए।",
    "ज़िंदगी में सही फ़ैसले लेना ज़रूरी है, और अच्छी किताबें पढ़ना हमेशा फ़ायदेमंद होता है।",
    "कृपया इस चित्र का वर्णन करें: इसमें कौन-कौन सी वस्तुएँ दिखाई दे रही हैं?",
    "दिल्ली में आज मौसम साफ़ है और तापमान 32 डिग्री सेल्सियस है।",
]
TAMIL = [
    "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்; அவர்கள் மதிப்பிலும், உரிமைகளிலும் சமமானவர்கள்.",
    "அவர்கள் நியாயத்தையும் மனசாட்சியையும் இயற்பண்பாகப் பெற்றவர்கள்.",
    "அவர்கள் ஒருவருடனொருவர் சகோதர உணர்வுப் பாங்கில் நடந்துகொள்ளல் வேண்டும்.",
    "இந்தப் படத்தில் என்ன இருக்கிறது என்பதை விவரிக்கவும்.",
    "சென்னையில் இன்று வெப்பநிலை 34 டிகிரி செல்சியஸ் ஆக இருந்தது.",
]
EMOJI = [
    "Great job 👍🏽 on the release! 🎉🎉",
    "Family time 👨\u200d👩\u200d👧 at the beach 🏖️ today ☀️",
    "Flying to Tokyo 🇯🇵 tomorrow ✈️ — 东京见！",
    "I ❤️ this photo 📸 of the cat 🐱 sleeping 😴",
    "Score: 3️⃣ - 1️⃣ ⚽ what a game!!! 🔥🔥🔥",
    "Привет! 👋 नमस्ते 🙏 こんにちは 🌸",
]


def long_text(sentences: list[str], kib: int, seed: int) -> str:
    """Sentences in a seeded random order, with the odd paragraph break, until `kib` KiB of UTF-8."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < kib * 1024:
        s = rng.choice(sentences)
        parts.append(s)
        parts.append("\n\n" if rng.random() < 0.15 else " ")
        size += len(s.encode()) + 1
    return unicodedata.normalize("NFC", "".join(parts))


def code_text(kib: int) -> str:
    """mmtok's own Python source, concatenated until `kib` KiB (special-token spellings broken up, so
    that the default policy, which raises on them, can encode it)."""
    sources = [p.read_text().replace("<|", "< |") for p in sorted((ROOT / "mmtok").rglob("*.py"))]
    text = ""
    while len(text.encode()) < kib * 1024:
        text += "\n".join(sources)
    return text[: kib * 1024]


def best_times(fns, text: str, repeat: int) -> list[float]:
    """Seconds per call of each fn on `text`, best of `repeat`; the calls of the functions take turns,
    so that a change in the machine's load (other processes, clock speed) hits them all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn(text)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kib", type=int, default=256, help="size of each sample in KiB (default 256)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers' batch paths; encode() is serial anyway

    sys.path.insert(0, str(ROOT / "tests"))
    import tiktoken
    import tokenizers
    from reference_tokenizers import QWEN2_SPECIALS, QWEN_PATTERN, build_qwen2_tokenizer_json

    from mmtok.text import get_tokenizer
    from mmtok.text.qwen2 import qwen_tiktoken_path
    from mmtok.text.tiktoken_files import read_tiktoken_ranks

    ours = get_tokenizer("qwen2")
    ranks = read_tiktoken_ranks(qwen_tiktoken_path(), sha256=None, fix="")
    raw = tiktoken.Encoding(
        "qwen-raw",
        pat_str=QWEN_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={s: len(ranks) + i for i, s in enumerate(QWEN2_SPECIALS)},
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        build_qwen2_tokenizer_json(path)
        hf = tokenizers.Tokenizer.from_file(str(path))

    samples = [
        ("English", long_text(ENGLISH, args.kib, 1)),
        ("Chinese", long_text(CHINESE, args.kib, 2)),
        ("code", code_text(args.kib)),
        ("Hindi", long_text(HINDI, args.kib, 3)),
        ("Tamil", long_text(TAMIL, args.kib, 4)),
        ("emoji mix", long_text(EMOJI + ENGLISH[:2] + CHINESE[:2], args.kib, 5)),
    ]

    def hf_encode(text: str) -> list[int]:
        return hf.encode(text, add_special_tokens=False).ids

    print(
        f"Qwen2 text encoding, {args.kib} KiB per sample, best of {args.repeat}, one thread. Python "
        f"{platform.python_version()}, tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'sample':<10} {'tokens':>8} {'tiktoken raw':>14} {'mmtok':>14} {'tokenizers':>14}"
        f" {'mmtok/tiktoken time':>20} {'tokenizers/mmtok time':>22}"
    )
    for name, text in samples:
        ids = ours.encode(text)
        assert ids == raw.encode(text), f"{name}: mmtok and raw tiktoken disagree"
        assert ids == hf_encode(text), f"{name}: mmtok and tokenizers disagree"
        t_raw, t_ours = best_times([raw.encode, ours.encode], text, args.repeat)
        (t_hf,) = best_times([hf_encode], text, max(2, args.repeat // 3))  # ~10x slower: fewer passes
        n = len(ids)
        print(
            f"{name:<10} {n:>8,} {n / t_raw:>12,.0f}/s {n / t_ours:>12,.0f}/s {n / t_hf:>12,.0f}/s"
            f" {t_ours / t_raw:>19.2f}x {t_hf / t_ours:>21.1f}x"
        )


if __name__ == "__main__":
    main()
