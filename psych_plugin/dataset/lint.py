"""`psych lint`: what a valid dataset can still get wrong. Duplicates, near-duplicates, eval
leakage, rows Axolotl would drop for length; plus balance and length statistics."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import Problem
from ..prompts import PromptSettings, render_row
from .rows import Row, load_rows, prompt_key
from .schema import categories


@dataclass
class LintReport:
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _describe(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": max(values),
    }


def token_lengths(rows: list[Row], tokenizer: Any, settings: Any) -> list[int]:
    """Tokens per row as training sees them: rendered prompt + answer + EOS."""
    pairs = [render_row(settings, tokenizer, r.data) for r in rows]
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    return [len(p) + len(a) + 1 for p, a in zip(prompts, answers, strict=True)]


def category_order(present: Iterable[str]) -> list[str]:
    """The schema's categories in its order, then any others the rows carry, then "(none)"."""
    known = categories()
    extra = sorted(set(present) - set(known) - {"(none)"})
    return [*known, *extra, "(none)"]


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

    stats: dict[str, Any] = {"rows": len(rows)}
    cats = Counter(r.data.get("category") or "(none)" for r in rows)
    stats["categories"] = {c: cats[c] for c in category_order(cats) if cats.get(c)}
    stats["with_input"] = sum(bool((r.data.get("input") or "").strip()) for r in rows)
    stats["with_input_share"] = round(stats["with_input"] / len(rows), 3) if rows else 0.0
    stats["chars"] = {
        k: _describe([len(r.data.get(k) or "") for r in rows])
        for k in ("instruction", "input", "output")
    }
    stats["leaked_into_eval"] = leaked
    if tokenizer is not None and rows:
        lengths = token_lengths(rows, tokenizer, settings or PromptSettings())
        stats["tokens"] = _describe(lengths)
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
