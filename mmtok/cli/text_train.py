"""`mmtok text train` and `mmtok text add-tokens`: thin shells over mmtok.text.train.train and
mmtok.text.added_tokens.add_special_tokens. The `mmtok text` group (cli/text.py) calls add_parsers."""

from __future__ import annotations

import argparse
import time

from .output import emit_json, note, table


def add_parsers(sub) -> None:
    from ..text.patterns import pattern_names
    from ..text.train import ALGOS

    p = sub.add_parser(
        "train",
        help="train a BPE, WordPiece or Unigram tokenizer and save its tokenizer.json",
        description="Train a tokenizer with the `tokenizers` library on UTF-8 text files and save a tokenizer.json "
        "that mmtok and transformers' PreTrainedTokenizerFast load with the same ids. bpe and unigram are "
        "byte-level (lossless) with the --pattern pre-tokenizer; wordpiece is BERT's. Byte-level BPE training "
        "is deterministic; the library's wordpiece and unigram trainers are not.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="UTF-8 text files to train on")
    p.add_argument("--algo", choices=ALGOS, default="bpe", help="algorithm (default: bpe)")
    p.add_argument("--vocab-size", type=int, required=True, metavar="N", help="vocabulary size, special tokens included")
    p.add_argument(
        "--pattern",
        default=None,
        metavar="NAME",
        help=f"pre-tokenizer regex for bpe/unigram: {', '.join(pattern_names())}, or a regex (default: cl100k)",
    )
    p.add_argument("--special", action="append", default=[], metavar="TOKEN", help="a special token (ids 0, 1, ... in order); repeatable")
    p.add_argument("--min-frequency", type=int, default=2, metavar="N", help="bpe/wordpiece: merges need N occurrences (default 2)")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the tokenizer.json")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(run=run_train)

    p = sub.add_parser(
        "add-tokens",
        help="add special tokens (e.g. <image>, <r0>) to a tokenizer and save it",
        description="Add special tokens to a tokenizer (a tokenizer.json, vocab.json + merges.txt, .tiktoken, or a "
        "registered name such as qwen2). New ids follow the current largest id; a token already present keeps "
        "its id. The result is written as a tokenizer.json. The model's embedding matrix then needs a row per new "
        "id (resize_token_embeddings, new rows initialised to the mean of the old ones).",
    )
    p.add_argument("tokenizer", metavar="TOKENIZER", help="tokenizer name or vocabulary file")
    p.add_argument("--token", action="append", default=[], metavar="T", help="a token to add; repeatable")
    p.add_argument("--regions", type=int, default=0, metavar="N", help="also add region tokens <r0> ... <r{N-1}>")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the tokenizer.json")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_add_tokens)


def run_train(args: argparse.Namespace) -> int:
    from ..text.train import train

    start = time.perf_counter()
    tokenizer = train(
        args.files,
        algo=args.algo,
        vocab_size=args.vocab_size,
        pattern=args.pattern,
        special_tokens=args.special,
        min_frequency=args.min_frequency,
        out=args.out,
    )
    seconds = time.perf_counter() - start
    summary = {
        "path": args.out,
        "algo": args.algo,
        "pattern": None if args.algo == "wordpiece" else (args.pattern or "cl100k"),
        "vocab_size": tokenizer.n_vocab,
        "special_tokens": tokenizer.special_tokens,
        "seconds": round(seconds, 3),
    }
    if args.json:
        emit_json(summary)
    else:
        specials = ", ".join(f"{t}={i}" for t, i in tokenizer.special_tokens.items()) or "none"
        print(f"{args.out}: {args.algo}, {tokenizer.n_vocab:,} tokens (special: {specials}) in {seconds:.2f} s")
    if tokenizer.n_vocab < args.vocab_size:
        note(f"mmtok: note: the input allowed only {tokenizer.n_vocab:,} of the {args.vocab_size:,} tokens asked for")
    return 0


def run_add_tokens(args: argparse.Namespace) -> int:
    from ..text.added_tokens import add_special_tokens, region_tokens

    tokens = [*args.token, *region_tokens(args.regions)]
    result = add_special_tokens(args.tokenizer, tokens, out=args.out)
    if args.json:
        emit_json(result.to_dict())
        return 0
    rows = [[t, f"{i:,}", "existing" if t in result.existing else "new"] for t, i in result.ids.items()]
    print(table(rows, ["token", "id", "status"]))
    print(f"{result.path}: {result.tokenizer.n_vocab:,} tokens, largest id {result.to_dict()['max_id']:,}")
    if result.new:
        note(
            f"mmtok: note: the model's embedding matrix needs at least {result.to_dict()['max_id'] + 1:,} rows "
            "(resize_token_embeddings; initialise new rows to the mean of the old ones)"
        )
    return 0
