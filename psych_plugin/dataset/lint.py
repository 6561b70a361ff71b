"""`psych lint`: what a valid dataset can still get wrong. Duplicates, near-duplicates, eval
leakage, rows Axolotl would drop for length; with the statistics of stats.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import Problem
from ..prompts import PromptSettings
from .rows import Row, load_rows, prompt_key
from .stats import dataset_stats, describe, token_lengths


@dataclass
class LintReport:
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def lint(
    paths: list[Path],
    eval_path: Path | list[Path] | None = None,
    tokenizer: Any = None,
    sequence_len: int | None = None,
    settings: Any = None,
    unseen: list[Path] | None = None,
) -> LintReport:
    """Problems and statistics of the rows in `paths`. `eval_path`: held-out files checked for
    leaked prompts; `unseen`: held-out files that must also share no named study, case or key
    term with the rows (dataset/split.py), beyond the leakage check."""
    report = LintReport()
    rows: list[Row] = []
    for path in paths:
        loaded, errors = load_rows(path)
        report.problems.extend(errors)
        rows.extend(loaded)

    def warn(row: Row, field_: str, message: str) -> None:
        report.problems.append(Problem(row.path, row.line, field_, message, "warning"))

    exact: dict[tuple[str, str, str], Row] = {}
    near: dict[str, Row] = {}
    for row in rows:
        d = row.data
        ekey = (d["instruction"], d.get("input") or "", d["output"])
        if ekey in exact:
            first = exact[ekey]
            warn(row, "-", f"exact duplicate of {first.path}:{first.line}")
            continue
        exact[ekey] = row
        nkey = prompt_key(d)
        if nkey in near:
            first = near[nkey]
            warn(
                row,
                "instruction",
                f"near-duplicate of {first.path}:{first.line} (same "
                "instruction and input after normalising case, punctuation and spacing)",
            )
        else:
            near[nkey] = row

    leaked = 0
    held_out = [eval_path] if isinstance(eval_path, Path) else list(eval_path or [])
    held_out += [p for p in unseen or [] if p not in held_out]
    eval_keys: dict[str, Row] = {}
    for path in held_out:
        eval_rows, errors = load_rows(path)
        report.problems.extend(errors)
        for r in eval_rows:
            eval_keys.setdefault(prompt_key(r.data), r)
        if path in (unseen or []) and eval_rows:
            from .split import split_problems

            train = [r.data for r in rows]
            report.problems.extend(split_problems(train, [r.data for r in eval_rows], str(path)))
    if eval_keys:
        for row in rows:
            hit = eval_keys.get(prompt_key(row.data))
            if hit is not None:
                leaked += 1
                warn(
                    row,
                    "instruction",
                    f"also in the eval file at {hit.path}:{hit.line} "
                    "(leakage: the eval score would be inflated)",
                )

    stats = dataset_stats(rows)
    stats["leaked_into_eval"] = leaked
    if tokenizer is not None and rows:
        lengths = token_lengths(rows, tokenizer, settings or PromptSettings())
        stats["tokens"] = describe(lengths)
        if sequence_len:
            over = 0
            for row, n in zip(rows, lengths, strict=True):
                if n > sequence_len:
                    over += 1
                    warn(
                        row,
                        "-",
                        f"{n} tokens > sequence_len {sequence_len}: Axolotl drops "
                        "or truncates this row (excess_length_strategy)",
                    )
            stats["over_sequence_len"] = over
    report.stats = stats
    report.problems.sort(key=lambda p: (p.path, p.line))
    return report
