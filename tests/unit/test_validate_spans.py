"""validate_file's edges, pinned exactly: the line-length limit, spans and workers, error
budgets, unreadable files. (tests/unit/test_validate.py covers the messages row by row.)"""

from __future__ import annotations

import json
import os

import pytest

import psych_plugin.dataset.validate as v
from psych_plugin.problems import UsageError

ROW = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def write(tmp_path, lines: list[str]):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_line_length_limit_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(v, "MAX_LINE_BYTES", 100)
    base = json.dumps(ROW)
    fits = base[:-1] + " " * (100 - len(base)) + "}"  # exactly 100 bytes, valid JSON
    over = base[:-1] + " " * (101 - len(base)) + "}"
    report = v.validate_file(write(tmp_path, [fits, over]), workers=1)
    assert len(fits) == 100 and report.rows == 2 and report.valid_rows == 1
    [problem] = report.problems
    assert (problem.line, problem.message) == (
        2,
        "line is 101 bytes, over the 100-byte limit for one row",
    )


def test_spans_are_cut_at_about_span_bytes(tmp_path, monkeypatch):
    path = write(tmp_path, [json.dumps(ROW)] * 300)
    size = path.stat().st_size
    monkeypatch.setattr(v, "SPAN_BYTES", 2000)
    seen: list[int] = []
    report = v.validate_file(path, workers=1, progress=seen.append)
    assert report.rows == report.valid_rows == 300 and report.path == str(path)
    assert sum(seen) == size
    # one progress step per span of about 2,000 bytes (cut at line starts)
    assert len(seen) == -(-size // 2000)
    assert v._split_points(path, 3)[0] == 0 and len(v._split_points(path, 3)) == 3


def test_several_workers_split_even_a_small_file(tmp_path, monkeypatch):
    path = write(tmp_path, [json.dumps(ROW)] * 50)
    # Below PARALLEL_MIN_BYTES one span: starting workers would cost more than it saves.
    seen_small: list[int] = []
    v.validate_file(path, workers=2, progress=seen_small.append)
    assert len(seen_small) == 1
    monkeypatch.setattr(v, "PARALLEL_MIN_BYTES", 1)
    seen: list[int] = []
    report = v.validate_file(path, workers=2, progress=seen.append)
    assert report.rows == 50 and len(seen) == 2 and sum(seen) == path.stat().st_size


def test_max_errors_across_spans_keeps_exactly_that_many(tmp_path, monkeypatch):
    bad = json.dumps({**ROW, "output": ""})
    path = write(tmp_path, [bad] * 40)
    monkeypatch.setattr(v, "SPAN_BYTES", 500)
    monkeypatch.setattr(v, "PARALLEL_MIN_BYTES", 1)
    for workers in (1, 2):
        report = v.validate_file(path, max_errors=3, workers=workers)
        assert [p.line for p in report.problems] == [1, 2, 3]


@pytest.mark.parametrize(
    ("cpus", "expected"), [({0}, 1), ({0, 1}, 2), (set(range(8)), 4), (set(), 1)]
)
def test_default_workers_are_the_usable_cores_up_to_four(monkeypatch, cpus, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: cpus, raising=False)
    assert v.default_workers() == expected


def test_default_workers_without_affinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert v.default_workers() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert v.default_workers() == 3


def test_deep_nesting_and_read_errors_are_one_line(tmp_path, monkeypatch):
    assert v.parse_line(b"[" * 100_000) == (None, "invalid JSON: nested too deeply")
    path = write(tmp_path, [json.dumps(ROW)])

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(v, "iter_lines", refuse)
    with pytest.raises(UsageError) as err:
        v.validate_file(path, workers=1)
    assert str(err.value) == f"{path}: Permission denied"
