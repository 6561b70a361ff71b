"""Evaluation metrics: ROUGE-L and the per-category aggregation."""

from __future__ import annotations

import math

import pytest

from psych_plugin.model.evaluate import RowResult, rouge_l, summarise


def test_rouge_l_bounds():
    assert rouge_l("memory is reconstructive", "memory is reconstructive") == 1.0
    assert rouge_l("cats purr", "memory is reconstructive") == 0.0
    partial = rouge_l("memory is often reconstructive", "memory is reconstructive")
    assert 0.0 < partial < 1.0


def test_summarise_weights_loss_by_tokens():
    rows = [
        RowResult("definition", loss_sum=10.0, tokens=10, rouge_l=0.5, generation=""),
        RowResult("definition", loss_sum=30.0, tokens=10, rouge_l=0.0, generation=""),
        RowResult("theory", loss_sum=4.0, tokens=2, rouge_l=1.0, generation=""),
    ]
    out = summarise(rows)
    assert list(out) == ["definition", "theory", "overall"]
    assert out["definition"]["loss"] == 2.0 and out["definition"]["rouge_l"] == 0.25
    assert out["overall"]["loss"] == pytest.approx(44 / 22)
    assert out["overall"]["perplexity"] == pytest.approx(math.exp(2.0), rel=1e-3)
    assert out["overall"]["rows"] == 3
