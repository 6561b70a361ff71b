"""psych_plugin/model/eval_report.py: eval.json / report.md / chart.png from a result, with and
without an adapter, with and without MMLU (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psych_plugin.model.eval_report import write_report
from psych_plugin.model.mmlu import Question, question_records, summarise_subject


def set_block(models: tuple[str, ...]) -> dict:
    stats = {"rows": 2, "loss": 2.0, "perplexity": 7.389, "rouge_l": 0.25}
    block = {"file": "data/x.jsonl", "rows": 2}
    for m in models:
        block[m] = {
            "definition": dict(stats),
            "overall": dict(stats, loss=1.5 if m == "tuned" else 2.0),
        }
    block["samples"] = [{"instruction": "Q?", "reference": "A.", **{m: " a" for m in models}}]
    return block


def meta(use_adapter: bool) -> dict:
    return {
        "base_model": "base",
        "adapter": "out",
        "use_adapter": use_adapter,
        "batch_size": 8,
        "max_new_tokens": 16,
        "machine": "cpu",
        "tiny": False,
        "seconds": {"held_out": 1.0, "mmlu": 2.0},
    }


def mmlu_block(models: tuple[str, ...]) -> tuple[dict, list[dict]]:
    per_model = {
        m: (
            [
                Question(
                    i,
                    i % 4,
                    [-1.0 if j == (i % 4 if m == "tuned" else 3) else -2.0 for j in range(4)],
                    m == "tuned" or i % 4 == 3,
                )
                for i in range(8)
            ],
            0.0,
        )
        for m in models
    }
    subjects = {
        s: summarise_subject(per_model)
        for s in ("high_school_psychology", "professional_psychology")
    }
    records = [r for s in subjects for r in question_records(s, per_model)]
    return (
        {
            "harness_version": "0.4.11",
            "tasks": ["mmlu_high_school_psychology", "mmlu_professional_psychology"],
            "data": "dir",
            "shots": 5,
            "limit": None,
            "chance": 0.25,
            "subjects": subjects,
        },
        records,
    )


@pytest.mark.parametrize("models", [("base", "tuned"), ("base",)])
def test_reports_with_mmlu(tmp_path: Path, models: tuple[str, ...]):
    mmlu, records = mmlu_block(models)
    result = {"sets": {"paraphrase": set_block(models), "unseen": set_block(models)}, "mmlu": mmlu}
    written = write_report(tmp_path, result, meta(len(models) == 2), records)
    assert [p.name for p in written] == [
        "eval.json",
        "report.md",
        "chart.png",
        "mmlu_questions.jsonl",
    ]
    data = json.loads((tmp_path / "eval.json").read_text())
    assert list(data["sets"]) == ["paraphrase", "unseen"]
    report = (tmp_path / "report.md").read_text()
    assert "## Held-out set `paraphrase`" in report and "asked in new words" in report
    assert "## Held-out set `unseen`" in report and "generalise" in report
    hs = mmlu["subjects"]["high_school_psychology"]
    assert hs["base"]["accuracy"] == 0.25  # base always answers D; 2 of 8 answers are D
    line = next(ln for ln in report.splitlines() if ln.startswith("| high_school_psychology |"))
    assert line.startswith("| high_school_psychology | 8 | 25.0% | A: 25.0% | 25.0% [")
    if len(models) == 2:
        assert hs["paired"]["gained"] == 6 and "+75.0 pts" in line
    else:
        assert "paired" not in hs and "McNemar p |" not in report
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert len((tmp_path / "mmlu_questions.jsonl").read_text().splitlines()) == 16


def test_report_without_mmlu(tmp_path: Path):
    result = {"sets": {"mine": set_block(("base", "tuned"))}}
    m = meta(True)
    del m["seconds"]["mmlu"]
    written = write_report(tmp_path, result, m)
    assert [p.name for p in written] == ["eval.json", "report.md", "chart.png"]
    report = (tmp_path / "report.md").read_text()
    assert "MMLU" not in report and "| overall | 2 | 2.0000 |" in report and "-0.5000 |" in report


def test_answers_side_by_side_are_readable_table_rows():
    """Each sample question gets a table: reference, base, base + adapter in one row; text a
    cell would break (pipes, line breaks, tags) is escaped, not dropped."""
    from psych_plugin.model.eval_report import samples_section

    sample = {
        "instruction": "What is habituation? ",
        "reference": "A fall in response | to a repeated stimulus.",
        "base": "Habituation is\n\nwhen <b>",
        "tuned": "",
    }
    lines = samples_section({"paraphrase": {"samples": [sample]}})
    i = lines.index("### `paraphrase` 1: What is habituation?")
    assert lines[i + 2] == "| reference | base | base + adapter |"
    assert lines[i + 3] == "|---|---|---|"
    assert lines[i + 4] == (
        "| A fall in response \\| to a repeated stimulus. | Habituation is<br>when &lt;b> "
        "| (empty) |"
    )
    no_adapter = {k: v for k, v in sample.items() if k != "tuned"}
    assert "| reference | base |" in samples_section({"u": {"samples": [no_adapter]}})
