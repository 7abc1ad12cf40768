"""`mmtok count`: tokens per image from the file header alone, for files and folders."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from ..errors import MmtokError
from .options import add_model_options, family_options
from .output import emit_json, hw, note, table

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "count",
        help="count vision tokens per image or video from headers only (no decoding)",
        description="Tokens per image or video and in total, read from image headers and video container "
        "metadata only (no pixel is decoded). Folders are searched recursively for image and video files. "
        "Bad files are reported and the rest still counted; the exit status is 1 if any file failed.",
    )
    add_model_options(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image or video files, or folders")
    p.set_defaults(run=run)


def iter_files(paths: list[str]) -> Iterator[str]:
    """Files as given, and image files inside folders (sorted, recursive)."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
                        yield os.path.join(root, name)
        else:
            yield path


def run(args: argparse.Namespace) -> int:
    from ..vision.families import get_family

    family = get_family(args.model, **family_options(args))
    rows, total, images, videos, failed = [], 0, 0, 0, 0
    for path in iter_files(args.paths):
        is_video = os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS
        try:
            plan = family.plan_video(path) if is_video else family.plan(path)
        except MmtokError as e:
            failed += 1
            if args.json:
                emit_json({"path": path, "error": str(e), "error_type": type(e).__name__})
            else:
                note(f"mmtok: error: {e}")
            continue
        videos += is_video
        images += not is_video
        total += plan.tokens
        if args.json:
            emit_json(plan.to_dict())
        else:
            t, h, w = plan.grid_thw
            frames = f"{plan.frames:,}" if is_video else "-"
            rows.append([path, hw(plan.size), frames, hw(plan.resized), f"{t}x{h}x{w}", f"{plan.tokens:,}"])
    limits = "  ".join(f"{k} {v:,}" for k, v in family.limits.items())
    counted = f"{images:,} images" + (f", {videos:,} videos" if videos else "")
    summary = f"{counted}, {total:,} tokens ({family.name}; {limits})" + (f"; {failed:,} failed" if failed else "")
    if args.json:
        note(summary)
    else:
        if rows:
            print(table(rows, ["path", "size (h x w)", "frames", "resized", "grid t x h x w", "tokens"]))
        print(f"total: {summary}")
    return 1 if failed else 0
