"""psych_plugin/dataset/split.py and the two extra held-out sets: `unseen` names no study, case or
key term that training names, and `paraphrase` asks about training knowledge in new words, never
as a near-copy of a training prompt."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from psych_plugin.dataset.schema import categories
from psych_plugin.dataset.split import FIELD_WIDE_SHARE, named_terms, split_problems
from tests.conftest import PARAPHRASE_DATA as PARAPHRASE
from tests.conftest import TRAIN_DATA as TRAIN
from tests.conftest import UNSEEN_DATA as UNSEEN

CATEGORIES = categories()
KEYS = {"instruction", "input", "output", "category", "source"}


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def row(
    instruction: str, input_: str = "", source: str = "Memory", output: str = "An answer."
) -> dict:
    return {
        "instruction": instruction,
        "input": input_,
        "output": output,
        "category": "definition",
        "source": source,
    }


# Small in-test training set: filler rows keep any one name rare (the field-wide rule looks at
# shares of the training set), except "Freud", who appears in about a quarter of them.
FILLER = [
    row(f"What is concept number {i}?", output=f"Concept {i} is a generic idea.") for i in range(40)
]
TRAIN_ROWS = [
    row(
        "What effect does this study demonstrate?",
        "Children who liked drawing were promised a certificate.",
        "Motivation: overjustification (Lepper, Greene & Nisbett)",
        "Mark Lepper, David Greene and Richard Nisbett reported this in 1973.",
    ),
    row(
        "Who was H.M.?",
        output="H.M. lost the ability to form new long-term memories after surgery.",
        source="Neuropsychology case: H.M.",
    ),
    row(
        "Describe the intercom study by Darley and Latané (1968).",
        source="Darley & Latané (1968), bystander effect",
    ),
    row("What did Albert Bandura show about imitation?"),
    row("Explain the design of the experiment.", source="Gibson & Walk (1960), visual cliff"),
    *[
        row(f"How did Freud view topic {i}?", output=f"Sigmund Freud wrote about topic {i}.")
        for i in range(15)
    ],
    *FILLER,
]


def test_named_terms_reads_citations_initials_names_and_source_topic():
    terms = named_terms(
        row(
            "Summarise Lepper et al. 1973, compare it with Milgram (1963) and the case of H.M.",
            "The Stanford prison experiment and Little Albert are often cited.",
            "Cognition: decision making (sunk cost fallacy)",
        )
    )
    assert {"lepper 1973", "milgram 1963", "hm", "stanford", "little albert"} <= terms
    assert "sunk cost fallacy" in terms  # the specific part of the source
    assert "summarise" not in terms and "the" not in terms  # sentence starters are not names


def test_output_counts_for_training_rows_only():
    r = row("What is it?", output="Phineas Gage survived an accident.")
    assert "phineas gage" not in named_terms(r)
    assert "phineas gage" in named_terms(r, include_output=True)


def test_leaking_unseen_row_is_flagged_with_its_line_field_and_term():
    unseen = [
        row("Define a concept never taught.", source="Cognition: status quo bias"),
        row(
            "What phenomenon is shown by the preschool study described below?",
            "Children were promised a 'Good Player' certificate by Lepper and Greene.",
        ),
        row("What did patient H.M. reveal about memory?"),
    ]
    problems = split_problems(TRAIN_ROWS, unseen, "unseen.jsonl")
    assert [(p.line, p.field) for p in problems] == [(2, "input"), (3, "instruction")]
    assert all(p.path == "unseen.jsonl" and p.severity in {"error", "warning"} for p in problems)
    assert "'lepper & greene' (training line 1)" in problems[0].message
    assert "'hm' (training line 2)" in problems[1].message


def test_taught_topic_spelled_out_in_lower_case_is_flagged():
    unseen = [row("Explain how the visual cliff was used to study depth perception in infants.")]
    problems = split_problems(TRAIN_ROWS, unseen, "unseen.jsonl")
    assert [(p.line, p.field) for p in problems] == [(1, "instruction")]
    assert "'visual cliff' (training line 5)" in problems[0].message


def test_clean_row_and_same_author_different_study_are_not_flagged():
    unseen = [
        row("What is the decoy effect?", source="Decision making: decoy effect"),
        # Darley is in training, but with Latané in 1968; the Good Samaritan study is another one.
        row(
            "Describe Darley and Batson's (1973) 'Good Samaritan' study.",
            source="Darley & Batson (1973), hurry and helping",
        ),
    ]
    assert split_problems(TRAIN_ROWS, unseen, "unseen.jsonl") == []


def test_field_wide_name_does_not_trigger():
    freud_share = sum("Freud" in r["instruction"] for r in TRAIN_ROWS) / len(TRAIN_ROWS)
    assert freud_share > FIELD_WIDE_SHARE  # precondition of the rule being tested
    unseen = [row("How did Freud explain slips of the tongue?", source="Personality: parapraxes")]
    assert split_problems(TRAIN_ROWS, unseen, "unseen.jsonl") == []
    # A rare name in the same position still counts.
    rare = [row("How did Bandura explain slips of the tongue?")]
    assert [p.line for p in split_problems(TRAIN_ROWS, rare, "unseen.jsonl")] == [1]


def test_shipped_unseen_set_shares_nothing_named_with_training():
    problems = split_problems(rows(TRAIN), rows(UNSEEN), str(UNSEEN))
    assert problems == [], [f"{p.line}: {p.message}" for p in problems[:5]]


@pytest.mark.parametrize(("path", "per_category"), [(UNSEEN, 30), (PARAPHRASE, 20)])
def test_new_held_out_sets_are_valid_and_balanced(path: Path, per_category: int):
    data = rows(path)
    for i, r in enumerate(data, start=1):
        assert set(r) == KEYS, i
        assert all(isinstance(v, str) for v in r.values()), i
        assert r["category"] in CATEGORIES, i
        assert r["instruction"].strip() and r["output"].strip() and r["source"].strip(), i
    assert Counter(r["category"] for r in data) == dict.fromkeys(CATEGORIES, per_category)
    # Comparison answers do not all open the same way ("Both ...").
    openings = Counter(r["output"].split()[0] for r in data if r["category"] == "comparison")
    assert max(openings.values()) <= 0.2 * per_category, openings.most_common(3)


def normalise(r: dict) -> str:
    text = (r["instruction"] + " " + r["input"]).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def test_paraphrases_ask_about_training_knowledge_without_copying_a_training_prompt():
    train = rows(TRAIN)
    train_instructions = {r["instruction"] for r in train}
    train_sources = {r["source"] for r in train}
    # One matcher per training row (seq2, whose index difflib builds once); each paraphrase is
    # seq1. real_quick_ratio and quick_ratio are upper bounds of ratio, so they rule out most
    # pairs before the exact ratio is computed.
    matchers = [difflib.SequenceMatcher(None, "", normalise(r)) for r in train]
    for i, r in enumerate(rows(PARAPHRASE), start=1):
        assert r["instruction"] not in train_instructions, i
        assert r["source"] in train_sources, (i, r["source"])
        key = normalise(r)
        for j, matcher in enumerate(matchers, start=1):
            matcher.set_seq1(key)
            if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8:
                assert matcher.ratio() < 0.8, f"paraphrase line {i} ~ training line {j}"
