"""psych_plugin/book/rows.py: the filter after the critic: exact duplicates, near-duplicates
(the lint's prompt key) and rows whose prompt is in an --eval file are dropped."""

from __future__ import annotations

import json
import re

from psych_plugin.book.rows import RowFilter, make_row
from psych_plugin.dataset.rows import prompt_key

from .conftest import BOOK, build, rows_of


def test_row_filter_verdicts():
    held_out = make_row("what is a SCHEMA", "", "A frame.", "definition", "S")
    f = RowFilter(frozenset({prompt_key({"instruction": "What is a schema?", "input": ""})}))
    row = make_row(" What is learning? ", "", "Learning is a change.", "definition", "S")
    assert row["instruction"] == "What is learning?"  # stripped
    assert f.verdict(row) == "ok"
    assert f.verdict(dict(row)) == "duplicates"
    assert f.verdict({**row, "output": "Something else entirely."}) == "near_duplicates"
    assert f.verdict(held_out) == "in_eval"
    assert f.verdict({**row, "instruction": "  "}) == "invalid"


def test_duplicates_and_eval_leakage_are_dropped(tmp_path, capsys):
    book = tmp_path / "book.md"
    text = BOOK.read_text(encoding="utf-8")
    repeat = "**Classical conditioning**" + text.split("\n**Classical conditioning**", 1)[1]
    repeat = repeat.split("\n\n", 1)[0]
    book.write_text(text + f"\n# Chapter 4: Review\n\n{repeat}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert build(book, out) == 0
    printed = capsys.readouterr().out
    # The repeated paragraph's definition is the same term: one definition per term, book-wide.
    assert re.search(r"rejected: term defined better elsewhere\s*│\s*[1-9]", printed)
    rows = rows_of(out)
    defs = [
        r
        for r in rows
        if r["category"] == "definition" and "classical conditioning" in r["instruction"]
    ]
    assert len(defs) == 1 and "Review" not in defs[0]["source"]

    leaked = next(r for r in rows if r["instruction"] == "What is a schema?")
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(
        json.dumps({"instruction": "what is a SCHEMA", "input": "", "output": "Something else."})
        + "\n"
    )
    out2 = tmp_path / "out2.jsonl"
    assert build(book, out2, "--eval", str(eval_file)) == 0
    assert "1 in --eval" in capsys.readouterr().out
    assert leaked not in rows_of(out2) and len(rows_of(out2)) == len(rows) - 1

    # --eval is repeatable (a paraphrase set and an unseen set): rows in either are dropped.
    leaked2 = next(r for r in rows if "object permanence" in r["instruction"])
    other = tmp_path / "unseen.jsonl"
    other.write_text(json.dumps({**leaked2, "output": "Something else."}) + "\n")
    out3 = tmp_path / "out3.jsonl"
    assert build(book, out3, "--eval", str(eval_file), "--eval", str(other)) == 0
    assert "2 in --eval" in capsys.readouterr().out
    assert len(rows_of(out3)) == len(rows) - 2 and leaked2 not in rows_of(out3)

    bad_eval = tmp_path / "bad.jsonl"
    bad_eval.write_text('{"instruction": "Q?"}\n')
    assert build(book, tmp_path / "out4.jsonl", "--eval", str(bad_eval)) == 2
    assert "invalid row(s); run: psych validate" in capsys.readouterr().err
