"""psych_plugin/model/evaluate.py's metrics, with exact values: ROUGE-L worked out by hand, the
per-category aggregation, and the answer-token loss against an independent computation on the
tiny model."""

from __future__ import annotations

import math

import pytest

from psych_plugin.model.evaluate import RowResult, answer_losses, rouge_l, summarise
from psych_plugin.prompts import PromptSettings, render_row


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("memory is reconstructive", "memory is reconstructive", 1.0),
        ("cats purr", "memory is reconstructive", 0.0),
        # LCS 3 of 4 predicted and 3 of 3 reference tokens: F = 2 * 3/4 * 1 / (3/4 + 1) = 6/7
        ("memory is often reconstructive", "memory is reconstructive", 6 / 7),
        # LCS ("a c") 2 of 3 both ways: F = 2/3 (order matters, unlike unigram overlap)
        ("b a c", "a b c", 2 / 3),
        # Porter stemming: cats -> cat, running -> run
        ("Cats running!", "cat run", 1.0),
        ("", "memory", 0.0),
    ],
)
def test_rouge_l_exact(prediction, reference, expected):
    assert rouge_l(prediction, reference) == pytest.approx(expected, abs=1e-12)


def test_summarise_exact():
    rows = [
        RowResult("definition", loss_sum=10.0, tokens=10, rouge_l=0.5, generation=""),
        RowResult("definition", loss_sum=30.0, tokens=10, rouge_l=0.0, generation=""),
        RowResult("theory", loss_sum=4.0, tokens=2, rouge_l=1.0, generation=""),
        RowResult("how_to", loss_sum=0.0, tokens=0, rouge_l=0.25, generation=""),
    ]
    assert summarise(rows) == {
        # loss is weighted by answer tokens: (10 + 30) / 20
        "definition": {"rows": 2, "loss": 2.0, "perplexity": 7.389, "rouge_l": 0.25},
        # a row with no answer tokens (all cut by sequence_len) adds no loss and no division by 0
        "how_to": {"rows": 1, "loss": 0.0, "perplexity": 1.0, "rouge_l": 0.25},
        "theory": {"rows": 1, "loss": 2.0, "perplexity": 7.389, "rouge_l": 1.0},
        # overall: 44 / 22 tokens; ROUGE-L is a mean over rows: (0.5 + 0 + 1 + 0.25) / 4
        "overall": {"rows": 4, "loss": 2.0, "perplexity": 7.389, "rouge_l": 0.4375},
    }


def test_perplexity_is_capped_not_overflowing():
    out = summarise([RowResult("theory", loss_sum=900.0, tokens=9, rouge_l=0.0, generation="")])
    assert out["theory"]["loss"] == 100.0
    assert out["theory"]["perplexity"] == round(math.exp(50.0), 3)


def test_answer_losses_equal_a_hand_computation(tiny_model, tiny_tokenizer):
    """Sum of -log p(answer token | everything before), answer tokens and EOS only, computed
    with torch directly: the same numbers the training loss sees."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    settings = PromptSettings()
    rows = [
        {"instruction": "What is memory?", "input": "", "output": "Storage of information."},
        {
            "instruction": "Summarise.",
            "input": "Memory is reconstructive and often wrong.",
            "output": "Memory rebuilds.",
            "category": "how_to",
        },
    ]
    got = answer_losses(model, tiny_tokenizer, settings, rows, sequence_len=512)
    for row, (loss_sum, tokens) in zip(rows, got, strict=True):
        prompt, answer = render_row(settings, tiny_tokenizer, row)
        p_ids = tiny_tokenizer(prompt, add_special_tokens=False).input_ids
        a_ids = tiny_tokenizer(answer, add_special_tokens=False).input_ids
        a_ids.append(tiny_tokenizer.eos_token_id)
        ids = torch.tensor([p_ids + a_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
        expected = -sum(float(logp[len(p_ids) + i - 1, t]) for i, t in enumerate(a_ids))
        assert tokens == len(a_ids)
        assert loss_sum == pytest.approx(expected, rel=1e-4)
