"""`psych review`'s command line: what it refuses before serving (exit 1 or 2, one line each)."""

from __future__ import annotations

from psych_plugin.cli import main
from tests.unit.review.test_store import ROWS, write_rows


def test_lines_that_are_not_rows_exit_1_naming_file_and_line(tmp_path, capsys):
    src = tmp_path / "rows.jsonl"
    src.write_text('{"instruction": "Q", "input": "", "output": "A"}\n"text"\n', encoding="utf-8")
    assert main(["review", str(src), "--no-browser"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{src}:2: -: expected a JSON object",
        f"FAILED: 1 line(s) of {src} are not rows; nothing to review",
    ]


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    src = write_rows(tmp_path / "rows.jsonl", ROWS)
    (tmp_path / "out.jsonl").write_text("mine\n", encoding="utf-8")
    cases = [
        ([str(tmp_path / "nope.jsonl")], "nope.jsonl: no such file"),
        ([str(src), "-o", str(tmp_path / "out.jsonl")], "not written by psych review; --force"),
        ([str(src), "-o", str(src)], "must not be the input"),
        ([str(src), "--port", "70000"], "--port 70000: expected 0"),
        ([str(src), "--book", str(tmp_path / "nope.md")], "nope.md"),
    ]
    for args, message in cases:
        assert main(["review", *args, "--no-browser"]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("psych review: error: ") and message in err[0]
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == "mine\n"
