"""A review view: N random rows of a JSONL file as a readable table (category, source section,
question, answer), so a person can judge a run in a minute before training on it."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..dataset.rows import load_rows
from ..dataset.validate import check_readable
from ..problems import UsageError

INPUT_CHARS = 160  # enough of an input passage to see what it is about


def _section(source: str) -> str:
    """ "Book: Chapter 6 > Reinforcement" -> "Chapter 6 > Reinforcement": the book name is the
    same on every row and only takes width."""
    return source.split(": ", 1)[1] if ": " in source else source


Numbered = Sequence[tuple[int, dict[str, Any]]]  # (line number, row)


def pick_rows(
    numbered: Numbered, n: int, seed: int, category: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """`n` (line number, row) pairs drawn without replacement, in file order."""
    if category:
        numbered = [(i, r) for i, r in numbered if r.get("category") == category]
    chosen = random.Random(seed).sample(numbered, min(n, len(numbered)))
    return sorted(chosen, key=lambda pair: pair[0])


def print_sample(path: Path, rows: Numbered, n: int, seed: int, category: str | None = None) -> int:
    """Print the table; returns how many rows it shows."""
    from rich.console import Console
    from rich.table import Table

    chosen = pick_rows(rows, n, seed, category)
    what = f" in category {category}" if category else ""
    # A plain line, not the table's title: rich would wrap a long path in the title.
    print(f"{path}: {len(chosen)} random row(s) of {len(rows)}{what} (--seed {seed})", flush=True)
    table = Table(show_lines=True, expand=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("category / section", ratio=1, overflow="fold")
    table.add_column("instruction (input)", ratio=2)
    table.add_column("output", ratio=3)
    for line, row in chosen:
        question = str(row.get("instruction", ""))
        passage = str(row.get("input") or "")
        if passage:
            cut = passage if len(passage) <= INPUT_CHARS else passage[:INPUT_CHARS] + " ..."
            question += f"\n[dim]input: {_escape(cut)}[/dim]"
        section = _escape(_section(str(row.get("source", ""))))
        where = f"[bold]{row.get('category', '-')}[/bold]\n{section}"
        table.add_row(str(line), where, question, _escape(str(row.get("output", ""))))
    Console().print(table)
    return len(chosen)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def sample_file(path: Path, n: int, seed: int | None, category: str | None = None) -> int:
    """`psych sample FILE`: 0, or 1 when the file has invalid rows (nothing is shown: run
    `psych validate` first)."""
    check_readable(path)
    loaded, errors = load_rows(path)
    if errors:
        first = errors[0]
        print(
            f"{first.path}:{first.line}: {first.field}: {first.message} "
            f"({len(errors)} error(s); run: psych validate {path})",
            file=sys.stderr,
        )
        return 1
    if not loaded:
        raise UsageError(f"{path}: no rows")
    if seed is None:
        seed = random.SystemRandom().randrange(10_000)  # printed, so the draw can be repeated
    print_sample(path, [(r.line, r.data) for r in loaded], n, seed, category)
    return 0
