"""psych_plugin/book/sample.py: the review view (--sample after a build, `psych sample`)."""

from __future__ import annotations

from psych_plugin.book.sample import pick_rows
from psych_plugin.cli import main

from .conftest import BOOK, build, rows_of


def test_sample_prints_a_review_table(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, "--sample", "5", "--seed", "7") == 0
    printed = capsys.readouterr().out
    assert "5 random row(s) of" in printed and "(--seed 7)" in printed
    rows = rows_of(out)
    assert main(["sample", str(out), "-n", "5", "--seed", "7"]) == 0
    again = capsys.readouterr().out
    # The same draw from the file as at the end of the build, with each row's category and
    # section; the table wraps long text, so compare words.
    assert again.split("(--seed 7)", 1)[1] == printed.split("(--seed 7)", 1)[1]
    shown = [r for r in rows if r["output"].split()[0] in again]
    assert shown and any(r["category"] in again for r in shown)
    assert "Chapter" in again

    assert main(["sample", str(out), "-n", "100", "--category", "comparison"]) == 0
    only = capsys.readouterr().out
    n = sum(r["category"] == "comparison" for r in rows)
    assert f"{n} random row(s) of {len(rows)} in category comparison" in only

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "Q?", "response": "A."}\n')
    assert main(["sample", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:1: ") and err.count("\n") == 1
    assert main(["sample", str(tmp_path / "none.jsonl")]) == 2
    assert main(["sample", str(out), "-n", "0"]) == 2


def test_pick_rows_is_a_repeatable_draw_in_file_order():
    numbered = [(i, {"category": "definition" if i % 2 else "theory"}) for i in range(1, 21)]
    first = pick_rows(numbered, 5, seed=3)
    assert first == pick_rows(numbered, 5, seed=3)
    assert [i for i, _ in first] == sorted(i for i, _ in first)
    assert len(pick_rows(numbered, 50, seed=3)) == 20
    assert {r["category"] for _, r in pick_rows(numbered, 50, 3, "theory")} == {"theory"}
