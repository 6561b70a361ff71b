"""psych_plugin/dataset/validate.py and `psych validate`: every bad case gives the exit code, the
line and the field; never a traceback, never a write to the file it reads. validate_file's edges
pinned exactly (line-length limit, spans and workers, error budgets, unreadable files), and
arbitrary bytes or JSON values never crash it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import psych_plugin.dataset.validate as v
from psych_plugin.cli import main
from psych_plugin.dataset.schema import load_schema
from psych_plugin.problems import UsageError
from tests.conftest import run_cli

GOOD = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def good(**changes: object) -> str:
    row = {**GOOD, **changes}
    return json.dumps({k: v for k, v in row.items() if v is not ...})


def validate(tmp_path: Path, content: bytes | str, *flags: str, capsys) -> tuple[int, str]:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    before = path.read_bytes()
    code = main(["validate", str(path), *flags])
    out = capsys.readouterr()
    assert path.read_bytes() == before  # never writes to what it reads
    # (An exception would fail the test by itself; tracebacks of a real process are checked in
    # tests/unit/cli/test_common.py.)
    return code, out.out.replace(str(path), "F")


def test_valid_file(tmp_path, capsys):
    code, out = validate(
        tmp_path, good() + "\n" + good(category="theory", source="x") + "\n", capsys=capsys
    )
    assert code == 0
    assert "ok: 1 file(s), 2 row(s), 0 error(s), 0 warning(s)" in out


@pytest.mark.parametrize(
    ("line2", "field", "message"),
    [
        ('{"instruction": "x", "input": "", "output": "y"', "-", "truncated JSON"),
        ('{"instruction": "x" "input": ""}', "-", "invalid JSON: Expecting ',' delimiter"),
        ('"just a string"', "-", "expected a JSON object, got a string"),
        ("42", "-", "expected a JSON object, got a number"),
        ("[1, 2]", "-", "expected a JSON object, got an array"),
        ("null", "-", "expected a JSON object, got a null"),
        (good(output=3), "output", "expected a string, got a number"),
        (good(input=None), "input", "expected a string, got a null"),
        (good(instruction=["a"]), "instruction", "expected a string, got an array"),
        (good(output={"text": "y"}), "output", "expected a string, got an object"),
        (good(input=True), "input", "expected a string, got a boolean"),
        ('{"instruction": "x", "input": "", "output": NaN}', "-", "NaN is not valid JSON"),
        ('{"instruction": "x", "input": "", "output": Infinity}', "-", "Infinity is not valid"),
        (good(output=""), "output", "must not be empty or whitespace-only (got empty text)"),
        (good(instruction=" \t "), "instruction", "(got whitespace-only text)"),
        (good(output=...), "output", "missing required field"),
        (good(input=...), "input", "missing required field"),
        (good(category="opinion"), "category", "must be one of: definition, theory"),
        (good(extra="z"), "extra", "unknown field (allowed: instruction, input, output"),
        (good(source=7), "source", "expected a string, got a number"),
    ],
)
def test_bad_row(tmp_path, capsys, line2, field, message):
    code, out = validate(tmp_path, good() + "\n" + line2 + "\n" + good() + "\n", capsys=capsys)
    assert code == 1
    hits = [ln for ln in out.splitlines() if ln.startswith(f"F:2: {field}: ")]
    assert hits and message in hits[0], out
    assert "FAILED: 1 file(s), 3 row(s)" in out


def test_response_instead_of_output_hints(tmp_path, capsys):
    row = json.dumps({"instruction": "x", "input": "", "response": "y"})
    code, out = validate(tmp_path, row + "\n", capsys=capsys)
    assert code == 1
    assert "F:1: output: missing required field (found 'response': rename it to 'output')" in out
    assert "F:1: response: unknown field; did you mean 'output'?" in out


def test_invalid_utf8(tmp_path, capsys):
    code, out = validate(
        tmp_path, good().encode() + b"\n" + b'{"instruction": "\xff"}\n', capsys=capsys
    )
    assert code == 1
    assert "F:2: -: invalid UTF-8 at byte 18" in out


def test_whole_file_json_array(tmp_path, capsys):
    content = json.dumps([GOOD, GOOD], indent=2)
    code, out = validate(tmp_path, content, capsys=capsys)
    assert code == 1
    assert "F:1: -: file is one JSON array of 2 rows, not JSON Lines" in out
    assert "psych fix F -o OUT.jsonl" in out


def test_single_line_json_array(tmp_path, capsys):
    code, out = validate(tmp_path, json.dumps([GOOD]) + "\n", capsys=capsys)
    assert code == 1 and "file is one JSON array of 1 rows" in out


@pytest.mark.parametrize("content", ["", "\n\n", "  \n"])
def test_empty_file(tmp_path, capsys, content):
    code, out = validate(tmp_path, content, capsys=capsys)
    assert code == 1
    assert "F:0: -: no rows: the file is empty" in out


def test_very_long_line(tmp_path, capsys):
    code, out = validate(tmp_path, good(output="x" * (2 << 20)) + "\n", capsys=capsys)
    assert code == 1
    assert "F:1: -: line is 2,097,2" in out and "over the 1,048,576-byte limit" in out


def test_crlf_bom_and_blank_lines_are_accepted_with_warnings(tmp_path, capsys):
    content = b"\xef\xbb\xbf" + good().encode() + b"\r\n\r\n" + good().encode() + b"\r\n  \n"
    code, out = validate(tmp_path, content, capsys=capsys)
    assert code == 0
    assert "F:1: -: warning: UTF-8 byte order mark (BOM) at start of file" in out
    assert "F:2: -: warning: blank line (ignored)" in out
    assert "F:4: -: warning: blank line (ignored)" in out
    assert "ok: 1 file(s), 2 row(s), 0 error(s), 3 warning(s)" in out


def test_no_trailing_newline(tmp_path, capsys):
    code, out = validate(tmp_path, good() + "\n" + good(output=""), capsys=capsys)
    assert code == 1 and "F:2: output:" in out


def test_max_errors(tmp_path, capsys):
    content = "".join(good(output="") + "\n" for _ in range(10))
    code, out = validate(tmp_path, content, "--max-errors", "3", capsys=capsys)
    assert code == 1
    assert out.count(": output: ") == 3


def test_json_format(tmp_path, capsys):
    code, out = validate(
        tmp_path, good() + "\n" + good(output=1) + "\n", "--format", "json", capsys=capsys
    )
    payload = json.loads(out)
    assert code == 1
    assert payload["rows"] == 2 and payload["errors"] == 1
    assert payload["problems"][0] == {
        "path": "F",
        "line": 2,
        "field": "output",
        "message": "expected a string, got a number",
        "severity": "error",
    }


def test_github_format(tmp_path, capsys):
    code, out = validate(tmp_path, good(output="") + "\n", "--format", "github", capsys=capsys)
    assert code == 1
    assert out.splitlines()[0].startswith("::error file=F,line=1::output: must not be empty")


def test_missing_file_is_usage_error(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "nope.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.jsonl: no such file" in err


def test_directory_is_usage_error(tmp_path, capsys):
    code = main(["validate", str(tmp_path)])
    assert code == 2 and "is a directory" in capsys.readouterr().err


def test_unreadable_file_is_usage_error(tmp_path, capsys, monkeypatch):
    path = tmp_path / "secret.jsonl"
    path.write_text(good() + "\n")
    # Root reads any file whatever its mode, so simulate the denial where the check looks.
    monkeypatch.setattr(os, "access", lambda *_a, **_k: False)
    code = main(["validate", str(path)])
    assert code == 2 and "secret.jsonl: permission denied" in capsys.readouterr().err


def test_bad_flag_is_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate", "--format", "xml", "x.jsonl"])
    assert e.value.code == 2


def test_several_files_counted(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(good() + "\n")
    b.write_text(good(output="") + "\n")
    code = main(["validate", str(a), str(b)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{b}:1: output:" in out and "FAILED: 2 file(s), 2 row(s), 1 error(s)" in out


def test_shipped_datasets_are_valid(capsys):
    from tests.conftest import EVAL_SETS, TRAIN_DATA

    code = main(["validate", str(TRAIN_DATA), *map(str, EVAL_SETS)])
    assert code == 0, capsys.readouterr().out


def test_spans_give_the_same_report_as_one_pass(tmp_path, monkeypatch):
    """Large files are checked in spans (sequentially or on several cores): line numbers and
    counts must not depend on where the spans are cut."""
    import psych_plugin.dataset.validate as v

    lines = [good() if i % 7 else good(output="") for i in range(400)]
    lines[123] = "not json"
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    whole = v.validate_file(path, workers=1)
    monkeypatch.setattr(v, "SPAN_BYTES", 1000)
    monkeypatch.setattr(v, "PARALLEL_MIN_BYTES", 1)
    seen: list[int] = []
    for workers in (1, 2):
        split = v.validate_file(path, workers=workers, progress=seen.append)
        assert split.problems == whole.problems and split.rows == whole.rows == 400
    assert sum(seen) == 2 * path.stat().st_size
    assert [p.line for p in whole.problems][:3] == [1, 8, 15]


def test_rows_checked_one_by_one_are_counted_once(tmp_path):
    """A BOM and CRLF send rows down the slow path; each valid row still counts once."""
    from psych_plugin.dataset.validate import validate_file

    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good().encode() + b"\r\n" + good().encode() + b"\r\n")
    report = validate_file(path)
    assert (report.rows, report.valid_rows, report.errors) == (2, 2, 0)


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


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.binary(max_size=400))
def test_validate_arbitrary_bytes(tmp_path_factory, capsys, data):
    path = tmp_path_factory.mktemp("v") / "x.jsonl"
    path.write_bytes(data)
    code, text = run_cli(capsys, "validate", str(path))
    lines = text.splitlines()
    assert code == (1 if lines[-1].startswith("FAILED: ") else 0), text
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    for line in lines[:-1]:  # every problem line is PATH:LINE: field: message
        found = re.match(rf"^{re.escape(str(path))}:(\d+): \S+: .+", line)
        assert found, line
        assert 0 <= int(found[1]) <= n_lines  # a line of the file (0: the whole file)
    errors = sum(": warning: " not in line for line in lines[:-1])
    assert f", {errors} error(s)," in lines[-1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


@SETTINGS
@given(st.lists(json_values, min_size=1, max_size=5))
def test_validate_arbitrary_json_values(tmp_path_factory, capsys, values):
    path = tmp_path_factory.mktemp("j") / "x.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in values) + "\n")
    code, text = run_cli(capsys, "validate", "--format", "json", str(path))
    payload = json.loads(text)
    # jsonschema's verdict on each line (NaN and Infinity are not JSON: an error of their own).
    reference = Draft202012Validator(load_schema())
    bad_lines, not_json = set(), set()
    for lineno, value in enumerate(values, start=1):
        try:
            parsed = json.loads(json.dumps(value), parse_constant=_not_json)
        except ValueError:
            not_json.add(lineno)
            bad_lines.add(lineno)
            continue
        if not reference.is_valid(parsed):
            bad_lines.add(lineno)
    reported = {p["line"] for p in payload["problems"] if p["severity"] == "error"}
    assert reported == bad_lines
    assert code == (1 if bad_lines else 0)
    # One line holding one JSON array is read as a whole-file array export (0 rows, one error).
    whole_array = len(values) == 1 and isinstance(values[0], list) and not not_json
    assert payload["rows"] == (0 if whole_array else len(values))
    assert payload["errors"] == len([p for p in payload["problems"] if p["severity"] == "error"])


def _not_json(name: str) -> None:
    raise ValueError(name)
