"""MMLU through lm-evaluation-harness on the tiny model: the harness's per-question
log-likelihoods equal ones computed here independently (MMLU's prompt format written out by
hand from the CSVs, one forward pass per prompt), with and without a LoRA adapter, and the
adapter changes them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

MMLU_DIR = FIXTURES / "mmlu"
SUBJECTS = ("high_school_psychology", "professional_psychology")

pytestmark = pytest.mark.slow


def raw_rows(subject: str, split: str) -> list[list[str]]:
    with open(MMLU_DIR / f"{subject}_{split}.csv", encoding="utf-8", newline="") as f:
        return [r for r in csv.reader(f) if r]


def mmlu_prompt(subject: str, dev: list[list[str]], row: list[str], shots: int) -> str:
    """Hendrycks et al.'s format: a header, `shots` solved dev questions, then the question."""

    def block(r: list[str]) -> str:
        options = "".join(f"\n{x}. {c}" for x, c in zip("ABCD", r[1:5], strict=True))
        return r[0].strip() + options + "\nAnswer:"

    topic = subject.replace("_", " ")
    head = f"The following are multiple choice questions (with answers) about {topic}.\n\n"
    return head + "".join(f"{block(r)} {r[5]}\n\n" for r in dev[:shots]) + block(row)


def own_logliks(model, tokenizer, prompt: str) -> list[float]:
    """log P(" X" | prompt) for each letter, from one forward pass over the prompt (a letter
    that is several tokens here gets its own pass)."""
    import torch

    ctx = tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def logprobs(ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)

    last = logprobs(ctx)[-1]
    out = []
    for letter in "ABCD":
        cont = tokenizer(" " + letter, add_special_tokens=False)["input_ids"]
        if len(cont) == 1:
            out.append(float(last[cont[0]]))
        else:
            logp = logprobs(ctx + cont)
            out.append(sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont)))
    return out


@pytest.fixture(scope="module")
def peft_model(tiny_model: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    # init_lora_weights=False: random A and B, so the adapter moves the logits from the start.
    cfg = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    model = get_peft_model(base, cfg).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return model, tokenizer


@pytest.mark.parametrize("shots", [5, 0])
def test_harness_logliks_equal_independent_ones_and_adapter_changes_them(peft_model, shots):
    from psych_plugin.model.mmlu import build_tasks, evaluate_mmlu

    model, tokenizer = peft_model
    tasks = build_tasks(SUBJECTS, MMLU_DIR, shots)
    summary, records = evaluate_mmlu(
        model, tokenizer, tasks, use_adapter=True, shots=shots, batch_size=3
    )
    assert [r["subject"] for r in records] == [s for s in SUBJECTS for _ in range(8)]
    moved = 0.0
    for subject in SUBJECTS:
        dev, test = raw_rows(subject, "dev"), raw_rows(subject, "test")
        mine = [r for r in records if r["subject"] == subject]
        assert [r["answer"] for r in mine] == [row[5] for row in test]
        for rec, row in zip(mine, test, strict=True):
            prompt = mmlu_prompt(subject, dev, row, shots)
            with model.disable_adapter():
                base = own_logliks(model, tokenizer, prompt)
            tuned = own_logliks(model, tokenizer, prompt)
            assert rec["base"]["logliks"] == pytest.approx(base, abs=2e-4)
            assert rec["tuned"]["logliks"] == pytest.approx(tuned, abs=2e-4)
            moved = max(moved, max(abs(a - b) for a, b in zip(base, tuned, strict=True)))
        block = summary[subject]
        for name in ("base", "tuned"):
            correct = sum(r[name]["correct"] for r in mine)
            assert block[name]["correct"] == correct
            assert block[name]["accuracy"] == pytest.approx(block[name]["harness_accuracy"])
            lo, hi = block[name]["ci95"]
            assert lo <= block[name]["accuracy"] <= hi
        assert block["questions"] == 8 and block["chance"] == 0.25
    assert moved > 0.01, "the adapter did not change the log-likelihoods"
