"""Datasets with planted faults, for testing `mmtok data validate` against a known truth.

`make_faulty_dataset(directory, n_records, seed, fmt)` writes real media (Pillow images, PyAV
videos, broken copies of them) and a JSONL dataset in which chosen lines carry chosen faults, and
returns the dataset's path and the truth {line: {reason codes}} (clean lines are absent). The truth
assumes the checks run with media="decode" and, for "too_long", a model measured with
max_length=MAX_LENGTH; `truth.variants` tells which variant of a fault each line holds, for runs
that cannot see some of them (media="header" does not decode, media="none" opens no file).

Layout under `directory`: outside.jpg (outside the dataset root, for path escapes) and data/ (the
root): dataset.jsonl, img/ (good images, some in subfolders, one symlink out of the root), bad/
(truncated and garbage images), vid/ (good, cut, garbage and audio-only videos).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np

MAX_LENGTH = 1024
FORMATS = ("swift", "sharegpt", "llava")

GOOD_IMAGES = {  # path: (height, width)
    "img/a.jpg": (240, 320),
    "img/b.png": (300, 200),
    "img/sub/c.jpg": (128, 128),
    "img/sub/deep/d.webp": (90, 400),
}
BIG_IMAGE = ("img/big.jpg", (900, 900))
GOOD_VIDEOS = ("vid/clip.mp4", "vid/sub/clip.mkv")
WORDS = "the a cat dog sits on mat red blue house tree car runs fast slow big small 猫 犬 café naïve".split()


def _image(path: Path, size, seed: int, mode: str = "RGB") -> None:
    from PIL import Image

    h, w = size
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None] + rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(base.astype(np.uint8)).convert(mode).save(path, quality=85) if path.suffix == ".jpg" else Image.fromarray(
        base.astype(np.uint8)
    ).convert(mode).save(path)


def _video(path: Path, frames: int = 20, w: int = 96, h: int = 64) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), i * 10, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_media(directory: str | os.PathLike) -> Path:
    """Write the media files; returns the dataset root (directory/data)."""
    directory = Path(directory)
    root = directory / "data"
    if (root / "vid" / "audio.mkv").exists():
        return root
    for i, (rel, size) in enumerate(GOOD_IMAGES.items()):
        _image(root / rel, size, i)
    _image(root / BIG_IMAGE[0], BIG_IMAGE[1], 9)
    _image(directory / "outside.jpg", (50, 60), 10)
    os.symlink(os.path.join("..", "..", "outside.jpg"), root / "img" / "link.jpg")
    (root / "bad").mkdir()
    data = (root / "img/a.jpg").read_bytes()
    (root / "bad/truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    data = (root / "img/b.png").read_bytes()
    (root / "bad/truncated.png").write_bytes(data[: len(data) // 2])
    (root / "bad/garbage.jpg").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    for rel in GOOD_VIDEOS:
        _video(root / rel)
    data = (root / GOOD_VIDEOS[0]).read_bytes()
    (root / "vid/cut.mp4").write_bytes(data[: len(data) // 2])
    (root / "vid/garbage.mp4").write_bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _audio_only(root / "vid/audio.mkv")
    return root


# --- records, in the canonical (ms-swift) form: (messages, images, videos, objects) ---------------


def _text(rng: random.Random, lo: int = 3, hi: int = 25) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _u(content):
    return {"role": "user", "content": content}


def _a(content):
    return {"role": "assistant", "content": content}


def _clean(rng: random.Random, fmt: str, root: Path) -> dict:
    imgs = list(GOOD_IMAGES)
    kinds = ["image", "multi", "system_multiturn", "video", "video_image", "text", "tag_only", "inside_abs", "dotdot_inside"]
    if fmt == "swift":
        kinds += ["ground_real", "ground_norm1000", "ground_norm1", "ground_point", "tools", "user_user", "trailing_user", "dict_image"]
    kind = rng.choice(kinds)
    r = {"messages": [], "images": [], "videos": []}
    if kind == "image":
        r["messages"] = [_u("<image>" + _text(rng)), _a(_text(rng))]
        r["images"] = [rng.choice(imgs)]
    elif kind == "multi":
        r["images"] = rng.sample(imgs, 3)
        r["messages"] = [_u("Compare <image> and <image>\n\nwith <image>. " + _text(rng)), _a(_text(rng))]
    elif kind == "system_multiturn":
        r["images"] = [rng.choice(imgs), rng.choice(imgs)]
        r["messages"] = [{"role": "system", "content": "You are helpful. " + _text(rng)}, _u("<image>" + _text(rng)), _a(_text(rng)), _u(_text(rng) + " <image>"), _a(_text(rng))]
    elif kind == "video":
        r["videos"] = [rng.choice(GOOD_VIDEOS)]
        r["messages"] = [_u("<video>" + _text(rng)), _a(_text(rng))]
    elif kind == "video_image":
        r["videos"], r["images"] = [rng.choice(GOOD_VIDEOS)], [rng.choice(imgs)]
        r["messages"] = [_u("<image><video>" + _text(rng)), _a(_text(rng))]
    elif kind == "text":
        r["messages"] = [_u(_text(rng)), _a(_text(rng)), _u(_text(rng)), _a(_text(rng))]
    elif kind == "tag_only":  # a message holding only a media tag is not empty
        r["images"] = [rng.choice(imgs)]
        r["messages"] = [_u("<image>"), _a(_text(rng))]
    elif kind == "inside_abs":
        r["images"] = [str(root / rng.choice(imgs))]
        r["messages"] = [_u("<image>" + _text(rng)), _a(_text(rng))]
    elif kind == "dotdot_inside":
        r["images"] = ["../data/" + rng.choice(imgs)]
        r["messages"] = [_u("<image>" + _text(rng)), _a(_text(rng))]
    elif kind.startswith("ground"):
        r["images"] = ["img/a.jpg", "img/b.png"]  # (240, 320) and (300, 200)
        r["messages"] = [_u("<image><image>Find the <ref-object> and the <ref-object>"), _a("<bbox> and <bbox>")]
        objects = {"ref": ["cat", "dog"], "bbox": [[10, 20, 300, 230], [0, 0, 200, 300]], "image_id": [0, 1]}
        if kind == "ground_norm1000":
            objects.update(bbox=[[0, 0, 1000, 1000], [100.5, 200, 300, 400.25]], bbox_type="norm1000")
        elif kind == "ground_norm1":
            objects.update(bbox=[[0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]], bbox_type="norm1")
        elif kind == "ground_point":
            r["messages"] = [_u("<image><image>Click the two buttons."), _a("click <bbox> then <bbox>")]
            objects = {"ref": [], "bbox": [[320, 240], [5.5, 7]], "bbox_type": "real"}
        r["objects"] = objects
    elif kind == "tools":
        r["messages"] = [_u(_text(rng)), {"role": "tool_call", "content": '{"name": "f", "arguments": {}}'},
                         {"role": "tool_response", "content": '{"ok": true}'}, _a(_text(rng))]  # fmt: skip
    elif kind == "user_user":  # ms-swift merges consecutive user turns
        r["images"] = [rng.choice(imgs)]
        r["messages"] = [_u("<image>" + _text(rng)), _u(_text(rng)), _a(_text(rng))]
    elif kind == "trailing_user":  # ms-swift gives a trailing user turn an empty response
        r["messages"] = [_u(_text(rng)), _a(_text(rng)), _u(_text(rng))]
    elif kind == "dict_image":
        r["images"] = [{"path": rng.choice(imgs)}]
        r["messages"] = [_u("<image>" + _text(rng)), _a(_text(rng))]
    return r


FAULTS = {
    "bad_json": ("truncated", "array", "words", "string"),
    "bad_format": ("not_list", "images_int", "turn_not_dict"),
    "bad_roles": ("unknown", "system_middle", "no_assistant", "assistant_first", "odd_pair"),
    "empty_turn": ("empty_answer", "blank_question", "null"),
    "tag_mismatch": ("two_tags", "no_tag", "video_tag"),
    "missing_media": ("image", "video"),
    "corrupt_media": ("truncated_jpg", "truncated_png", "garbage"),
    "video_unreadable": ("cut", "garbage", "audio_only"),
    "path_escape": ("dotdot", "absolute", "symlink"),
    "bad_bbox": ("len3", "not_number", "reversed", "real_range", "norm1_range", "norm1000_range", "bbox_type", "more_bbox_tags", "more_ref_tags", "image_id"),
    "too_long": ("text", "cut_in_image"),
    "combo": ("missing_and_empty", "mismatch_and_roles", "corrupt_and_bbox"),
}
NOT_IN = {  # faults a format cannot hold
    "sharegpt": {("bad_bbox", None), ("combo", "corrupt_and_bbox"), ("bad_roles", "odd_pair")},
    "llava": {("bad_bbox", None), ("combo", "corrupt_and_bbox"), ("bad_roles", "odd_pair"), ("bad_format", "images_int")},
}


def _faulty(rng: random.Random, fmt: str, directory: Path, code: str, variant: str):
    """(record or raw text, codes)."""
    r = {"messages": [_u("<image>" + _text(rng)), _a(_text(rng))], "images": ["img/a.jpg"], "videos": []}
    codes = {code}
    if code == "bad_json":
        return {"truncated": '{"messages": [{"role": "user", "content": "hi"}', "array": "[1, 2, 3]", "words": "not json at all", "string": '"a string"'}[variant], codes
    if code == "bad_format":
        if variant == "not_list":
            return {"swift": {"messages": "hello"}, "sharegpt": {"conversations": "hello"}, "llava": {"conversations": "hello"}}[fmt], codes
        if variant == "images_int":
            r["images"] = 5
        else:
            r["messages"].insert(0, "just a string")
    elif code == "bad_roles":
        if variant == "unknown":
            r["messages"][1]["role"] = "bot"
        elif variant == "system_middle":
            r["messages"] += [{"role": "system", "content": "late"}, _u(_text(rng)), _a(_text(rng))]
        elif variant == "no_assistant":
            r["messages"] = r["messages"][:1]
        elif variant == "assistant_first":
            r["messages"].insert(0, _a(_text(rng)))
        elif variant == "odd_pair":  # a tool response where the assistant's answer belongs
            r["messages"].insert(1, {"role": "tool_response", "content": "{}"})
    elif code == "empty_turn":
        if variant == "empty_answer":
            r["messages"][1]["content"] = ""
        elif variant == "blank_question":
            r["messages"] = [_u(" \n\t "), _a(_text(rng)), _u("<image>" + _text(rng)), _a(_text(rng))]
        else:
            r["messages"] = [_u("<image>" + _text(rng)), _a(None)]
    elif code == "tag_mismatch":
        if variant == "two_tags":
            r["messages"][0]["content"] = "<image><image>" + _text(rng)
        elif variant == "no_tag":
            r["messages"][0]["content"] = _text(rng)
        else:
            r["messages"][0]["content"] += " <video>"
    elif code == "missing_media":
        if variant == "image":
            r["images"] = ["img/sub/missing.jpg"]
        else:
            r["videos"] = ["vid/missing.mp4"]
            r["messages"][0]["content"] += "<video>"
    elif code == "corrupt_media":
        r["images"] = [{"truncated_jpg": "bad/truncated.jpg", "truncated_png": "bad/truncated.png", "garbage": "bad/garbage.jpg"}[variant]]
    elif code == "video_unreadable":
        r["videos"] = [{"cut": "vid/cut.mp4", "garbage": "vid/garbage.mp4", "audio_only": "vid/audio.mkv"}[variant]]
        r["messages"][0]["content"] += "<video>"
    elif code == "path_escape":
        r["images"] = ["img/a.jpg", {"dotdot": "../outside.jpg", "absolute": str(directory / "outside.jpg"), "symlink": "img/link.jpg"}[variant]]
        r["messages"][0]["content"] += "<image>"
    elif code == "bad_bbox":
        r["images"] = ["img/a.jpg", "img/b.png"]  # (240, 320) and (300, 200)
        r["messages"] = [_u("<image><image>Find the <ref-object>"), _a("<bbox>")]
        box, objects = [10, 20, 100, 120], {"ref": ["cat"]}
        box = {"len3": [1, 2, 3], "not_number": [1, "2", 3, 4], "reversed": [100, 20, 10, 120], "real_range": [10, 20, 321, 120],
               "norm1_range": [0.1, 0.2, 1.5, 0.9], "norm1000_range": [0, 0, 1001, 10]}.get(variant, box)  # fmt: skip
        objects["bbox_type"] = {"norm1_range": "norm1", "norm1000_range": "norm1000", "bbox_type": "pixels"}.get(variant, "real")
        if variant == "more_bbox_tags":
            r["messages"][1]["content"] = "<bbox> and <bbox>"
        elif variant == "more_ref_tags":
            r["messages"][0]["content"] += " and the <ref-object>"
        elif variant == "image_id":
            objects["image_id"] = [2]
        objects["bbox"] = [box]
        r["objects"] = objects
    elif code == "too_long":
        if variant == "text":
            r["messages"][1]["content"] = " ".join(["word"] * (MAX_LENGTH + 200))
        else:  # text up to near max_length, then an image whose tokens straddle it
            r["messages"][0]["content"] = " ".join(["word"] * (MAX_LENGTH - 300)) + "<image>"
            r["images"] = [BIG_IMAGE[0]]
    elif code == "combo":
        if variant == "missing_and_empty":
            r["images"], r["messages"][1]["content"] = ["img/gone.png"], "  "
            codes = {"missing_media", "empty_turn"}
        elif variant == "mismatch_and_roles":
            r["messages"] = [_a("hi"), _u("<image><image>" + _text(rng)), _a(_text(rng))]
            codes = {"tag_mismatch", "bad_roles"}
        else:
            r["images"], r["objects"] = ["bad/garbage.jpg"], {"ref": ["x"], "bbox": [[1, 2, 3]]}
            r["messages"] = [_u("<image><ref-object>"), _a("<bbox>")]
            codes = {"corrupt_media", "bad_bbox"}
    return r, codes


# --- writing in each format -------------------------------------------------------------------------

_FROM = {"user": "human", "assistant": "gpt", "system": "system", "tool_response": "observation", "tool_call": "function_call"}


def _write(r, fmt: str):
    if isinstance(r, str):
        return r
    if fmt == "swift" or "messages" not in r or not isinstance(r["messages"], list):
        out = {k: v for k, v in r.items() if v != [] or k == "messages"}
        return json.dumps(out, ensure_ascii=False)
    turns = [{"from": _FROM.get(m["role"], m["role"]), "value": m["content"]} if isinstance(m, dict) else m for m in r["messages"]]
    out: dict = {}
    if fmt == "sharegpt":
        if turns and isinstance(turns[0], dict) and turns[0]["from"] == "system":
            out["system"] = turns.pop(0)["value"]
        out["conversations"] = turns
        if r.get("images"):
            out["images"] = r["images"]
        if r.get("videos"):
            out["videos"] = r["videos"]
    else:
        out["id"] = "x"
        images = r.get("images") or []
        if images:
            out["image"] = images[0] if len(images) == 1 else images
        if r.get("videos"):
            out["video"] = r["videos"][0] if len(r["videos"]) == 1 else r["videos"]
        out["conversations"] = turns
    return json.dumps(out, ensure_ascii=False)


class Truth(dict):
    """{line: set of reason codes}; `.variants` says which fault was planted: {line: (kind, variant)}."""

    def __init__(self):
        super().__init__()
        self.variants: dict[int, tuple[str, str]] = {}


def make_faulty_dataset(directory, n_records: int, seed: int, fmt: str = "swift", fault_rate: float = 0.25):
    """Write a dataset of `n_records` JSONL records in `fmt` ("swift", "sharegpt" or "llava") with
    faults planted at random lines. Returns (dataset path, {line: set of reason codes})."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}")
    directory = Path(directory)
    root = make_media(directory)
    rng = random.Random(seed)
    excluded = NOT_IN.get(fmt, set())
    choices = [(c, v) for c, vs in FAULTS.items() for v in vs if (c, v) not in excluded and (c, None) not in excluded]
    truth = Truth()
    lines = []
    forced = list(choices)  # every fault kind at least once when there is room
    rng.shuffle(forced)
    for line in range(1, n_records + 1):
        if forced and (n_records - line < len(forced) or rng.random() < fault_rate):
            code, variant = forced.pop() if forced else rng.choice(choices)
        elif rng.random() < fault_rate:
            code, variant = rng.choice(choices)
        else:
            lines.append(_write(_clean(rng, fmt, root), fmt))
            continue
        record, codes = _faulty(rng, fmt, directory, code, variant)
        lines.append(_write(record, fmt))
        truth[line] = codes
        truth.variants[line] = (code, variant)
    path = root / f"dataset-{fmt}-{seed}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, truth
