"""`mmtok ground`: boxes and points between original-image pixels and a model's grounding format."""

from __future__ import annotations

import argparse
import re
import sys

from .output import emit_json, hw, note, table

_NUMBER = r"-?\d+(?:\.\d+)?"
_COORDS = re.compile(rf"\s*{_NUMBER}(?:\s*,\s*{_NUMBER}){{1,3}}\s*")  # pixels: "x1,y1,x2,y2" or "x,y"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ground",
        help="convert grounding boxes/points between image pixels and a model's format",
        description="--to-model: boxes 'x1,y1,x2,y2' or points 'x,y' in original-image pixels -> the text the "
        "model writes (Qwen-VL/Qwen2-VL box tags, Qwen2.5-VL/Qwen3-VL JSON). --from-model: the model's "
        "output text (or '-' for stdin) -> boxes and points in original-image pixels. Without either flag "
        "the direction is guessed from INPUT.",
    )
    p.add_argument("--model", required=True, help="qwen-vl, qwen2-vl, qwen2.5-vl or qwen3-vl (or a family alias)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--size", type=_size_arg, metavar="HxW", help="original image size, height x width (e.g. 428x640)")
    where.add_argument("--image", metavar="PATH", help="original image; its size is read from the header")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--to-model", dest="direction", action="store_const", const="to", help="pixels -> model text")
    way.add_argument("--from-model", dest="direction", action="store_const", const="from", help="model text -> pixels")
    p.add_argument("--label", action="append", default=None, metavar="TEXT", help="label for --to-model (once for all, or once per box)")
    p.add_argument("--min-pixels", type=int, default=None, help="pixel floor the model ran with (qwen2.5-vl only; default: the checkpoint's)")
    p.add_argument("--max-pixels", type=int, default=None, help="pixel budget the model ran with (qwen2.5-vl only; default: the checkpoint's)")
    p.add_argument("--round", dest="rounding", choices=("int", "round"), default=None,
                   help="--from-model: whole pixels, by int() as the official cookbooks draw, or nearest (default: exact)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="boxes/points 'x1,y1,x2,y2' / 'x,y' (repeatable), or model output text, or '-' for stdin")
    p.set_defaults(run=run)


def _size_arg(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
    if not m or 0 in (int(m.group(1)), int(m.group(2))):
        raise argparse.ArgumentTypeError(f"{value!r} is not a size HxW, height x width in pixels (e.g. 428x640)")
    return int(m.group(1)), int(m.group(2))


def _coords(value: str) -> tuple:
    numbers = [float(v) for v in re.findall(_NUMBER, value)]
    return tuple(int(v) if v.is_integer() else v for v in numbers)


def _number(v) -> int | float:
    return v if isinstance(v, int) else round(v, 3)


def run(args: argparse.Namespace) -> int:
    from ..sequence import grounding
    from ..vision.io import image_size

    conv = grounding.convention(args.model)
    size = args.size or image_size(args.image)
    limits = {"min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    frame = grounding.model_frame(conv.name, size, **limits)
    inputs = [sys.stdin.read() if value == "-" else value for value in args.inputs]
    direction = args.direction or ("to" if all(_COORDS.fullmatch(v) for v in inputs) else "from")
    header = {"model": conv.name, "size": list(size), "frame": list(frame)}
    if not conv.relative:  # only the resized-pixel convention depends on the limits
        from ..vision.families import get_family

        header["limits"] = get_family(conv.name, **limits).limits

    from ..errors import GroundingError, InvalidOptionError

    if direction == "to":
        bad = [v for v in inputs if not _COORDS.fullmatch(v)]
        if bad:
            raise GroundingError(f"{bad[0]!r} is not a box 'x1,y1,x2,y2' or a point 'x,y' in pixels")
        items = [_coords(v) for v in inputs]
        labels = args.label[0] if args.label and len(args.label) == 1 else args.label
        text = grounding.to_model(conv.name, items, size, labels=labels, **limits)
        if args.json:
            parsed = grounding.parse_groundings(conv.name, text)
            emit_json({**header, "text": text, "groundings": [g.to_dict() for g in parsed]})
        else:
            print(text)
            note(f"{conv.name}: {len(items)} item(s); size {hw(size)}, coordinate frame {hw(frame)}")
        return 0

    if args.label:
        raise InvalidOptionError("--label is for --to-model; model output carries its own labels")
    text = "\n".join(inputs)
    in_model = grounding.parse_groundings(conv.name, text)
    in_pixels = grounding.from_model(conv.name, text, size, rounding=args.rounding, **limits)
    if args.json:
        rows = []
        for m, g in zip(in_model, in_pixels):
            row = g.to_dict()
            row["model_coords"] = {k: v for k, v in (("box", m.box), ("point", m.point)) if v is not None}
            rows.append(row)
        emit_json({**header, "groundings": rows})
        return 0
    rows = []
    for m, g in zip(in_model, in_pixels):
        for kind, model_coords, px in (("box", m.box, g.box), ("point", m.point, g.point)):
            if model_coords is not None:
                shown = ", ".join(str(_number(v)) for v in px)
                rows.append([g.label or "-", kind, ", ".join(str(_number(v)) for v in model_coords), shown])
    if rows:
        print(table(rows, ["label", "kind", f"model ({hw(frame)} frame)", "pixels (x, y[, x, y])"]))
    note(f"{conv.name}: {len(in_pixels)} grounding(s); size {hw(size)}, coordinate frame {hw(frame)}")
    return 0
