"""`psych fix IN -o OUT`: normalise a dataset into a new file (never in place).

BOM and CRLF removed, a whole-file JSON array turned into JSON Lines, blank lines dropped,
surrounding whitespace stripped from string fields. Rows still invalid afterwards are reported
and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..atomic import write_text_atomic
from ..problems import Problem, UsageError
from .schema import row_errors, row_is_valid
from .validate import BOM, check_readable, parse_line


@dataclass
class FixResult:
    rows: int = 0
    changes: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.changes[what] = self.changes.get(what, 0) + n


def _strip_strings(row: dict[str, Any], result: FixResult) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, str) and value != value.strip():
            value = value.strip()
            result.count("stripped whitespace")
        out[key] = value
    return out


def _records(path: Path, data: bytes, result: FixResult) -> list[tuple[int, object]]:
    if data.startswith(BOM):
        data = data[len(BOM) :]
        result.count("removed BOM")
    if data.lstrip().startswith(b"["):
        try:
            whole = orjson.loads(data)
        except orjson.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            result.count("converted JSON array to JSON Lines")
            return [(i + 1, row) for i, row in enumerate(whole)]
    records: list[tuple[int, object]] = []
    chunks = data.split(b"\n")
    if chunks[-1] == b"":
        chunks.pop()  # the final newline ends the last row; it is not a blank line
    for lineno, raw in enumerate(chunks, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
            result.count("converted CRLF to LF")
        if not raw.strip():
            result.count("dropped blank lines")
            continue
        value, why = parse_line(raw)
        if why is not None:
            result.problems.append(Problem(str(path), lineno, "-", why))
            continue
        records.append((lineno, value))
    return records


def fix_file(src: Path, dst: Path, force: bool = False) -> FixResult:
    check_readable(src)
    if dst.resolve() == src.resolve():
        raise UsageError(f"{dst}: the output must be a new file, not the input")
    if dst.exists() and not force:
        raise UsageError(f"{dst}: exists; not overwriting it without --force")
    result = FixResult()
    try:
        data = src.read_bytes()
    except OSError as e:
        raise UsageError(f"{src}: {e.strerror or e}") from e
    lines = []
    for lineno, value in _records(src, data, result):
        if isinstance(value, dict):
            value = _strip_strings(value, result)
        if not row_is_valid(value):
            for fld, message in row_errors(value):
                result.problems.append(Problem(str(src), lineno, fld, message))
            continue
        lines.append(json.dumps(value, ensure_ascii=False))
    result.rows = len(lines)
    if not lines and not result.problems:
        result.problems.append(Problem(str(src), 0, "-", "no rows: the file is empty"))
    if not result.problems:
        write_text_atomic(dst, "\n".join(lines) + "\n")
    return result
