"""`mmtok tokenize`: one prompt with images -> the model's input, and the layout a person needs."""

from __future__ import annotations

import argparse

from ..errors import MmtokError
from .options import add_model_options, add_workers_option, family_options
from .output import emit_json, hw, limits_text, note


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tokenize",
        help="tokenize images and a prompt as the model's processor would; show the layout",
        description="Build the chat-templated input for one user turn (images, then the prompt) and show "
        "sizes, patch grid, token counts and the expanded prompt.",
    )
    add_model_options(p)
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="an image file (repeat for several)")
    p.add_argument("--video", action="append", default=[], metavar="PATH", help="a video file (repeat for several); after the images")
    p.add_argument("--prompt", default="", help="the user's text, after the images and videos")
    p.add_argument(
        "--messages",
        metavar="FILE.json",
        help="a whole conversation instead of --image/--prompt: a JSON list of {role, content} messages in the "
        "Hugging Face content-list form; relative media paths are taken from the file's folder. A generation "
        "prompt is added unless the last message is the assistant's",
    )
    p.add_argument("--labels", action="store_true", help="compute training labels (assistant turns learned, the rest -100) and show the learned spans")
    p.add_argument("--label-style", default=None, choices=("qwen", "content-eos", "qwen-vl"), help="which tokens are learned (default: the family's fine-tuning code: qwen-vl for Qwen-VL, qwen otherwise)")
    p.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens; an error if that would cut an image")
    add_workers_option(p, "decode and resize the images")
    p.add_argument("--save", metavar="OUT.npz", help="write input_ids, attention_mask, pixel_values, image_grid_thw, ... to an .npz")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import mmtok
    from ..sequence.display import shorten_runs

    processor = mmtok.get_processor(args.model, **family_options(args))
    if getattr(args, "workers", 1) != 1:
        from ..parallel import with_workers

        processor.family = with_workers(processor.family, args.workers)
    if args.messages:
        if args.image or args.video or args.prompt:
            from ..errors import InvalidOptionError

            raise InvalidOptionError("--messages holds the whole conversation; drop --image, --video and --prompt, or drop --messages")
        messages = load_messages(args.messages)
    else:
        content = [{"type": "image", "image": path} for path in args.image]
        content += [{"type": "video", "video": path} for path in args.video]
        if args.prompt:
            content.append({"type": "text", "text": args.prompt})
        messages = [{"role": "user", "content": content}]
    generation = messages[-1].get("role") != "assistant"
    try:
        out = processor(messages, add_generation_prompt=generation, labels=args.labels, label_style=args.label_style, max_length=args.max_length)
    except MmtokError as e:
        if not getattr(e, "failures", None) or getattr(args, "debug", False):
            raise
        # --workers saw every image: report each bad one, not just the first
        for failure in e.failures:
            note(f"mmtok: error: {failure.message}")
        return e.exit_code
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
                **({"videos": [plan.to_dict() for plan in out.video_plans]} if out.video_plans else {}),
                "limits": out.limits,
                **({"labels": out["labels"][0].tolist()} if args.labels else {}),
            }
        )
        return 0

    family = processor.family
    lines = [f"model     {processor.model}   ({family.reference})"]
    lines.append("limits    " + limits_text(out.limits, "   "))
    for plan in out.plans:
        lines += [f"image     {plan.source}", f"  size      {hw(plan.size)} (height x width)", f"  resized   {hw(plan.resized)}"]
        if plan.grid_thw is not None:
            t, h, w = plan.grid_thw
            lines.append(f"  grid      {t} x {h} x {w} (t x h x w patches)")
        if plan.tiles != 1:
            lines.append(f"  tiles     {plan.tiles}")
        lines.append(f"  tokens    {plan.tokens:,}" + (f" ({plan.total:,} with markers)" if plan.total != plan.tokens else ""))
    for plan in out.video_plans:
        t, h, w = plan.grid_thw
        lines += [
            f"video     {plan.source}   (sampling: {plan.sampling})",
            f"  size      {hw(plan.size)} (height x width), {plan.metadata.total_frames:,} frames"
            + (f" at {plan.metadata.fps:g} fps" if plan.metadata.fps else ""),
            f"  frames    {plan.frames:,} sampled ({plan.sample_fps:g} per second)",
            f"  resized   {hw(plan.resized)}",
            f"  grid      {t} x {h} x {w} (t x h x w patches)",
            f"  tokens    {plan.tokens:,}",
        ]
    image_tokens = sum(p.tokens for p in out.plans)
    video_tokens = sum(p.tokens for p in out.video_plans)
    text_tokens = ids.size - image_tokens - video_tokens
    parts = [f"{image_tokens:,} image"] + ([f"{video_tokens:,} video"] if out.video_plans else []) + [f"{text_tokens:,} text"]
    lines.append(f"sequence  {ids.size:,} tokens ({', '.join(parts)})")
    for key in ("pixel_values", "pixel_values_videos"):
        if key in out:
            lines.append(f"{key} {tuple(out[key].shape)} {out[key].dtype}")
    if args.save:
        lines.append(f"saved     {args.save}")
    lines += ["", shorten_runs(processor.tokenizer, ids)]
    if args.labels:
        lines += ["", *learned_spans(processor.tokenizer, out["labels"][0])]
    print("\n".join(lines))
    return 0


def load_messages(path: str) -> list:
    """A conversation from a JSON file; relative media paths resolved against the file's folder."""
    import json
    from pathlib import Path

    from ..errors import MessageFormatError

    file = Path(path)
    try:
        messages = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MessageFormatError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise MessageFormatError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if isinstance(messages, dict) and "messages" in messages:
        messages = messages["messages"]
    if not isinstance(messages, list):
        raise MessageFormatError(f"{path}: expected a JSON list of {{role, content}} messages (or {{\"messages\": [...]}})")
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for item in content if isinstance(content, list) else ():
            for key in ("image", "video", "path", "url"):
                value = item.get(key) if isinstance(item, dict) else None
                if isinstance(value, str) and not value.startswith(("data:", "http://", "https://")):
                    local = file.parent / value
                    if not Path(value).is_absolute() and local.exists():
                        item[key] = str(local)
    return messages


def learned_spans(tokenizer, labels) -> list[str]:
    """One line per run of learned label positions: where it is and what it decodes to."""
    from ..sequence.labels import IGNORE_INDEX

    values = labels.tolist()
    lines, i = [], 0
    total = sum(v != IGNORE_INDEX for v in values)
    lines.append(f"labels    {total:,} of {len(values):,} positions learned")
    while i < len(values):
        if values[i] == IGNORE_INDEX:
            i += 1
            continue
        j = i
        while j < len(values) and values[j] != IGNORE_INDEX:
            j += 1
        lines.append(f"  [{i}:{j}] {tokenizer.decode(values[i:j])!r}")
        i = j
    return lines
