"""A row as the builder makes it, and the filter that decides which rows are kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dataset.rows import prompt_key
from ..dataset.schema import row_is_valid


def make_row(
    instruction: str, input_: str, output: str, category: str, source: str
) -> dict[str, str]:
    """A row in the schema's field order, its text fields stripped."""
    return {
        "instruction": instruction.strip(),
        "input": input_.strip(),
        "output": output.strip(),
        "category": category,
        "source": source,
    }


@dataclass
class RowFilter:
    """Drops exact duplicates, near-duplicates (lint.prompt_key) and rows in the eval file."""

    eval_keys: frozenset[str] = frozenset()
    exact: set[tuple[str, str, str]] = field(default_factory=set)
    near: set[str] = field(default_factory=set)

    def verdict(self, row: dict[str, str]) -> str:
        """ "ok" (and remembered), or why the row is dropped."""
        if not row_is_valid(row):
            return "invalid"
        ekey = (row["instruction"], row["input"], row["output"])
        if ekey in self.exact:
            return "duplicates"
        nkey = prompt_key(row)
        if nkey in self.near:
            return "near_duplicates"
        if nkey in self.eval_keys:
            return "in_eval"
        self.exact.add(ekey)
        self.near.add(nkey)
        return "ok"
