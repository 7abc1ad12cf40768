"""`mmtok count`: tokens per image from the file header alone, for files and folders."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from ..errors import InvalidOptionError, MmtokError, UnsupportedInputError
from .options import add_model_options, add_workers_option, family_options
from .output import emit_json, grid_text, hw, limits_text, note, table

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
    p.set_defaults(model="qwen2-vl")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image or video files, or folders")
    add_workers_option(p, "read headers")
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


def _models(spec: str) -> list[str]:
    from ..vision.families import FAMILIES, model_names

    if spec == "all":
        return model_names()
    return [FAMILIES.canonical(name.strip()) for name in spec.split(",") if name.strip()]


def plan_file(family, path: str):
    """The plan of one image or video file (module level: the process pool of --workers pickles it)."""
    is_video = os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS
    return family.plan_video(path) if is_video else family.plan(path)


def _plan_each(families: list, path: str) -> list:
    """One cell per family: a plan, None (the family takes no such input) or an error message."""
    cells = []
    for family in families:
        try:
            cells.append(plan_file(family, path))
        except UnsupportedInputError:
            cells.append(None)
        except MmtokError as e:
            cells.append(str(e))
    return cells


def _planned(fn, paths: list[str], args: argparse.Namespace):
    """fn(path) for each path, in order; with --workers N in N processes (header parsing is Python that
    holds the GIL, so threads would not help), in chunks big enough to amortise the pickling."""
    from ..parallel import check_workers, map_ordered

    workers = check_workers(getattr(args, "workers", 1))
    chunksize = max(1, min(256, len(paths) // (4 * workers)))
    return map_ordered(fn, paths, workers=workers, processes=True, chunksize=chunksize)


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from ..parallel import Failure
    from ..vision.families import get_family

    models = _models(args.model)
    if len(models) > 1 or args.model == "all":
        return run_many(args, models)
    family = get_family(models[0], **family_options(args))
    rows, total, images, videos, failed = [], 0, 0, 0, 0
    paths = list(iter_files(args.paths))
    for path, plan in zip(paths, _planned(partial(plan_file, family), paths, args)):
        is_video = os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS
        if isinstance(plan, Failure):
            failed += 1
            if args.json:
                emit_json({"path": path, "error": plan.message, "error_type": plan.error_type})
            else:
                note(f"mmtok: error: {plan.message}")
            continue
        videos += is_video
        images += not is_video
        total += plan.tokens
        if args.json:
            emit_json(plan.to_dict())
        else:
            frames = f"{plan.frames:,}" if is_video else "-"
            rows.append([path, hw(plan.size), frames, hw(plan.resized), grid_text(plan), f"{plan.tokens:,}"])
    limits = limits_text(family.limits)
    counted = f"{images:,} images" + (f", {videos:,} videos" if videos else "")
    summary = f"{counted}, {total:,} tokens ({family.name}; {limits})" + (f"; {failed:,} failed" if failed else "")
    if args.json:
        note(summary)
    else:
        if rows:
            print(table(rows, ["path", "size (h x w)", "frames", "resized", "grid (t x h x w) / tiles", "tokens"]))
        print(f"total: {summary}")
    return 1 if failed else 0


def run_many(args: argparse.Namespace, models: list[str]) -> int:
    """One row per file, one column per model: what each file costs everywhere (tokens; total tokens
    with structural markers in JSON)."""
    from functools import partial

    from ..vision.families import get_family

    options = family_options(args)
    families = []
    for name in models:
        # pixel budgets are per family: --min/--max-pixels apply to the families that take them
        family_opts = {k: v for k, v in options.items() if k not in ("min_pixels", "max_pixels")}
        try:
            families.append(get_family(name, **options))
        except (TypeError, InvalidOptionError):
            families.append(get_family(name, **family_opts))
    rows, failed = [], 0
    totals = {f.name: 0 for f in families}
    paths = list(iter_files(args.paths))
    for path, planned in zip(paths, _planned(partial(_plan_each, families), paths, args)):
        cells, record = [], {"path": path, "tokens": {}, "errors": {}}
        for family, plan in zip(families, planned):
            if plan is None or isinstance(plan, str):
                cells.append("-" if plan is None else "error")
                if plan is not None:
                    record["errors"][family.name] = plan
                continue
            totals[family.name] += plan.tokens
            record["tokens"][family.name] = plan.tokens
            if getattr(plan, "total_tokens", None) is not None:
                record.setdefault("total_tokens", {})[family.name] = plan.total_tokens
            cells.append(f"{plan.tokens:,}")
        if record["errors"]:
            failed += 1
            for name, message in record["errors"].items():
                note(f"mmtok: error: {name}: {message}")
        if not record["errors"]:
            del record["errors"]
        if args.json:
            emit_json(record)
        else:
            rows.append([path, *cells])
    if args.json:
        note("total: " + ", ".join(f"{name} {n:,}" for name, n in totals.items()))
    else:
        rows.append(["total", *[f"{totals[f.name]:,}" for f in families]])
        print(table(rows, ["path", *[f.name for f in families]]))
    return 1 if failed else 0
