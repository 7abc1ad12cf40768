"""`mmtok discrete train|encode|decode|eval`: discrete image tokenizers (VQ-VAE/VQGAN-style grid, TiTok-style 1-D).

A thin shell over mmtok.discrete: `train` writes a safetensors checkpoint (+ a training-state side
file, so an interrupted run continues with --resume), `encode` prints an image's ids as JSON,
`decode` turns ids back into a PNG, `eval` measures PSNR, SSIM, codebook usage, perplexity and bits
per image on held-out crops and can write a grid PNG of originals beside reconstructions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import InvalidOptionError
from .output import emit_json, note, table

VQ_DEFAULTS = {"ema": True, "kmeans_init": True, "dead_code_threshold": 2.0}


def add_parser(sub) -> None:
    from ..discrete.train import TrainConfig  # numpy only: torch is imported when training starts

    defaults = TrainConfig()
    p = sub.add_parser(
        "discrete",
        help="train and use discrete image tokenizers (VQ-VAE/VQGAN grid, TiTok 1-D)",
        description="Discrete image tokenizers: a convolutional VQ-VAE/VQGAN-style tokenizer ((size/f)^2 ids per "
        "image) and a TiTok-style 1-D tokenizer (exactly --tokens ids per image). Needs torch (mmtok[discrete]).",
    )
    group = p.add_subparsers(dest="discrete_command", metavar="SUBCOMMAND")
    p.set_defaults(run=lambda args: _usage(p))

    t = group.add_parser("train", help="train a tokenizer (time/step budget, checkpoints, --resume)")
    source = t.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="a folder of images (every fifth file is held out)")
    source.add_argument("--builtin", choices=("photos",), help="the photos that ship in scikit-image (train) and scikit-learn (held out)")
    t.add_argument("--arch", default="vqvae", help="vqvae (conv 2-D grid; alias conv, vqgan) or titok (1-D) (default vqvae)")
    t.add_argument("--size", type=int, default=32, help="crop / image side in pixels (default 32)")
    t.add_argument("--tokens", type=int, default=64, help="ids per image: vqvae a square (64 at 32 px: f = 4); titok K (32, 64, 128) (default 64)")
    t.add_argument("--quantizer", default="vq", help="vq, fsq, lfq, residual-vq, ... (default vq)")
    t.add_argument("--codebook-size", type=int, default=256, help="codes in the codebook (default 256)")
    t.add_argument(
        "--quantizer-option", action="append", default=[], metavar="KEY=VALUE",
        help="a quantizer option, e.g. ema=false, levels=[8,8,4] (fsq), beta=0.25; repeatable. vq defaults: "
        "ema=true kmeans_init=true dead_code_threshold=2",
    )
    t.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE", help="a model option, e.g. channels=128, dim=32 (vqvae), width=128, depth=4 (titok)")
    t.add_argument("--minutes", type=float, default=None, help="time budget in minutes (total over resumed runs)")
    t.add_argument("--steps", type=int, default=None, help="step budget (total over resumed runs)")
    t.add_argument("--batch-size", type=int, default=None, help=f"crops per step (default {defaults.batch_size})")
    t.add_argument("--lr", type=float, default=None, help=f"peak Adam learning rate (default {defaults.lr:g}; warm-up, then cosine decay)")
    t.add_argument("--gan-weight", type=float, default=0.0, help="VQGAN PatchGAN hinge-loss weight (default 0: off)")
    t.add_argument("--gan-start", type=int, default=0, help="step at which the GAN loss starts (default 0)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    t.add_argument("--out", default=None, metavar="CKPT", help="checkpoint path (default: discrete-<arch>-<tokens>.safetensors)")
    t.add_argument("--resume", action="store_true", help="continue the run saved at --out (same options)")
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.set_defaults(run=run_train)

    e = group.add_parser("encode", help="an image's ids as JSON")
    e.add_argument("image", metavar="IMAGE", help="an image file (centre-cropped to a square and resized to the model's size)")
    e.add_argument("--ckpt", required=True, metavar="CKPT", help="a checkpoint written by `mmtok discrete train`")
    e.add_argument("--json", action="store_true", help="a JSON object with ids, shape, tokens and codebook size (default: the ids as a JSON list)")
    e.set_defaults(run=run_encode)

    d = group.add_parser("decode", help="ids (JSON) back to a PNG")
    d.add_argument("ids", metavar="IDS", help="a JSON file of ids (the output of encode), '-' for stdin, or a JSON list")
    d.add_argument("--ckpt", required=True, metavar="CKPT")
    d.add_argument("--out", default="decoded.png", help="PNG path to write (default decoded.png)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.set_defaults(run=run_decode)

    v = group.add_parser("eval", help="PSNR, SSIM, codebook usage, perplexity, bits per image; grid PNG")
    v.add_argument("--ckpt", required=True, metavar="CKPT")
    vsource = v.add_mutually_exclusive_group()
    vsource.add_argument("--images", metavar="DIR", help="a folder of images (its held-out fifth is used)")
    vsource.add_argument("--builtin", choices=("photos",), default=None, help="held-out scikit-learn photos (default)")
    v.add_argument("--count", type=int, default=1000, help="held-out crops to evaluate (default 1000)")
    v.add_argument("--seed", type=int, default=0, help="crop seed (default 0: the crops train holds out)")
    v.add_argument("--grid", default=None, metavar="PNG", help="write a grid of originals beside reconstructions")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(run=run_eval)

    from .discrete_tokens import add_extra_parsers

    add_extra_parsers(group)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def parse_options(items: list[str], flag: str) -> dict:
    """KEY=VALUE pairs; values are JSON (true, 0.25, [8,8,4]), a comma list of numbers, or text."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidOptionError(f"{flag} takes KEY=VALUE (e.g. ema=false); got {item!r}")
        value = value.strip()
        try:
            parsed = json.loads(value.lower() if value.lower() in ("true", "false", "null") else value)
        except json.JSONDecodeError:
            try:
                parsed = [json.loads(v) for v in value.split(",")] if "," in value else value
            except json.JSONDecodeError:
                parsed = value
        options[key.strip().replace("-", "_")] = parsed
    return options


def train_config(args: argparse.Namespace):
    from ..discrete.models import canonical_arch
    from ..discrete.train import TrainConfig

    arch = canonical_arch(args.arch)
    qopts = parse_options(args.quantizer_option, "--quantizer-option")
    name = args.quantizer.lower()
    if name in ("vq", "vector-quantizer"):
        qopts = {**VQ_DEFAULTS, **qopts}
    if "levels" not in qopts:
        qopts.setdefault("codebook_size", args.codebook_size)
    return TrainConfig(
        arch=arch, size=args.size, tokens=args.tokens, quantizer=name, quantizer_options=qopts,
        model_options=parse_options(args.model_option, "--model-option"),
        **({"batch_size": args.batch_size} if args.batch_size is not None else {}),
        **({"lr": args.lr} if args.lr is not None else {}),
        minutes=args.minutes, steps=args.steps, seed=args.seed, gan_weight=args.gan_weight, gan_start=args.gan_start,
        source=os.path.abspath(args.images) if args.images else "photos",
    )


def run_train(args: argparse.Namespace) -> int:
    from ..discrete.train import train

    cfg = train_config(args)
    out = args.out or f"discrete-{cfg.arch}-{cfg.tokens}.safetensors"
    result = train(cfg, out, resume=args.resume, threads=args.threads, log=note)
    from dataclasses import asdict

    record = asdict(result)
    if args.json:
        emit_json(record)
    else:
        print(f"{out}: {result.step:,} steps, {result.elapsed:.0f}s, reconstruction mse {result.reconstruction_loss:.4f}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from ..discrete import api

    record = api.encode_file(args.image, args.ckpt)
    emit_json(record if args.json else record["ids"])
    return 0


def _read_ids(spec: str):
    if spec == "-":
        text = sys.stdin.read()
    elif os.path.isfile(spec):
        with open(spec, encoding="utf-8") as f:
            text = f.read()
    else:
        text = spec
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidOptionError(
            f"ids {spec[:60]!r}: not JSON and not a file; pass the output of `mmtok discrete encode` (a file, '-' or a JSON list)"
        ) from None
    return data["ids"] if isinstance(data, dict) and "ids" in data else data


def run_decode(args: argparse.Namespace) -> int:
    from ..discrete import api

    path = api.decode_to_png(_read_ids(args.ids), args.ckpt, args.out)
    if args.json:
        emit_json({"path": path})
    else:
        print(path)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..discrete import api

    result = api.evaluate_checkpoint(args.ckpt, images=args.images, count=args.count, seed=args.seed, grid=args.grid)
    if args.json:
        emit_json(result)
        return 0
    def text(value) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if value.is_integer() else f"{value:.4f}"
        return ", ".join(value) if isinstance(value, list) else str(value)

    rows = [[k, text(v)] for k, v in result.items()]
    print(table(rows, ["metric", "value"]))
    return 0
