"""psych_plugin/dataset/lint.py: `psych lint` finds duplicates, leakage and over-length rows, with
exit codes that --strict turns into failures."""

from __future__ import annotations

import json
from pathlib import Path

from psych_plugin.cli import main

ROW = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def write(path: Path, rows: list[dict], sep: str = "\n") -> Path:
    path.write_text(sep.join(json.dumps(r) for r in rows) + sep)
    return path


def test_lint_duplicates_and_near_duplicates(tmp_path, capsys):
    rows = [
        ROW,
        {"instruction": "Define memory.", "input": "", "output": "Storage of information."},
        ROW,
        {"instruction": "what is a SCHEMA", "input": "", "output": "Another answer."},
        {"instruction": "Summarise this.", "input": "Text one.", "output": "One."},
        {"instruction": "Summarise this.", "input": "Text two.", "output": "Two."},
    ]
    path = write(tmp_path / "d.jsonl", rows)
    assert main(["lint", str(path)]) == 0  # warnings by default
    out = capsys.readouterr().out
    assert f"{path}:3: -: warning: exact duplicate of {path}:1" in out
    assert f"{path}:4: instruction: warning: near-duplicate of {path}:1" in out
    assert f"{path}:6:" not in out  # same instruction, different input: not a duplicate
    assert main(["lint", "--strict", str(path)]) == 1


def test_lint_leakage_and_stats_json(tmp_path, capsys):
    train = write(
        tmp_path / "t.jsonl",
        [
            {**ROW, "category": "definition"},
            {"instruction": "Explain X.", "input": "ctx", "output": "Y.", "category": "how_to"},
        ],
    )
    ev = write(tmp_path / "e.jsonl", [{**ROW, "instruction": "What is a schema"}])
    assert main(["lint", str(train), "--eval", str(ev), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["stats"]["leaked_into_eval"] == 1
    assert payload["stats"]["categories"] == {"definition": 1, "how_to": 1}
    assert payload["stats"]["with_input_share"] == 0.5
    [problem] = payload["problems"]
    assert problem["line"] == 1 and "also in the eval file at" in problem["message"]


def test_lint_over_length_rows_with_tokenizer(tmp_path, capsys, tiny_model):
    long_row = {**ROW, "instruction": "Explain.", "output": "word " * 3000}
    path = write(tmp_path / "d.jsonl", [ROW, long_row])
    code = main(
        ["lint", str(path), "--tokenizer", str(tiny_model), "--sequence-len", "1000", "--strict"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"{path}:2: -: " in out and "tokens > sequence_len 1000" in out
    assert f"{path}:1: -: " not in out


def test_lint_invalid_file_reports_validation_errors(tmp_path, capsys):
    path = write(tmp_path / "d.jsonl", [ROW, {**ROW, "output": 5}])
    assert main(["lint", str(path)]) == 1
    assert f"{path}:2: output: expected a string" in capsys.readouterr().out


def test_lint_sequence_len_needs_tokenizer(tmp_path, capsys):
    path = write(tmp_path / "d.jsonl", [ROW])
    assert main(["lint", str(path), "--sequence-len", "10"]) == 2
