"""Problems are data until the edge: only the CLI prints them and picks exit codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding at a file position; `line` is 1-based, 0 when it concerns the whole file."""

    path: str
    line: int
    field: str
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class UsageError(Exception):
    """Bad invocation or unreadable input (exit code 2), with a one-line message."""
