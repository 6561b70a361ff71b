"""The shipped dataset keeps its promises: size, balance, input share, no duplicates, no leakage
into the held-out sets, an unseen set that names nothing training names, and a dataset card whose
figures match the files."""

from __future__ import annotations

import json

from psych_plugin.cli import main
from psych_plugin.dataset.lint import lint
from psych_plugin.dataset.schema import categories
from tests.conftest import DATA_DIR, EVAL_SETS, PARAPHRASE_DATA, TRAIN_DATA, UNSEEN_DATA


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_training_set_size_balance_and_inputs():
    train = rows(TRAIN_DATA)
    assert len(train) >= 1000
    for cat in categories():
        assert sum(r["category"] == cat for r in train) >= 120, cat
    assert sum(bool(r["input"].strip()) for r in train) / len(train) >= 0.25
    assert all(r.get("source", "").strip() for r in train)


def test_held_out_sets_cover_every_category():
    for path, size in ((PARAPHRASE_DATA, 120), (UNSEEN_DATA, 180)):
        ev = rows(path)
        assert len(ev) == size, path
        assert {r["category"] for r in ev} == set(categories()), path


def test_no_duplicates_no_leakage_and_an_honest_unseen_split():
    report = lint([TRAIN_DATA], PARAPHRASE_DATA, unseen=[UNSEEN_DATA])
    assert report.problems == [], report.problems[:5]
    for path in EVAL_SETS:
        assert lint([path]).problems == [], path
    assert lint(EVAL_SETS).problems == [], "a row in both held-out sets"


def test_lint_command_reports_a_leaking_unseen_row(tmp_path, capsys):
    train = rows(TRAIN_DATA)
    leaking = dict(train[0], instruction="In other words: " + train[0]["instruction"])
    path = tmp_path / "unseen.jsonl"
    path.write_text(UNSEEN_DATA.read_text() + json.dumps(leaking) + "\n")
    args = ["lint", str(TRAIN_DATA), "--unseen", str(path), "--strict", "--format", "github"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"file={path},line={len(rows(UNSEEN_DATA)) + 1}::" in out


def test_dataset_card_figures_are_generated_and_current(capsys):
    card = DATA_DIR / "README.md"
    code = main(["stats", str(TRAIN_DATA), *map(str, EVAL_SETS), "--update", str(card), "--check"])
    assert code == 0, capsys.readouterr().err
    assert f"**{len(rows(TRAIN_DATA))}**" in card.read_text()
