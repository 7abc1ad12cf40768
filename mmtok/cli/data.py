"""`mmtok data`: dataset tools (validate here; convert, stats and pack from their own modules).

Every data command takes the same dataset flags (add_dataset_options) and hands its per-record work
to mmtok.datasets.runner, which keeps every record: each one ends in the clean output or in the
rejects with its reasons. Exit status: 0 when no record was rejected, 1 when some were, 2 for bad
options or an unreadable dataset file.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from .output import emit_json, note

#: modules adding more `mmtok data` subcommands through add_parsers(sub); a missing one is skipped
SUBCOMMAND_MODULES = ("mmtok.cli.data_convert", "mmtok.cli.data_stats")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "data",
        help="validate, measure, convert and pack fine-tuning datasets (JSONL / JSON)",
        description="Dataset tools for VLM fine-tuning data (ms-swift, LLaVA, ShareGPT/LLaMA-Factory, ... formats). "
        "Every record ends in the output or in the rejects with its reasons; nothing is dropped silently.",
    )
    p.set_defaults(run=lambda args: _usage(p))
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    add_validate_parser(data_sub)
    for name in SUBCOMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parsers(data_sub)


def _usage(parser: argparse.ArgumentParser) -> int:
    import sys

    parser.print_help(sys.stderr)
    return 2


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    """The flags every data command takes: DATASET, --format, --root, --json, --workers, --engine,
    --batch-size, --no-progress."""
    p.add_argument("dataset", metavar="DATASET", help="the dataset file (.jsonl, or .json holding an array of records)")
    p.add_argument(
        "--format", default=None, metavar="F",
        help="the dataset format: swift, swift-query, llava, sharegpt, alpaca, ... (default: detected per record)",
    )  # fmt: skip
    p.add_argument("--root", default=None, metavar="DIR", help="folder media paths are relative to (default: the dataset file's folder)")
    p.add_argument(
        "--name", default=None, metavar="NAME",
        help="DATASET is LLaMA-Factory's dataset_info.json (or its folder): the entry to use; it sets the file, the "
        "format with its column/tag names, and the media folder",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="work on N cores at once (0: every core; default 1); same output")
    p.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="local processes (default) or Ray Data (pip install 'mmtok[ray]'); same output",
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="records per batch handed to a worker (default 256)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (it shows only on a terminal anyway)")


def resolve_dataset(args: argparse.Namespace) -> None:
    """Resolve DATASET, --name, --format and --root in place: args.dataset becomes the data file,
    args.format / args.format_options its format, args.root the absolute media folder."""
    import os

    from ..datasets.dataset_info import is_dataset_info, load_dataset_info
    from ..datasets.source import dataset_root
    from ..errors import InvalidOptionError

    args.format_options = None
    if is_dataset_info(args.dataset):
        if not args.name:
            names = ", ".join(e.name for e in load_dataset_info(args.dataset)) or "(no local entries)"
            raise InvalidOptionError(f"{args.dataset} is a dataset_info.json: pass --name (local entries: {names})")
        entries = load_dataset_info(args.dataset, args.name)
        if len(entries) != 1:
            raise InvalidOptionError("--name takes one dataset here; run the command once per dataset")
        entry = entries[0]
        fmt = args.format or entry.format_name
        args.format_options = entry.format_options if fmt == entry.format_name else None
        args.dataset, args.format = entry.file, fmt
        args.root = os.path.abspath(args.root) if args.root else entry.root
        return
    if args.name:
        raise InvalidOptionError("--name is for a dataset_info.json DATASET; this is a data file")
    args.root = dataset_root(args.dataset, args.root)
    if args.format is not None:
        from ..datasets.formats import get_format

        get_format(args.format)  # an unknown name fails here, once, naming the known ones


def run_options(args: argparse.Namespace) -> dict:
    """The runner.run keyword arguments the common flags set."""
    progress = False if (args.json or args.no_progress) else None
    return {"engine": args.engine, "workers": args.workers, "batch_size": args.batch_size, "progress": progress}


def models_option(spec: str | None) -> list[str]:
    """--model as a list of canonical family names (a comma list is allowed)."""
    if not spec:
        return []
    from ..vision.families import FAMILIES

    return [FAMILIES.canonical(name.strip()) for name in spec.split(",") if name.strip()]


def add_validate_parser(data_sub) -> None:
    p = data_sub.add_parser(
        "validate",
        help="check every record: format, roles, media files, <image>/<video> tags, boxes, length",
        description="Check every record of a dataset and sort them into clean and rejected ones, with reason codes "
        "(bad_json, bad_format, missing_media, corrupt_media, video_unreadable, tag_mismatch, empty_turn, bad_roles, "
        "bad_bbox, path_escape, too_long). With --out DIR writes DIR/clean.jsonl (kept records, unchanged) and "
        "DIR/rejects.jsonl ({line, record, reasons}); an interrupted run picks up where it stopped (--no-resume: start "
        "over). Exit status 0 when nothing is rejected, 1 otherwise.",
    )
    add_dataset_options(p)
    p.add_argument("--model", default=None, metavar="M", help="measure each record's tokens with this model (a comma list for several)")
    p.add_argument(
        "--max-length", type=int, default=None, metavar="N",
        help="reject records longer than N tokens, visual tokens expanded (needs --model)",
    )  # fmt: skip
    p.add_argument("--min-pixels", type=int, default=None, metavar="N", help="pixel floor per image, for measuring (default: the checkpoint's)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N", help="pixel budget per image, for measuring (default: the checkpoint's)")
    p.add_argument("--media", choices=("decode", "header", "none"), default="decode",
                   help="check media files by decoding them (default), by their headers only (faster), or not at all")  # fmt: skip
    p.add_argument("--out", default=None, metavar="DIR", help="write DIR/clean.jsonl and DIR/rejects.jsonl")
    p.add_argument("--no-resume", action="store_true", help="with --out: start over even if DIR holds an interrupted run")
    p.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from ..datasets.runner import run
    from ..datasets.sample import REASONS
    from ..datasets.task import RecordTask
    from ..errors import InvalidOptionError

    models = models_option(args.model)
    if args.max_length is not None and not models:
        raise InvalidOptionError("--max-length needs --model: the length is counted with a model's tokens (e.g. --model qwen2-vl)")
    if args.max_length is not None and args.max_length < 1:
        raise InvalidOptionError(f"--max-length must be a positive number of tokens; got {args.max_length}")
    resolve_dataset(args)
    processor_options = {k: v for k, v in (("min_pixels", args.min_pixels), ("max_pixels", args.max_pixels)) if v is not None}
    task = RecordTask(
        models=models, fmt=args.format, format_options=args.format_options, root=args.root, max_length=args.max_length,
        media=args.media, processor_options=processor_options or None,
    )  # fmt: skip
    result = run(args.dataset, task, out_dir=args.out, resume=not args.no_resume, **run_options(args))
    if args.json:
        emit_json(result.to_dict())
    summary = result.to_dict()
    if result.resumed_from:
        note(f"resumed: {result.resumed_from:,} records were already done in {args.out}")
    note(f"{summary['records']:,} records: {summary['clean']:,} clean, {summary['rejected']:,} rejected")
    width = max((len(code) for code in summary["by_reason"]), default=0)
    for code, count in summary["by_reason"].items():
        note(f"  {code.ljust(width)}  {count:>9,}  {REASONS.get(code, '')}")
    if args.out:
        note(f"written: {args.out}/clean.jsonl, {args.out}/rejects.jsonl")
    elif result.rejected:
        note("pass --out DIR to write the clean records and the rejects with their reasons")
    return 1 if result.rejected else 0
