"""The runner: every record ends in clean.jsonl or rejects.jsonl, in input order, with any number of
workers, and an interrupted run (KeyboardInterrupt, or a real SIGKILL) resumes without duplicates or
drops. The truth is planted by the dataset generator below, not taken from the runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from io import StringIO

import pytest

from mmtok.datasets.progress import Progress, count_lines
from mmtok.datasets.runner import OutputDirError, run
from mmtok.datasets.source import DatasetFileError
from mmtok.errors import InvalidOptionError


class FlagTask:
    """A task following the runner's output-column contract: a line that is not a JSON object is
    bad_json, a record with "flag": true is bad_format, the rest are kept unchanged. `delay` (seconds
    per batch) and `interrupt_after` (batches) shape the run, not the output, so describe() leaves
    them out: a slow or interrupted run resumes as the same task."""

    def __init__(self, delay: float = 0.0, interrupt_after: int | None = None):
        self.delay, self.interrupt_after, self.calls = delay, interrupt_after, 0

    def describe(self) -> str:
        return "flag-task/1"

    def __call__(self, batch: dict) -> dict:
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        if self.delay:
            time.sleep(self.delay)
        out = {"line": list(batch["line"]), "text": list(batch["text"]), "ok": [], "reasons": [], "output": [], "chars": []}
        for text in out["text"]:
            try:
                record = json.loads(text)
                problems = [] if isinstance(record, dict) else [{"code": "bad_json", "message": "not an object"}]
            except ValueError as e:
                record, problems = None, [{"code": "bad_json", "message": str(e)}]
            if isinstance(record, dict) and record.get("flag"):
                problems.append({"code": "bad_format", "message": f"record {record['i']} is flagged"})
            out["ok"].append(not problems)
            out["reasons"].append(json.dumps(problems))
            out["output"].append(text)
            out["chars"].append(len(text))
        return out


def make_dataset(path, n: int) -> dict:
    """A JSONL file of n records with planted truth: every 11th line is broken JSON, every 7th record
    is flagged, every 50th line is blank (not a record), one line holds a JSON list."""
    truth = {"lines": [], "clean": [], "rejected": {}, "texts": {}}
    with open(path, "w", encoding="utf-8") as f:
        line = 0
        for i in range(n):
            line += 1
            if line % 50 == 0:
                f.write("\n")
                line += 1
            if i % 11 == 3:
                text = '{"i": %d, "broken": ' % i
                truth["rejected"][line] = ("bad_json", text)
            elif i == 5:
                text = "[1, 2]"
                truth["rejected"][line] = ("bad_json", [1, 2])
            else:
                record = {"i": i, "flag": i % 7 == 0, "caption": f"photo number {i} ünïcode"}
                text = json.dumps(record, ensure_ascii=False)
                if record["flag"]:
                    truth["rejected"][line] = ("bad_format", record)
                else:
                    truth["clean"].append(text)
            f.write(text + "\n")
            truth["lines"].append(line)
            truth["texts"][line] = text
    return truth


def read_lines(path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def check_outputs(out_dir, truth: dict) -> None:
    assert read_lines(out_dir / "clean.jsonl") == truth["clean"]
    rejects = [json.loads(line) for line in read_lines(out_dir / "rejects.jsonl")]
    assert [r["line"] for r in rejects] == sorted(truth["rejected"])
    for r in rejects:
        code, record = truth["rejected"][r["line"]]
        assert [p["code"] for p in r["reasons"]] == [code]
        assert r["record"] == record  # raw text when it does not parse, else the parsed value
    # every input record is in exactly one of the two files
    clean_lines = [line for line in truth["lines"] if line not in truth["rejected"]]
    assert len(clean_lines) + len(rejects) == len(truth["lines"])
    assert [truth["texts"][line] for line in clean_lines] == truth["clean"]


def test_two_workers_keep_order_and_every_record(tmp_path):
    truth = make_dataset(tmp_path / "data.jsonl", 600)
    one = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "one", batch_size=16, keep_columns=("line", "chars"))
    two = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "two", workers=2, batch_size=16, keep_columns=("line", "chars"))
    for result, out in ((one, tmp_path / "one"), (two, tmp_path / "two")):
        check_outputs(out, truth)
        assert result.records == 600
        assert result.clean == len(truth["clean"])
        assert result.rejected == len(truth["rejected"])
        codes = [code for code, _ in truth["rejected"].values()]
        assert result.by_reason == {code: codes.count(code) for code in set(codes)}
        assert result.columns["line"] == truth["lines"]
        assert result.columns["chars"] == [len(truth["texts"][line]) for line in truth["lines"]]
        assert result.resumed_from == 0
    for name in ("clean.jsonl", "rejects.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    # without out_dir: the same counts, nothing written
    bare = run(tmp_path / "data.jsonl", FlagTask(), workers=2, batch_size=64)
    assert bare.to_dict() == two.to_dict() and bare.out_dir is None


def test_json_array_and_undecodable_bytes(tmp_path):
    records = [{"i": 0}, {"i": 1, "flag": True}, {"i": 2}]
    (tmp_path / "data.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    result = run(tmp_path / "data.json", FlagTask(), out_dir=tmp_path / "out", keep_columns=("line",))
    assert result.columns["line"] == [2, 3, 4]
    assert read_lines(tmp_path / "out" / "clean.jsonl") == [json.dumps(records[0]), json.dumps(records[2])]
    assert json.loads(read_lines(tmp_path / "out" / "rejects.jsonl")[0])["record"] == records[1]
    # a kept line with bytes that are not UTF-8 goes out byte for byte; a rejected one as valid JSON
    raw = b'{"i": 0, "caption": "caf\xe9"}\n{"i": 1, "flag": true, "caption": "\xff"}\n'
    (tmp_path / "latin.jsonl").write_bytes(raw)
    run(tmp_path / "latin.jsonl", FlagTask(), out_dir=tmp_path / "latin")
    assert (tmp_path / "latin" / "clean.jsonl").read_bytes() == raw.split(b"\n")[0] + b"\n"
    rejected = json.loads((tmp_path / "latin" / "rejects.jsonl").read_text(encoding="ascii"))
    assert rejected["line"] == 2 and rejected["record"]["flag"] is True


def test_resume_after_keyboard_interrupt(tmp_path):
    truth = make_dataset(tmp_path / "data.jsonl", 300)
    reference = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "ref", batch_size=10, keep_columns=("line",))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "data.jsonl", FlagTask(interrupt_after=12), out_dir=tmp_path / "out", batch_size=10, keep_columns=("line",))
    state = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert state["records"] == 120 and not state["done"]
    # lines written after the last checkpoint (a crash between the write and progress.json) are dropped
    with open(tmp_path / "out" / "clean.jsonl", "a") as f:
        f.write('{"half": "a line the checkpoint does not count"}\n')
    resumed = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "out", batch_size=10, keep_columns=("line",))
    assert resumed.resumed_from == 120
    assert resumed.to_dict() == reference.to_dict()
    assert resumed.columns == reference.columns  # kept columns cover the earlier run's records too
    for name in ("clean.jsonl", "rejects.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    check_outputs(tmp_path / "out", truth)
    # a finished run is not redone; --no-resume starts over
    assert run(tmp_path / "data.jsonl", FlagTask(interrupt_after=0), out_dir=tmp_path / "out", keep_columns=("line",)).resumed_from == 300
    again = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "out", resume=False, batch_size=64)
    assert again.resumed_from == 0 and again.to_dict() == reference.to_dict()
    assert not (tmp_path / "out" / "columns.jsonl").exists()


def test_resume_after_sigkill(tmp_path):
    """A real crash: a run in another process is killed with SIGKILL mid-run, then rerun here."""
    make_dataset(tmp_path / "data.jsonl", 3000)
    reference = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "ref", batch_size=10)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from {FlagTask.__module__} import FlagTask
        from mmtok.datasets.runner import run
        run({str(tmp_path / "data.jsonl")!r}, FlagTask(delay=0.02), out_dir={str(tmp_path / "out")!r}, batch_size=10, workers=2)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    progress, done = tmp_path / "out" / "progress.json", 0
    deadline = time.monotonic() + 60
    while done < 400 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
        try:
            done = json.loads(progress.read_text())["records"]
        except (OSError, ValueError):
            pass
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    resumed = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "out", batch_size=10)
    assert 400 <= resumed.resumed_from < 3000
    assert resumed.to_dict() == reference.to_dict()
    for name in ("clean.jsonl", "rejects.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


class OtherTask(FlagTask):
    def describe(self) -> str:
        return "other-task/1"


def test_other_task_starts_over_and_foreign_files_are_kept(tmp_path):
    truth = make_dataset(tmp_path / "data.jsonl", 100)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "data.jsonl", FlagTask(interrupt_after=3), out_dir=tmp_path / "out", batch_size=10)
    result = run(tmp_path / "data.jsonl", OtherTask(), out_dir=tmp_path / "out", batch_size=10)
    assert result.resumed_from == 0
    check_outputs(tmp_path / "out", truth)
    # a changed dataset is not resumed either
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "data.jsonl", FlagTask(interrupt_after=3), out_dir=tmp_path / "out", batch_size=10)
    truth = make_dataset(tmp_path / "data.jsonl", 90)
    assert run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "out").resumed_from == 0
    check_outputs(tmp_path / "out", truth)
    # files mmtok did not write are never overwritten
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "clean.jsonl").write_text("precious\n")
    with pytest.raises(OutputDirError, match="clean.jsonl but no progress.json"):
        run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "theirs")
    assert (tmp_path / "theirs" / "clean.jsonl").read_text() == "precious\n"


def test_bad_options(tmp_path):
    make_dataset(tmp_path / "data.jsonl", 5)
    with pytest.raises(InvalidOptionError, match="engine"):
        run(tmp_path / "data.jsonl", FlagTask(), engine="spark")
    with pytest.raises(InvalidOptionError, match="batch_size"):
        run(tmp_path / "data.jsonl", FlagTask(), batch_size=0)
    with pytest.raises(DatasetFileError, match="no such dataset file"):
        run(tmp_path / "missing.jsonl", FlagTask())

    def lossy(batch):
        return {"line": batch["line"][:-1], "text": batch["text"][:-1], "ok": [], "reasons": [], "output": []}

    with pytest.raises(ValueError, match="differ in length"):
        run(tmp_path / "data.jsonl", lossy)


def test_progress_bar(tmp_path, capfd):
    make_dataset(tmp_path / "data.jsonl", 120)  # 120 records + 2 blank lines
    assert count_lines(tmp_path / "data.jsonl") == 122
    assert count_lines(tmp_path / "data.json") is None
    stream = StringIO()
    bar = Progress(total=200, enabled=True, stream=stream)
    bar._drawn = 0  # draw on this update
    bar.update(50)
    assert stream.getvalue().startswith("\r50/200 records (25%) ") and " ETA " in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\r")
    assert not Progress(enabled=None, stream=StringIO()).enabled  # not a terminal
    # progress=None under pytest: stderr is not a terminal, so the run prints nothing
    capfd.readouterr()
    run(tmp_path / "data.jsonl", FlagTask(), batch_size=10)
    assert capfd.readouterr().err == ""
