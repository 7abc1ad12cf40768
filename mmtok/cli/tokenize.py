"""`mmtok tokenize`: one prompt with images -> the model's input, and the layout a person needs."""

from __future__ import annotations

import argparse

from .options import add_model_options, family_options
from .output import emit_json, hw


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tokenize",
        help="tokenize images and a prompt as the model's processor would; show the layout",
        description="Build the chat-templated input for one user turn (images, then the prompt) and show "
        "sizes, patch grid, token counts and the expanded prompt.",
    )
    add_model_options(p)
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="an image file (repeat for several)")
    p.add_argument("--prompt", default="", help="the user's text, after the images")
    p.add_argument("--save", metavar="OUT.npz", help="write input_ids, attention_mask, pixel_values, image_grid_thw, ... to an .npz")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import mmtok
    from ..sequence.display import shorten_runs

    processor = mmtok.get_processor(args.model, **family_options(args))
    content = [{"type": "image", "image": path} for path in args.image]
    if args.prompt:
        content.append({"type": "text", "text": args.prompt})
    out = processor([{"role": "user", "content": content}], add_generation_prompt=True)
    ids = out["input_ids"][0]

    if args.save:
        np.savez(args.save, **{k: v for k, v in out.items()})
    if args.json:
        emit_json(
            {
                "model": processor.model,
                "input_ids": ids.tolist(),
                "num_tokens": int(ids.size),
                "images": [plan.to_dict() for plan in out.plans],
                "limits": out.limits,
            }
        )
        return 0

    family = processor.family
    lines = [f"model     {processor.model}   ({family.reference})"]
    lines.append("limits    " + "   ".join(f"{k} {v:,}" for k, v in out.limits.items()))
    for plan in out.plans:
        t, h, w = plan.grid_thw
        lines += [
            f"image     {plan.source}",
            f"  size      {hw(plan.size)} (height x width)",
            f"  resized   {hw(plan.resized)}",
            f"  grid      {t} x {h} x {w} (t x h x w patches)",
            f"  patches   {plan.patches:,} rows of pixel_values",
            f"  tokens    {plan.tokens:,}",
        ]
    image_tokens = sum(p.tokens for p in out.plans)
    lines.append(f"sequence  {ids.size:,} tokens ({image_tokens:,} image, {ids.size - image_tokens:,} text)")
    if "pixel_values" in out:
        pv = out["pixel_values"]
        lines.append(f"pixel_values {tuple(pv.shape)} {pv.dtype}")
    if args.save:
        lines.append(f"saved     {args.save}")
    lines += ["", shorten_runs(processor.tokenizer, ids)]
    print("\n".join(lines))
    return 0
