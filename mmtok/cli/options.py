"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="qwen2-vl", help="model family (default: qwen2-vl)")
    parser.add_argument("--min-pixels", type=int, default=None, help="pixel floor per image (default: the checkpoint's)")
    parser.add_argument("--max-pixels", type=int, default=None, help="pixel budget per image (default: the checkpoint's)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def family_options(args: argparse.Namespace) -> dict:
    options = {}
    if args.min_pixels is not None:
        options["min_pixels"] = args.min_pixels
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    return options
