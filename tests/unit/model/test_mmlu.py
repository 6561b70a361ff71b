"""psych_plugin/model/mmlu.py: reading the official CSV layout (and its quirks), intervals, the
paired change, the chance and majority-letter lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from psych_plugin.model.mmlu import (
    Question,
    csv_path,
    mcnemar_p,
    paired_change,
    read_csv,
    read_subject,
    summarise_subject,
    wilson,
)
from psych_plugin.problems import UsageError
from tests.conftest import FIXTURES

MMLU = FIXTURES / "mmlu"


def test_reads_fixture_in_the_hubs_schema_with_crlf_and_no_final_newline():
    raw = (MMLU / "professional_psychology_dev.csv").read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")  # the quirks the official files have
    dev = read_csv(MMLU / "professional_psychology_dev.csv", "professional_psychology")
    assert len(dev) == 5
    assert dev[1] == {
        "question": "In research ethics, telling participants afterwards about a deception is "
        "called",
        "subject": "professional_psychology",
        "choices": ["informed consent", "debriefing", "confidentiality", "peer review"],
        "answer": 1,
    }
    assert dev[-1]["answer"] == 2  # the last record, without a final newline, is read whole
    test = read_csv(MMLU / "high_school_psychology_test.csv", "high_school_psychology")
    assert test[2]["question"].endswith(
        'calls every four-legged animal a "doggie" is showing, in Piaget\'s terms,'
    )


def test_official_tarball_layout(tmp_path: Path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "test").mkdir()
    for split in ("dev", "test"):
        src = MMLU / f"high_school_psychology_{split}.csv"
        (tmp_path / split / src.name).write_bytes(src.read_bytes())
    data = read_subject(tmp_path, "high_school_psychology")
    assert len(data["dev"]) == 5 and len(data["test"]) == 8
    with pytest.raises(UsageError, match="no professional_psychology_test.csv"):
        csv_path(tmp_path, "professional_psychology", "test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Q1?,a,b,c,d,A\nQ2?,a,b,c,d,E\n", ":2: answer: 'E' is not one of A, B, C, D"),
        ('Q1?,a,b,c,d,A\n\n"multi\nline",a,b,c,d,B\nQ3?,a,b,c,A\n', ":5: record: 5 fields"),
        (" ,a,b,c,d,A\n", ":1: question: empty"),
        ("", ": no questions"),
    ],
)
def test_bad_csv_is_one_line_naming_file_line_field(tmp_path: Path, text: str, message: str):
    path = tmp_path / "x_test.csv"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        read_csv(path, "x")
    assert str(err.value).startswith(f"{path}{message}")
    assert "\n" not in str(err.value)


def test_non_utf8_csv(tmp_path: Path):
    path = tmp_path / "x_test.csv"
    path.write_bytes(b"Caf\xe9?,a,b,c,d,A\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_csv(path, "x")


def test_wilson_interval_known_values():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_mcnemar_exact():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    # 8 gained, 2 lost: 2 * P(X <= 2 | n=10, 1/2) = 2 * 56/1024
    assert mcnemar_p(8, 2) == pytest.approx(112 / 1024)


def q(answer: int, correct: bool, pred: int | None = None) -> Question:
    logliks = [-5.0] * 4
    logliks[answer if correct else (pred if pred is not None else (answer + 1) % 4)] = -1.0
    return Question(doc_id=0, answer=answer, logliks=logliks, correct=correct)


def test_paired_change_and_subject_summary():
    answers = [3, 3, 3, 0, 1, 2, 3, 3]  # majority letter D, 5 of 8
    base_ok = [True, True, False, False, True, False, False, False]
    tuned_ok = [True, True, True, True, True, False, False, True]
    base = [q(a, ok) for a, ok in zip(answers, base_ok, strict=True)]
    tuned = [q(a, ok) for a, ok in zip(answers, tuned_ok, strict=True)]
    block = summarise_subject({"base": (base, 3 / 8), "tuned": (tuned, 6 / 8)})
    assert block["questions"] == 8 and block["chance"] == 0.25
    assert (block["majority_letter"], block["majority_share"]) == ("D", 0.625)
    assert block["answer_letters"] == {"A": 1, "B": 1, "C": 1, "D": 5}
    assert block["base"]["correct"] == 3 and block["tuned"]["accuracy"] == 0.75
    assert block["tuned"]["harness_accuracy"] == 0.75
    assert sum(block["base"]["predicted_letters"].values()) == 8
    p = block["paired"]
    assert (p["gained"], p["lost"], p["change"]) == (3, 0, 0.375)
    diffs = [1, 1, 1] + [0] * 5
    sd = math.sqrt(sum((d - 0.375) ** 2 for d in diffs) / 7)
    assert p["ci95"][0] == pytest.approx(0.375 - 1.959964 * sd / math.sqrt(8), abs=1e-4)
    assert p["mcnemar_p"] == pytest.approx(0.25)
    assert paired_change(base, base)["change"] == 0.0
