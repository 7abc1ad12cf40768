"""`mmtok data convert`: rewrite a dataset in another format, grounding boxes in a model's own text.

Records go through mmtok.datasets.runner with a RecordTask whose output_format is set, so each one
is read in its format, checked, and written by mmtok.datasets.convert.convert_record. Every record
ends in --out (JSONL) or in <out>.rejects.jsonl with its reasons. While it runs the outputs live in
the folder <out>.partial (the runner's clean.jsonl / rejects.jsonl / progress.json): an interrupted
conversion resumes from there, and a finished one moves its two files into place.

DATASET is a data file, or LLaMA-Factory's dataset_info.json (or its folder) with --name, which sets
the format, its column/tag names and the media folder from the entry.
"""

from __future__ import annotations

import argparse
import os
import shutil

from .output import emit_json, note


def add_parsers(sub) -> None:
    from ..datasets.convert import BBOX_FORMATS, BOXES
    from .data import add_dataset_options

    p = sub.add_parser(
        "convert",
        help="convert a dataset to another format (swift, swift-query, llava, sharegpt, alpaca)",
        description="Convert every record of a dataset to another format. Grounding records in ms-swift's form "
        "(<ref-object>/<bbox> placeholders + objects) keep their objects in the ms-swift formats; for the others, or "
        "with --boxes model, the placeholders become --model's grounding text with its coordinates (read from the "
        "image headers). Writes --out (JSONL) and <out>.rejects.jsonl ({line, record, reasons}). Exit status 0 when "
        "every record converted, 1 when some were rejected, 2 for bad options.",
    )
    add_dataset_options(p)
    p.add_argument("--from", dest="format", default=None, metavar="F", help="the input format (same as --format; default: detected per record)")
    p.add_argument("--to", required=True, metavar="F", help="the output format: swift, swift-query, llava, sharegpt or alpaca")
    p.add_argument("--out", required=True, metavar="FILE", help="the converted records (JSONL); rejects go to FILE.rejects.jsonl")
    p.add_argument("--model", default=None, metavar="M", help="write grounding boxes as this model's text (qwen-vl, qwen2-vl, qwen2.5-vl, qwen3-vl)")
    p.add_argument("--boxes", choices=BOXES, default="auto",
                   help="auto: keep objects where the output format holds them, else write --model's text (default); "
                   "keep: never rewrite; model: always write --model's text")  # fmt: skip
    p.add_argument("--bbox-format", choices=BBOX_FORMATS, default="auto",
                   help="auto: the model's convention; legacy: Qwen2-VL box tags for every Qwen model (ms-swift's default); "
                   "new: plain ref and [x1, y1, x2, y2] (ms-swift's QWENVL_BBOX_FORMAT=new)")  # fmt: skip
    p.add_argument("--min-pixels", type=int, default=None, help="qwen2.5-vl boxes: the pixel floor the model resizes with")
    p.add_argument("--max-pixels", type=int, default=None, help="qwen2.5-vl boxes: the pixel budget the model resizes with")
    p.add_argument("--media", choices=("decode", "header", "none"), default="none",
                   help="also check media files: by decoding them, by their headers, or not at all (default)")  # fmt: skip
    p.add_argument("--no-resume", action="store_true", help="start over even if <out>.partial holds an interrupted run")
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from ..datasets.formats import get_format
    from ..datasets.runner import run
    from ..errors import InvalidOptionError
    from .data import resolve_dataset, run_options

    get_format(args.to)  # unknown names fail here, once
    if args.boxes == "model" and not args.model:
        raise InvalidOptionError("--boxes model needs --model: the model whose grounding text to write (e.g. qwen2-vl)")
    if args.model:
        from ..sequence.grounding import convention

        convention(args.model)  # a model without a grounding convention fails here, naming the known ones
    resolve_dataset(args)
    dataset, fmt, format_options, root = args.dataset, args.format, args.format_options, args.root
    out = os.path.abspath(args.out)
    if out == os.path.abspath(dataset):
        raise InvalidOptionError(f"--out {args.out} is the input dataset; write the converted records to another file")
    rejects = out + ".rejects.jsonl"
    work = out + ".partial"
    convert_options = {"model": args.model, "boxes": args.boxes, "bbox_format": args.bbox_format,
                       "min_pixels": args.min_pixels, "max_pixels": args.max_pixels}  # fmt: skip
    task = make_task(fmt=fmt, format_options=format_options, root=root, media=args.media, output_format=args.to, convert_options=convert_options)
    result = run(dataset, task, out_dir=work, resume=not args.no_resume, **run_options(args))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    os.replace(os.path.join(work, "clean.jsonl"), out)
    os.replace(os.path.join(work, "rejects.jsonl"), rejects)
    shutil.rmtree(work, ignore_errors=True)
    if not result.rejected:
        os.remove(rejects)
    summary = result.to_dict()
    if args.json:
        emit_json({**summary, "out": out, "rejects": rejects})
    note(f"{summary['records']:,} records: {summary['clean']:,} converted to {args.to}, {summary['rejected']:,} rejected")
    for code, count in summary["by_reason"].items():
        note(f"  {code}  {count:,}")
    note(f"written: {out}" + (f", {rejects}" if result.rejected else ""))
    return 1 if result.rejected else 0


def make_task(*, fmt, format_options, root, media, output_format, convert_options):
    """The task for a conversion: a RecordTask that hands convert_options (model, boxes, bbox_format,
    min_pixels, max_pixels) to convert_record."""
    from ..datasets.task import RecordTask

    return RecordTask(
        fmt=fmt, format_options=format_options, root=root, media=media, output_format=output_format,
        convert_options=convert_options,
    )  # fmt: skip


__all__ = ["add_parsers", "make_task", "run_convert"]
