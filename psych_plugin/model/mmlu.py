"""MMLU psychology, base vs base + adapter, through lm-evaluation-harness.

The harness's own tasks (`mmlu_high_school_psychology`, `mmlu_professional_psychology`: its
prompt, its few-shot sampler, its log-likelihood scoring) run on the already loaded model; for
"base" the adapter is switched off, so both are scored in one process on the same weights.
The data comes from the hub (`cais/mmlu`), or offline from a folder of the official CSVs
(`<subject>_<split>.csv`, no header: question, A, B, C, D, answer letter), converted to the
hub's schema so that the harness builds byte-identical prompts either way.

Scores come with what a reader needs to judge them: a 95% Wilson interval per accuracy, the
paired change (tuned - base) with its interval and an exact McNemar test, the chance line
(25%) and the majority-letter line (always answering the most common letter of the questions
asked: 35% of high-school test answers are D).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..logs import silence_noisy_loggers
from ..problems import UsageError

SUBJECTS = ("high_school_psychology", "professional_psychology")
LETTERS = ("A", "B", "C", "D")
CHANCE = 0.25
HUB_DATASET = "cais/mmlu"
SPLITS = ("dev", "test")  # few-shot examples come from dev, as MMLU reports
DEFAULT_SHOTS = 5
Z95 = 1.959964


def task_name(subject: str) -> str:
    return f"mmlu_{subject}"


# ---------------------------------------------------------------- data


def csv_path(mmlu_dir: Path, subject: str, split: str) -> Path:
    """`DIR/<subject>_<split>.csv`, or as in the official tarball, `DIR/<split>/<name>`."""
    name = f"{subject}_{split}.csv"
    for candidate in (mmlu_dir / name, mmlu_dir / split / name):
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"{mmlu_dir}: no {name} (looked in {mmlu_dir}/ and {mmlu_dir / split}/); "
        "--mmlu-dir takes the official MMLU CSV layout"
    )


def read_csv(path: Path, subject: str) -> list[dict[str, Any]]:
    """Rows in the hub's schema (question, subject, choices, answer index). The official files
    mix LF and CRLF and some lack a final newline; the csv module takes both."""
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            start = 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record or all(not cell.strip() for cell in record):
                    continue
                if len(record) != 6:
                    raise UsageError(
                        f"{path}:{line}: record: {len(record)} fields, expected 6 "
                        "(question, A, B, C, D, answer)"
                    )
                answer = record[5].strip().upper()
                if answer not in LETTERS:
                    raise UsageError(
                        f"{path}:{line}: answer: {record[5]!r} is not one of A, B, C, D"
                    )
                if not record[0].strip():
                    raise UsageError(f"{path}:{line}: question: empty")
                rows.append(
                    {
                        "question": record[0],
                        "subject": subject,
                        "choices": record[1:5],
                        "answer": LETTERS.index(answer),
                    }
                )
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except csv.Error as e:
        raise UsageError(f"{path}:{reader.line_num}: record: {e}") from e
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from e
    if not rows:
        raise UsageError(f"{path}: no questions")
    return rows


def read_subject(mmlu_dir: Path, subject: str) -> dict[str, list[dict[str, Any]]]:
    return {split: read_csv(csv_path(mmlu_dir, subject, split), subject) for split in SPLITS}


def _dataset_from_dir(mmlu_dir: Path, subject: str) -> Callable[..., Any]:
    def load(**_: Any) -> Any:
        # The harness calls this with the task's metadata as keyword arguments; none apply.
        import datasets

        return datasets.DatasetDict(
            {
                split: datasets.Dataset.from_list(rows)
                for split, rows in read_subject(mmlu_dir, subject).items()
            }
        )

    return load


# ---------------------------------------------------------------- tasks


def build_tasks(
    subjects: Sequence[str], mmlu_dir: Path | None, shots: int = DEFAULT_SHOTS
) -> dict[str, Any]:
    """{task name: lm_eval Task} with its data loaded. Called before any model is loaded, so a
    missing file or an offline hub stops the run at once with one line."""
    silence_noisy_loggers()  # the harness warns about what we do on purpose
    from datasets.exceptions import DatasetsError
    from lm_eval.tasks import TaskManager, get_task_dict

    for subject in subjects:
        if subject not in SUBJECTS:
            raise UsageError(f"unknown MMLU subject {subject!r} (known: {', '.join(SUBJECTS)})")
        if mmlu_dir is not None:
            dev = read_subject(mmlu_dir, subject)["dev"]
            if shots > len(dev):
                raise UsageError(
                    f"{csv_path(mmlu_dir, subject, 'dev')}: {len(dev)} few-shot questions, "
                    f"fewer than --mmlu-shots {shots}"
                )
    configs: list[str | dict[str, Any]] = [
        (
            {"task": task_name(s), "custom_dataset": _dataset_from_dir(mmlu_dir, s)}
            if mmlu_dir is not None
            else task_name(s)
        )
        for s in subjects
    ]
    import lm_eval.tasks

    # Only the harness's MMLU folder: indexing all of its task files takes about 10 s.
    mmlu_yaml = Path(lm_eval.tasks.__file__).parent / "mmlu" / "default"
    try:
        manager = TaskManager(include_defaults=False, include_path=str(mmlu_yaml))
        return dict(get_task_dict(configs, manager))
    except UsageError:
        raise
    except (OSError, DatasetsError) as e:
        # Not reachable, not cached, offline mode, not found: all OSError (hub, requests,
        # datasets' not-found errors) or datasets' own base class. Anything else is a bug.
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        where = f"{mmlu_dir}" if mmlu_dir is not None else HUB_DATASET
        hint = (
            ""
            if mmlu_dir is not None
            else "; offline, give --mmlu-dir DIR with the official CSVs "
            "(DIR/high_school_psychology_test.csv, ..._dev.csv, ...)"
        )
        raise UsageError(f"MMLU data: cannot load {where} ({first[:200]}){hint}") from e


# ---------------------------------------------------------------- scoring


@dataclass
class Question:
    doc_id: int
    answer: int
    logliks: list[float]
    correct: bool

    @property
    def predicted(self) -> int:
        return max(range(len(self.logliks)), key=lambda i: self.logliks[i])


def score(
    lm_model: Any,
    tokenizer: Any,
    tasks: dict[str, Any],
    *,
    shots: int = DEFAULT_SHOTS,
    batch_size: int | str = 8,
    limit: int | None = None,
) -> dict[str, tuple[list[Question], float]]:
    """{task: (questions, harness accuracy)}: lm_eval's evaluator on a loaded model
    (transformers or PEFT) with per-question log-likelihoods of the four answer letters."""
    silence_noisy_loggers()  # the harness warns about what we do on purpose
    from lm_eval.evaluator import evaluate as harness_evaluate
    from lm_eval.models.huggingface import HFLM

    # A loaded model, not a name: HFLM's own PEFT path resizes the embeddings to the
    # tokenizer's length (151,669 rows for Qwen3, whose config pads to 151,936) before it loads
    # the adapter, so "tuned" would run on different base weights than "base".
    lm = HFLM(pretrained=lm_model, tokenizer=tokenizer, batch_size=batch_size)
    # What simple_evaluate does to the tasks (few-shot count, its default sampler seed), without
    # its extras: it re-indexes every task file of the harness and runs torch's collect_env
    # (pip in a subprocess), about 20 s per call on 2 cores.
    for task in tasks.values():
        task.set_config(key="num_fewshot", value=shots)
        task.set_fewshot_seed(seed=1234)
    out = harness_evaluate(
        lm=lm,
        task_dict=tasks,
        limit=limit,
        log_samples=True,
        bootstrap_iters=0,
        verbosity="ERROR",
    )
    if out is None:
        raise RuntimeError("lm_eval returned no results")
    result = {}
    for name in tasks:
        questions = [
            Question(
                doc_id=int(s["doc_id"]),
                answer=int(s["target"]),
                logliks=[float(ll) for ll, _greedy in s["filtered_resps"]],
                correct=bool(s["acc"]),
            )
            for s in sorted(out["samples"][name], key=lambda s: int(s["doc_id"]))
        ]
        result[name] = (questions, float(out["results"][name]["acc,none"]))
    return result


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound near 0 and 1, unlike p +- z*se)."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_p(gained: int, lost: int) -> float:
    """Exact two-sided McNemar p-value: questions only tuned got right vs only base got right."""
    n = gained + lost
    if n == 0:
        return 1.0
    k = min(gained, lost)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_change(base: list[Question], tuned: list[Question]) -> dict[str, Any]:
    """tuned - base accuracy on the same questions, with a 95% interval from the paired
    differences (much tighter than two independent intervals) and McNemar's test."""
    diffs = [int(t.correct) - int(b.correct) for b, t in zip(base, tuned, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n if n else 0.0
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    half = Z95 * math.sqrt(var / n) if n else 0.0
    gained, lost = diffs.count(1), diffs.count(-1)
    return {
        "change": round(mean, 4),
        "ci95": [round(mean - half, 4), round(mean + half, 4)],
        "gained": gained,
        "lost": lost,
        "mcnemar_p": round(mcnemar_p(gained, lost), 4),
    }


def summarise_model(questions: list[Question], harness_acc: float) -> dict[str, Any]:
    n = len(questions)
    correct = sum(q.correct for q in questions)
    lo, hi = wilson(correct, n)
    picked = Counter(LETTERS[q.predicted] for q in questions)
    return {
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "ci95": [round(lo, 4), round(hi, 4)],
        "harness_accuracy": round(harness_acc, 4),
        "predicted_letters": {letter: picked.get(letter, 0) for letter in LETTERS},
    }


def summarise_subject(per_model: dict[str, tuple[list[Question], float]]) -> dict[str, Any]:
    """One subject's block of eval.json (without the per-question details)."""
    any_model = next(iter(per_model.values()))[0]
    answers = Counter(LETTERS[q.answer] for q in any_model)
    letter, count = max(sorted(answers.items()), key=lambda kv: kv[1])
    n = len(any_model)
    block: dict[str, Any] = {
        "questions": n,
        "chance": CHANCE,
        "majority_letter": letter,
        "majority_share": round(count / n, 4) if n else 0.0,
        "answer_letters": {x: answers.get(x, 0) for x in LETTERS},
    }
    for name, (questions, acc) in per_model.items():
        block[name] = summarise_model(questions, acc)
    if "base" in per_model and "tuned" in per_model:
        block["paired"] = paired_change(per_model["base"][0], per_model["tuned"][0])
    return block


def question_records(
    subject: str, per_model: dict[str, tuple[list[Question], float]]
) -> list[dict[str, Any]]:
    """Per-question lines for mmlu_questions.jsonl: the letter log-likelihoods of each model."""
    names = list(per_model)
    first = per_model[names[0]][0]
    records = []
    for i, q in enumerate(first):
        rec: dict[str, Any] = {"subject": subject, "doc_id": q.doc_id, "answer": LETTERS[q.answer]}
        for name in names:
            mq = per_model[name][0][i]
            rec[name] = {
                "predicted": LETTERS[mq.predicted],
                "correct": mq.correct,
                "logliks": [round(x, 6) for x in mq.logliks],
            }
        records.append(rec)
    return records


def evaluate_mmlu(
    model: Any,
    tokenizer: Any,
    tasks: dict[str, Any],
    *,
    use_adapter: bool,
    shots: int = DEFAULT_SHOTS,
    batch_size: int | str = 8,
    limit: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary per subject, per-question records); "base" runs with the adapter disabled."""
    import contextlib

    scored: dict[str, dict[str, tuple[list[Question], float]]] = {}
    for name in ("base", "tuned") if use_adapter else ("base",):
        ctx = (
            model.disable_adapter() if use_adapter and name == "base" else contextlib.nullcontext()
        )
        with ctx:
            for task, result in score(
                model, tokenizer, tasks, shots=shots, batch_size=batch_size, limit=limit
            ).items():
                scored.setdefault(task, {})[name] = result
    summary: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for task, per_model in scored.items():
        subject = task.removeprefix("mmlu_")
        summary[subject] = summarise_subject(per_model)
        records += question_records(subject, per_model)
    return summary, records
