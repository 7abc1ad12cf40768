"""The per-record work of the dataset commands: parse, read the format, check, measure, convert.

`RecordTask` is called on batches of columns ({"line": [...], "text": [...]}) by the local runner and
by Ray Data's `map_batches` alike, and returns one output row per input row, in order, so no record
is ever lost: a record either passes ("ok") or carries the JSON list of its problems ("reasons").
Every problem of a record is reported; checks that cannot run (no length when a file is missing or
the tags disagree with the media) are skipped. Lengths come from `Measurer` (image headers, the
model's chat template): what `len(input_ids)` of the model's processor is before truncation.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import AspectRatioError, EmptyImageError, ImageTooLargeError, MmtokError
from .checks import _TOOL_ROLES, MediaChecker, check_objects, check_roles, check_tags, check_turns
from .measure import Lengths, Measurer
from .sample import Problem, RecordError, Sample
from .source import RawRecord, parse

MEASURE_COLUMNS = ("text_tokens", "visual_tokens", "total_tokens", "image_pixels")


class RecordTask:
    """Validates (and measures, and converts) records. Picklable; lazy state is rebuilt after unpickling.

    models: models to measure (columns f"{model}/total_tokens", ...); fmt: the dataset format (None:
    detected per record); root: the folder media paths are relative to; max_length: report too_long
    over it (needs models); media: "decode" | "header" | "none"; output_format: convert kept records
    into this format.
    """

    def __init__(
        self,
        *,
        models: list[str] = (),
        fmt: str | None = None,
        format_options: dict | None = None,
        root: str,
        max_length: int | None = None,
        media: str = "decode",
        processor_options: dict | None = None,
        output_format: str | None = None,
        convert_options: dict | None = None,
    ):
        self.models = list(models or ())
        self.fmt, self.format_options = fmt, dict(format_options or {})
        self.root, self.max_length, self.media = root, max_length, media
        self.processor_options = dict(processor_options or {})
        self.output_format = output_format
        #: convert_record's options (model, boxes, bbox_format, min_pixels, max_pixels); model defaults
        #: to the first measured model
        self.convert_options = dict(convert_options or {})
        self.checker = MediaChecker(root, media)
        self.measurers = [Measurer(m, **self.processor_options) for m in self.models]
        self._format = None
        #: model -> why it cannot be measured (None: it can), filled on first use
        self.unmeasurable: dict[str, str | None] = {}
        if fmt is not None:
            self._format = self.format  # fail early on an unknown format name

    def __getstate__(self):
        return {**self.__dict__, "_format": None, "unmeasurable": {}}

    @property
    def format(self):
        if self._format is None and self.fmt is not None:
            from .formats import get_format

            self._format = get_format(self.fmt, **self.format_options)
        return self._format

    def describe(self) -> str:
        """The task's settings as a stable string (what the runner keys resumed runs on)."""
        settings = {
            "models": self.models, "fmt": self.fmt, "format_options": self.format_options, "root": self.checker.root,
            "max_length": self.max_length, "media": self.media, "processor_options": self.processor_options,
            "output_format": self.output_format, "convert_options": self.convert_options,
        }  # fmt: skip
        return json.dumps(settings, sort_keys=True, default=repr)

    def columns(self) -> list[str]:
        """The output column names, in order."""
        cols = ["line", "text", "ok", "reasons", "output"]
        cols += [f"{m}/{c}" for m in self.models for c in MEASURE_COLUMNS]
        return cols + ["image_sizes", "n_images", "n_videos"]

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        lines, texts = list(batch["line"]), list(batch["text"])
        out: dict[str, list] = {c: [] for c in self.columns()}
        for line, text in zip(lines, texts):
            try:
                row = self.record(int(line), str(text))
            except Exception as e:  # a bug, not a bad record: say where
                if hasattr(e, "add_note"):  # Python 3.11+
                    e.add_note(f"while checking the record at line {line}")
                raise
            for c in out:
                out[c].append(row[c])
        return out

    # -- one record ---------------------------------------------------------------------------------

    def record(self, line: int, text: str) -> dict[str, Any]:
        """The output row of one record."""
        row: dict[str, Any] = {"line": line, "text": text, "output": text, "image_sizes": "[]", "n_images": 0, "n_videos": 0}
        for m in self.models:
            row.update({f"{m}/{c}": -1 for c in MEASURE_COLUMNS})
        problems: list[Problem] = []
        try:
            record = parse(RawRecord(line, text))
            fmt = self.format
            if fmt is None:
                from .formats import detect_format

                fmt = detect_format(record)
            sample = fmt.read(record)
        except RecordError as e:
            return self._finish(row, [e.problem])
        row["n_images"], row["n_videos"] = len(sample.images), len(sample.videos)
        problems += check_roles(sample, fmt.name)
        tag_problems = check_tags(sample)
        problems += check_turns(sample) + tag_problems
        media_problems, headers, metas = self._media(sample)
        problems += media_problems
        sizes = [self._size(h) if h is not None else None for h in headers]
        row["image_sizes"] = json.dumps([list(s) for s in sizes if s is not None])
        problems += check_objects(sample, sizes)
        if self.models and not (tag_problems or media_problems) and all(_text_like(m) for m in sample.messages):
            problems += self._measure(sample, sizes, metas, row)
        if self.output_format is not None:
            seen = {p.code for p in problems}  # conversion re-finds some problems (a missing image...)
            problems += [p for p in self._convert(sample, row) if p.code not in seen]
        return self._finish(row, problems)

    def _finish(self, row: dict, problems: list[Problem]) -> dict:
        row["ok"] = not problems
        row["reasons"] = json.dumps([p.to_dict() for p in problems], ensure_ascii=False)
        if problems:
            row["output"] = row["text"]
        return row

    def _media(self, sample: Sample) -> tuple[list[Problem], list, list]:
        problems, headers, metas = [], [], []
        for i, item in enumerate(sample.images):
            found, header = self.checker.image(i, item)
            problems += found
            headers.append(header)
        for i, item in enumerate(sample.videos):
            found, meta = self.checker.video(i, item)
            problems += found
            metas.append(meta)
        return problems, headers, metas

    def _size(self, header) -> tuple[int, int]:
        # the size the processor sees: after EXIF orientation unless the options turn that off
        return header.stored_size if self.processor_options.get("exif_transpose") is False else header.size

    def _measure(self, sample: Sample, sizes: list, metas: list, row: dict) -> list[Problem]:
        # Known sizes and video metadata stand in for the files, so no header is read twice.
        messages = [
            m if isinstance(m["content"], str) else {**m, "content": json.dumps(m["content"], ensure_ascii=False)}
            for m in sample.messages
        ]  # tool turns' JSON contents, as ms-swift dumps them
        measured = Sample(
            messages=messages,
            images=[s if s is not None else item for s, item in zip(sizes, sample.images)],
            videos=[m if m is not None else item for m, item in zip(metas, sample.videos)],
            objects=sample.objects,
            extra=sample.extra,
        )
        problems = []
        for model, measurer in zip(self.models, self.measurers):
            if self._unmeasurable(model, measurer):
                continue
            try:
                lengths = measurer.measure(measured, self.checker.root)
            except (AspectRatioError, EmptyImageError, ImageTooLargeError) as e:  # the processor refuses it
                problems.append(Problem("unprocessable_media", f"{model}: {e}"))
                continue
            except MmtokError:
                continue  # not measurable for this model (no chat template, URL media, ...): -1
            row[f"{model}/text_tokens"], row[f"{model}/visual_tokens"] = lengths.text, lengths.visual
            row[f"{model}/total_tokens"], row[f"{model}/image_pixels"] = lengths.total, lengths.image_pixels
            if self.max_length is not None and lengths.total > self.max_length:
                problems.append(too_long(model, lengths, self.max_length))
        return problems

    def _unmeasurable(self, model: str, measurer: Measurer) -> str | None:
        """Why `model` cannot measure any record (no vocabulary, no chat template), else None; found
        once per process by measuring a text-only conversation."""
        if model not in self.unmeasurable:
            probe = Sample(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
            try:
                measurer.measure(probe)
                self.unmeasurable[model] = None
            except MmtokError as e:
                self.unmeasurable[model] = str(e)
        return self.unmeasurable[model]

    def _convert(self, sample: Sample, row: dict) -> list[Problem]:
        from .convert import convert_record

        try:
            options = {"model": self.models[0] if self.models else None, **self.convert_options}
            converted = convert_record(sample, self.output_format, root=self.checker.root, **options)
        except RecordError as e:
            return [e.problem]
        row["output"] = converted if isinstance(converted, str) else json.dumps(converted, ensure_ascii=False)
        return []


def _text_like(message: dict) -> bool:
    # what can be measured: string contents, and the JSON contents of tool turns
    content = message.get("content")
    return isinstance(content, str) or (message.get("role") in _TOOL_ROLES and isinstance(content, (dict, list)))


def too_long(model: str, lengths: Lengths, max_length: int) -> Problem:
    """The too_long problem: the length, max_length, and what a right cut at max_length would cut."""
    cut = lengths.cut_inside(max_length)
    if cut is not None:
        kind, index = cut
        start, end = next((s, e) for k, i, s, e in lengths.media_spans if (k, i) == (kind, index))
        where = f"falls inside {kind} {index + 1} (tokens {start}-{end - 1})"
    else:
        where = "falls in text"
    dropped = [f"{k} {i + 1}" for k, i, s, _ in lengths.media_spans if s >= max_length]
    if dropped:
        shown = ", ".join(dropped[:3]) + (f" and {len(dropped) - 3} more" if len(dropped) > 3 else "")
        where += f" and drops {shown} after it"
    return Problem(
        "too_long",
        f"{model}: {lengths.total:,} tokens ({lengths.text:,} text + {lengths.visual:,} visual) is over max_length "
        f"{max_length:,}; the cut at {max_length} {where}; raise max_length to at least {lengths.total}, lower "
        "max_pixels, shorten the text, or drop the record",
    )


__all__ = ["MEASURE_COLUMNS", "RecordTask", "too_long"]
