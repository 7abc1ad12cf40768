"""`mmtok discrete dynamic` and `mmtok discrete sequence`: token selection under a keep ratio
(mmtok.discrete.dynamic) and an image's ids inside a text tokenizer's sequence (mmtok.discrete.sequence)."""

from __future__ import annotations

import argparse

from ..errors import InvalidOptionError
from .output import emit_json, table


def add_extra_parsers(group) -> None:
    y = group.add_parser("dynamic", help="keep only the most informative tokens: tokens saved vs PSNR/SSIM per keep ratio")
    y.add_argument("--ckpt", required=True, metavar="CKPT")
    ysource = y.add_mutually_exclusive_group()
    ysource.add_argument("--images", metavar="DIR", help="a folder of images (its held-out fifth is used)")
    ysource.add_argument("--builtin", choices=("photos",), default=None, help="held-out scikit-learn photos (default)")
    y.add_argument("--count", type=int, default=200, help="held-out crops (default 200)")
    y.add_argument("--ratios", default="1,0.75,0.5,0.25", help="keep ratios, comma-separated (default 1,0.75,0.5,0.25)")
    y.add_argument(
        "--proxy", default="code_distance",
        help="code_distance (default: distance of each code to the fill vector; as good as the oracle here), variance, "
        "gradient, drop_error (one decode per token) or random",
    )  # fmt: skip
    y.add_argument("--json", action="store_true", help="machine-readable output")
    y.set_defaults(run=run_dynamic)

    s = group.add_parser("sequence", help="an image's ids inside a text tokenizer's sequence (image start/end tokens, reserved code ids)")
    s.add_argument("image", metavar="IMAGE", help="an image file")
    s.add_argument("--ckpt", required=True, metavar="CKPT")
    s.add_argument("--tokenizer", default="qwen2", help="text tokenizer name or vocabulary path (default qwen2)")
    s.add_argument("--layout", default="chameleon", help="chameleon (start, codes, end; default) or emu3 (size prefix, rows with end-of-line tokens)")
    s.add_argument("--text", default="", help="text before the image")
    s.add_argument("--save-tokenizer", default=None, metavar="JSON", help="write the extended tokenizer.json here")
    s.add_argument("--json", action="store_true", help="a JSON object with the ids and the reserved ranges (default: the ids as a JSON list)")
    s.set_defaults(run=run_sequence)


def run_dynamic(args: argparse.Namespace) -> int:
    from ..discrete.checkpoint import load_model
    from ..discrete.data import load_crops
    from ..discrete.dynamic import keep_ratio_curve

    try:
        ratios = [float(r) for r in args.ratios.split(",") if r.strip()]
    except ValueError:
        raise InvalidOptionError(f"--ratios {args.ratios!r}: pass comma-separated fractions, e.g. 1,0.5,0.25") from None
    if args.count < 1:
        raise InvalidOptionError(f"--count {args.count}: pass a positive number of held-out crops")
    model = load_model(args.ckpt)
    crops = load_crops(args.images or "photos", model.size, 0, args.count, 0).test
    rows = keep_ratio_curve(model, crops, ratios, args.proxy)
    if args.json:
        emit_json(rows)
        return 0
    body = [[f"{r['keep_ratio']:g}", str(r["kept"]), f"{r['saved_fraction']:.1%}", f"{r['psnr']:.2f}", f"{r['ssim']:.3f}"] for r in rows]
    print(table(body, ["keep", "tokens", "saved", "PSNR dB", "SSIM"]))
    return 0


def run_sequence(args: argparse.Namespace) -> int:
    from ..discrete.checkpoint import load_model
    from ..discrete.data import read_image
    from ..discrete.sequence import ImageTokenLayout, encode_interleaved

    model = load_model(args.ckpt)
    layout = ImageTokenLayout(
        args.tokenizer, model.codebook_size, layout=args.layout, token_shape=model.token_shape, out=args.save_tokenizer
    )
    parts = ([args.text] if args.text else []) + [read_image(args.image)]
    ids = encode_interleaved(parts, layout, model)
    emit_json({"ids": ids, **layout.to_dict()} if args.json else ids)
    return 0
