"""`mmtok lineage A B`: are two tokenizers the same, one derived from the other, or independent?"""

from __future__ import annotations

import argparse

from .output import emit_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "lineage",
        help="compare two tokenizers' vocabularies: same, derived (which way, what changed) or independent",
        description="Compare two tokenizers (registered names such as qwen2 and cl100k_base, tokenizer.json "
        "files or folders, .tiktoken rank files, SentencePiece .model files): vocabulary sizes, shared tokens, "
        "whether the shared tokens keep their order (Spearman, longest increasing subsequence), the common "
        "rank prefix, merge-list agreement, special tokens side by side, the tokens only in one of them by "
        "kind, and a verdict with the evidence it rests on.",
    )
    p.add_argument("a", metavar="A", help="a tokenizer name or path")
    p.add_argument("b", metavar="B", help="a tokenizer name or path")
    p.add_argument("--no-merges", action="store_true", help="skip the merge-list agreement")
    p.add_argument(
        "--examples", type=int, default=8, metavar="N", help="tokens listed per kind of the tokens only in one side (0: all)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..text.lineage import lineage

    from ..errors import InvalidOptionError

    if args.examples < 0:
        raise InvalidOptionError(f"--examples takes a count of 0 or more (0: all); got {args.examples}")
    report = lineage(args.a, args.b, merges=not args.no_merges, examples=args.examples or None)
    if args.json:
        emit_json(report.to_dict())
    else:
        print(report.text())
    return 0
