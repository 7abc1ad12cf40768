"""Options shared by several commands."""

from __future__ import annotations

import argparse


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="qwen2-vl", help="model family (default: qwen2-vl); for count also 'all' or a comma list (see `mmtok models`)"
    )
    parser.add_argument("--min-pixels", type=int, default=None, help="pixel floor per image (default: the checkpoint's)")
    parser.add_argument("--max-pixels", type=int, default=None, help="pixel budget per image (default: the checkpoint's)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a family option, e.g. detail=low (gpt-4o), media_resolution=low (gemini-3), pan_and_scan=true "
        "(gemma3); repeatable; see `mmtok models`",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    video = parser.add_argument_group("videos (Qwen2-VL, Qwen2.5-VL, Qwen3-VL)")
    video.add_argument(
        "--sampling",
        choices=("qwen-vl-utils", "transformers"),
        default=None,
        help="frame sampling and sizing: qwen-vl-utils (default: what Qwen's own code feeds the models) or "
        "transformers (what processor(videos=...) does)",
    )
    video.add_argument("--fps", type=float, default=None, help="frames sampled per second (default 2)")
    video.add_argument("--nframes", type=int, default=None, help="sample exactly this many frames instead of --fps")
    video.add_argument("--video-min-pixels", type=int, default=None, help="pixel floor per video frame")
    video.add_argument("--video-max-pixels", type=int, default=None, help="pixel budget per video frame (Qwen3-VL transformers mode: over frames x height x width)")
    video.add_argument("--total-pixels", type=int, default=None, help="qwen-vl-utils: pixel budget of the whole video")
    video.add_argument(
        "--video-layout",
        choices=("transformers", "qwen"),
        default=None,
        help="Qwen3-VL: how timestamped frame groups sit in the text (default transformers 5.23; qwen = 4.57/vLLM)",
    )


def add_workers_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help=f"{what} on N cores at once (0: every core; default 1); same output"
    )


def _value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def family_options(args: argparse.Namespace) -> dict:
    from ..errors import InvalidOptionError

    options = {}
    for item in getattr(args, "option", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidOptionError(f"--option takes KEY=VALUE (e.g. detail=low); got {item!r}")
        options[key.strip().replace("-", "_")] = _value(value.strip())
    if args.min_pixels is not None:
        options["min_pixels"] = args.min_pixels
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    if getattr(args, "sampling", None):
        options["sampling"] = args.sampling
    if getattr(args, "video_layout", None):
        options["video_layout"] = args.video_layout
    video = {
        "fps": getattr(args, "fps", None),
        "nframes": getattr(args, "nframes", None),
        "min_pixels": getattr(args, "video_min_pixels", None),
        "max_pixels": getattr(args, "video_max_pixels", None),
        "total_pixels": getattr(args, "total_pixels", None),
    }
    video = {k: v for k, v in video.items() if v is not None}
    if video:
        options["video_options"] = video
    return options
