"""Problems are data until the edge: only the CLI prints them and picks exit codes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

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


def read_json_object(path: Path, what: str, error: type[UsageError] = UsageError) -> dict[str, Any]:
    """The JSON object in `path`; `error` (a UsageError) naming the file and `what` it should
    be when it is not readable text, not JSON, or not an object. A missing file raises
    OSError as usual: callers say what to run to make it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{path}: not a readable {what} ({e})") from e
    if not isinstance(data, dict):
        raise error(f"{path}: not a readable {what} (expected an object)")
    return data
