"""`mmtok data stats` and `mmtok data pack`: token lengths of a dataset per model, and packing plans.

Both measure every record from image headers only (RecordTask(media="header") through
mmtok.datasets.runner), so a large dataset is measured without decoding a pixel. stats reports
count / mean / p50 / p90 / p95 / p99 / max of text, visual and total tokens per model (one table for
several models), the share over --max-length, an optional histogram PNG, and with
--suggest-max-pixels BUDGET the largest max_pixels keeping --percentile % of samples within BUDGET
(mmtok.datasets.stats). pack writes a packing plan (mmtok.datasets.pack: ms-swift's binpack and
sequential strategies, LLaMA-Factory's knapsack), one JSON line per pack; every record is in a pack
or in <out>.rejects.jsonl with its reasons.
"""

from __future__ import annotations

import argparse
import json

from .output import emit_json, note, table


def add_parsers(sub) -> None:
    from ..datasets.pack import STRATEGIES
    from .data import add_dataset_options

    p = sub.add_parser(
        "stats",
        help="token lengths per model (text, visual, total): percentiles, share over max length, histogram",
        description="Measure every record's tokens for one or more models from image headers (no decoding) and "
        "report count, mean, p50/p90/p95/p99 and max of text, visual and total tokens, the share over --max-length, "
        "a histogram PNG, and the largest max_pixels that keeps --percentile %% of samples within a token budget. "
        "Records that cannot be measured are counted and left out. Exit status 0, or 1 when some records were rejected.",
    )
    add_dataset_options(p)
    _measure_options(p)
    p.add_argument("--max-length", type=int, default=None, metavar="N", help="report how many samples are over N tokens")
    p.add_argument("--histogram", default=None, metavar="PNG", help="draw a histogram of total tokens per model into PNG")
    p.add_argument("--suggest-max-pixels", type=int, default=None, metavar="BUDGET",
                   help="find the largest max_pixels keeping --percentile %% of samples within BUDGET tokens (Qwen2-VL-style models)")  # fmt: skip
    p.add_argument("--percentile", type=float, default=95.0, metavar="P", help="with --suggest-max-pixels: the share of samples to keep within budget (default 95)")
    p.set_defaults(run=run_stats)

    p = sub.add_parser(
        "pack",
        help="plan sequence packing: which samples share one training sequence of at most --max-length tokens",
        description="Measure every record with --model and plan packs of at most --max-length tokens: binpack (ms-swift's "
        "default, the binpacking package's constant-volume packing in chunks of 1,000; bfd: the same with binpacking < 2.0), sequential (ms-swift's next-fit in "
        "input order) or knapsack (LLaMA-Factory's greedy_knapsack). Writes --out: one JSON line per pack "
        '{"pack", "lines", "lengths", "total"} (lines: the records\' line numbers); records not packed go to '
        "<out>.rejects.jsonl with their reasons. Exit status 0, or 1 when some records were rejected.",
    )
    add_dataset_options(p)
    _measure_options(p)
    p.add_argument("--max-length", type=int, required=True, metavar="N", help="tokens per pack (the trainer's max_length / packing_length)")
    p.add_argument("--strategy", choices=STRATEGIES, default="binpack", help="binpack (default; ms-swift with binpacking >= 2.0), bfd (ms-swift with binpacking < 2.0), sequential or knapsack")
    p.add_argument("--max-images-per-pack", type=int, default=None, metavar="K", help="also keep each pack within K images")
    p.add_argument("--out", required=True, metavar="FILE", help="the plan (JSONL); rejects go to FILE.rejects.jsonl")
    p.set_defaults(run=run_pack)


def _measure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="M", help="model(s) to measure with, a comma list for several (qwen2-vl, qwen2.5-vl, qwen3-vl, qwen-vl)")
    p.add_argument("--min-pixels", type=int, default=None, help="pixel floor per image (default: the checkpoint's)")
    p.add_argument("--max-pixels", type=int, default=None, help="pixel budget per image (default: the checkpoint's)")


def _task(args: argparse.Namespace, models: list[str], max_length: int | None = None):
    from ..datasets.task import RecordTask
    from .data import resolve_dataset

    resolve_dataset(args)
    return RecordTask(
        models=models, fmt=args.format, format_options=args.format_options, root=args.root, max_length=max_length,
        media="header", processor_options=_processor_options(args) or None,
    )  # fmt: skip


def _processor_options(args: argparse.Namespace) -> dict:
    return {k: v for k, v in (("min_pixels", args.min_pixels), ("max_pixels", args.max_pixels)) if v is not None}


def _check_positive(name: str, value) -> None:
    from ..errors import InvalidOptionError

    if value is not None and value < 1:
        raise InvalidOptionError(f"{name} must be a positive number; got {value}")


# --- stats -----------------------------------------------------------------------------------------


def run_stats(args: argparse.Namespace) -> int:
    from ..datasets.runner import run
    from ..datasets.stats import compare, table_rows
    from ..errors import InvalidOptionError
    from .data import models_option, run_options

    models = models_option(args.model)
    if not models:
        raise InvalidOptionError("--model names no model; e.g. --model qwen2-vl or --model qwen2-vl,qwen3-vl")
    _check_positive("--max-length", args.max_length)
    _check_positive("--suggest-max-pixels", args.suggest_max_pixels)
    if not 0 < args.percentile <= 100:
        raise InvalidOptionError(f"--percentile must be in (0, 100]; got {args.percentile}")
    keep = tuple(f"{m}/{kind}_tokens" for m in models for kind in ("text", "visual", "total"))
    if args.suggest_max_pixels is not None:
        keep += ("image_sizes", "n_images", "n_videos")
    task = _task(args, models)  # resolves args.dataset first (a dataset_info.json entry)
    result = run(args.dataset, task, keep_columns=keep, **run_options(args))
    stats = compare(result.columns, models, args.max_length)
    summary = {"records": result.records, "rejected": result.rejected, "by_reason": dict(result.by_reason), "models": [s.to_dict() for s in stats]}
    if args.suggest_max_pixels is not None:
        summary["suggest_max_pixels"] = [
            _suggest(result.columns, model, args.suggest_max_pixels, args.percentile, _processor_options(args)) for model in models
        ]
    if args.histogram:
        from ..datasets.histogram import histogram_png

        title = f"total tokens per sample: {args.dataset}"
        histogram_png({s.model: s.totals for s in stats}, args.histogram, max_length=args.max_length, title=title)
    if args.json:
        emit_json(summary)
    else:
        header, rows = table_rows(stats)
        print(table(rows, header))
        for s in stats:
            if s.records and not s.total.count:
                note(f"{s.model}: no record could be measured; mmtok measures the models whose chat template it writes "
                     "(qwen2-vl, qwen2.5-vl, qwen3-vl, qwen-vl)")  # fmt: skip
            elif s.unmeasurable:
                note(f"{s.model}: {s.unmeasurable:,} of {s.records:,} records could not be measured (left out)")
        for item in summary.get("suggest_max_pixels", []):
            print(_suggest_text(item))
    if result.rejected:
        note(f"{result.rejected:,} of {result.records:,} records have problems ("
             + ", ".join(f"{code} {n:,}" for code, n in result.by_reason.items()) + "); `mmtok data validate` lists them")  # fmt: skip
    if args.histogram:
        note(f"written: {args.histogram}")
    return 1 if result.rejected else 0


def _suggest(columns: dict, model: str, budget: int, percentile: float, options: dict) -> dict:
    """suggest_max_pixels over the records measured for `model`: text tokens = total - visual; video
    tokens (which the image budget does not change) stay as they are."""
    from ..datasets.stats import image_tokens, suggest_max_pixels
    from ..errors import InvalidOptionError
    from ..vision.families import get_family

    text, sizes, other = [], [], []
    base = get_family(model, **options)
    for t, v, size_text, n_images, n_videos in zip(
        columns[f"{model}/text_tokens"], columns[f"{model}/visual_tokens"], columns["image_sizes"], columns["n_images"], columns["n_videos"]
    ):
        image_sizes = [tuple(s) for s in json.loads(size_text)]
        measured = t >= 0 and len(image_sizes) == n_images
        text.append(t if measured else -1)
        sizes.append(image_sizes if measured else [])
        other.append(v - int(image_tokens(base, image_sizes).sum()) if measured and n_videos else 0)
    out = {"model": model, "budget": budget, "percentile": percentile, "samples": sum(t >= 0 for t in text)}
    try:
        out["max_pixels"] = suggest_max_pixels(sizes, text, model, budget, percentile, other_tokens=other, **options)
    except InvalidOptionError as e:
        out["max_pixels"], out["error"] = None, str(e)
    return out


def _suggest_text(item: dict) -> str:
    head = f"{item['model']}: "
    if "error" in item:
        return head + item["error"]
    if item["max_pixels"] is None:
        return head + (f"no max_pixels keeps {item['percentile']:g}% of {item['samples']:,} samples within {item['budget']:,} "
                       "tokens (the text alone is too long); raise the budget or shorten the texts")  # fmt: skip
    return head + f"max_pixels {item['max_pixels']:,} keeps {item['percentile']:g}% of {item['samples']:,} samples within {item['budget']:,} tokens"


# --- pack ------------------------------------------------------------------------------------------


def run_pack(args: argparse.Namespace) -> int:
    from ..datasets.pack import plan_packs
    from ..datasets.runner import run
    from ..errors import InvalidOptionError
    from .data import models_option, run_options

    models = models_option(args.model)
    if len(models) != 1:
        raise InvalidOptionError(f"pack measures with one model; got --model {args.model!r}")
    model = models[0]
    _check_positive("--max-length", args.max_length)
    _check_positive("--max-images-per-pack", args.max_images_per_pack)
    total_key = f"{model}/total_tokens"
    keep = ("line", "ok", "reasons", total_key, "n_images")
    task = _task(args, models, args.max_length)  # resolves args.dataset first
    result = run(args.dataset, task, keep_columns=keep, **run_options(args))
    columns = result.columns
    rejects: dict[int, list[dict]] = {}
    lines, lengths, images = [], [], []
    for line, ok, reasons, total, n_images in zip(*(columns[k] for k in keep)):
        if not ok:
            rejects[line] = json.loads(reasons)
        elif total < 0:
            rejects[line] = [{"code": "unmeasured", "message": f"{model} cannot measure this record (e.g. a URL or a video it cannot read)"}]
        else:
            lines.append(line)
            lengths.append(total)
            images.append(n_images)
    plan = plan_packs(
        lengths, args.max_length, strategy=args.strategy, ids=lines,
        max_images_per_pack=args.max_images_per_pack, image_counts=images if args.max_images_per_pack else None,
    )  # fmt: skip
    for index, code, message in plan.rejected:
        rejects[lines[index]] = [{"code": code, "message": f"{model}: {message}"}]
    plan.write_jsonl(args.out)
    rejects_path = f"{args.out}.rejects.jsonl"
    _write_rejects(args.dataset, rejects, rejects_path)
    summary = {"records": result.records, **plan.summary(), "rejected": len(rejects), "model": model, "out": args.out}
    by_reason: dict[str, int] = {}
    for reasons in rejects.values():
        for code in dict.fromkeys(r["code"] for r in reasons):
            by_reason[code] = by_reason.get(code, 0) + 1
    summary["by_reason"] = by_reason
    if args.json:
        emit_json(summary)
    note(
        f"{result.records:,} records: {summary['packed']:,} in {summary['packs']:,} packs of <= {args.max_length:,} tokens "
        f"({args.strategy}, fill {100 * plan.efficiency:.1f}%), {len(rejects):,} rejected"
        + (" (" + ", ".join(f"{c} {n:,}" for c, n in by_reason.items()) + ")" if by_reason else "")
    )
    note(f"written: {args.out}" + (f", {rejects_path}" if rejects else ""))
    return 1 if rejects else 0


def _write_rejects(dataset: str, rejects: dict[int, list[dict]], path: str) -> None:
    """{"line", "record" (parsed, or the raw text when it does not parse), "reasons"} per rejected
    record, in input order (the records are read again: only the rejected ones are kept)."""
    import os

    from ..datasets.source import iter_raw

    if not rejects:
        if os.path.exists(path):
            os.remove(path)
        return
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        for raw in iter_raw(dataset):
            reasons = rejects.get(raw.line)
            if reasons is None:
                continue
            try:
                record = json.loads(raw.text)
            except ValueError:
                record = raw.text
            f.write(json.dumps({"line": raw.line, "record": record, "reasons": reasons}, ensure_ascii=False) + "\n")
