"""psych_plugin/dataset/fix.py: `psych fix` normalises into a new file and never overwrites."""

from __future__ import annotations

import json
from pathlib import Path

from psych_plugin.cli import main

ROW = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def write(path: Path, rows: list[dict], sep: str = "\n") -> Path:
    path.write_text(sep.join(json.dumps(r) for r in rows) + sep)
    return path


def test_fix_normalises_bom_crlf_blank_and_spaces(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    row2 = {**ROW, "instruction": "  Define memory.  "}
    src.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(ROW).encode()
        + b"\r\n\r\n"
        + json.dumps(row2).encode()
        + b"\r\n"
    )
    before = src.read_bytes()
    dst = tmp_path / "out.jsonl"
    assert main(["fix", str(src), "-o", str(dst)]) == 0
    out = capsys.readouterr().out
    assert "wrote 2 row(s)" in out and "removed BOM (1)" in out and "dropped blank lines (1)" in out
    assert src.read_bytes() == before
    lines = dst.read_text().splitlines()
    assert json.loads(lines[1])["instruction"] == "Define memory."
    assert main(["validate", str(dst)]) == 0


def test_fix_converts_json_array(tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([ROW, ROW], indent=2))
    dst = tmp_path / "out.jsonl"
    assert main(["fix", str(src), "-o", str(dst)]) == 0
    assert len(dst.read_text().splitlines()) == 2


def test_fix_refuses_in_place_and_existing_output(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", [ROW])
    assert main(["fix", str(src), "-o", str(src)]) == 2
    dst = write(tmp_path / "out.jsonl", [ROW, ROW])
    assert main(["fix", str(src), "-o", str(dst)]) == 2
    assert "not overwriting it without --force" in capsys.readouterr().err
    assert len(dst.read_text().splitlines()) == 2
    assert main(["fix", str(src), "-o", str(dst), "--force"]) == 0
    assert len(dst.read_text().splitlines()) == 1


def test_fix_writes_nothing_when_rows_stay_invalid(tmp_path, capsys):
    src = write(tmp_path / "in.jsonl", [ROW, {**ROW, "output": "   "}])
    dst = tmp_path / "out.jsonl"
    assert main(["fix", str(src), "-o", str(dst)]) == 1
    assert f"{src}:2: output: must not be empty" in capsys.readouterr().out
    assert not dst.exists()
