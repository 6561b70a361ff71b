"""The shipped dataset keeps its promises: size, balance, input share, no duplicates, no leakage
into the eval file, and a dataset card whose figures match the files."""

from __future__ import annotations

import json

from psych_plugin.cli import main
from psych_plugin.dataset.lint import CATEGORIES, lint
from tests.conftest import DATA_DIR, EVAL_DATA, TRAIN_DATA


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_training_set_size_balance_and_inputs():
    train = rows(TRAIN_DATA)
    assert len(train) >= 1000
    for cat in CATEGORIES:
        assert sum(r["category"] == cat for r in train) >= 120, cat
    assert sum(bool(r["input"].strip()) for r in train) / len(train) >= 0.25
    assert all(r.get("source", "").strip() for r in train)


def test_eval_set_covers_every_category():
    ev = rows(EVAL_DATA)
    assert len(ev) >= 150
    assert {r["category"] for r in ev} == set(CATEGORIES)


def test_no_duplicates_and_no_leakage():
    report = lint([TRAIN_DATA], EVAL_DATA)
    assert report.problems == [], report.problems[:5]
    assert lint([EVAL_DATA]).problems == []


def test_dataset_card_figures_are_generated_and_current(capsys):
    card = DATA_DIR / "README.md"
    code = main(["stats", str(TRAIN_DATA), str(EVAL_DATA), "--update", str(card), "--check"])
    assert code == 0, capsys.readouterr().err
    assert f"**{len(rows(TRAIN_DATA))}**" in card.read_text()
