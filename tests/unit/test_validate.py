"""`psych validate`: every bad case gives the exit code, the line and the field; never a
traceback, never a write to the file it reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from psych_plugin.cli import main

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
    # test_robustness.py.)
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
