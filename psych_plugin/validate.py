"""JSONL files -> problems (path, line, field, message). No printing here.

The valid-row path is: split bytes on newlines, `orjson.loads`, a compiled schema check. Only a
row that fails takes the slow path that explains why (jsonschema, the stdlib json decoder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .problems import Problem, UsageError
from .schema import row_errors, row_is_valid

BOM = b"\xef\xbb\xbf"
BLOCK = 4 << 20  # read 4 MiB at a time: memory stays flat in the file size
MAX_LINE_BYTES = 1 << 20  # a 1 MiB training row is a mistake (a whole book on one line)


@dataclass
class FileReport:
    path: str
    rows: int = 0
    valid_rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in self.problems)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line without its newline), streamed in blocks."""
    lineno = 0
    rest = b""
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                lineno += 1
                yield lineno, raw
    if rest:
        yield lineno + 1, rest


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_line(raw: bytes) -> tuple[object, str | None]:
    """(value, None) or (None, why it is not one JSON value)."""
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        pass
    # Slow path, for a precise message (and for what orjson refuses but JSON allows: huge ints).
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start + 1}"
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            return None, f"truncated JSON: {e.msg.lower()} at column {e.colno}"
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    except ValueError as e:  # NaN / Infinity, and numbers too large to represent
        return None, f"invalid JSON: {e}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"


def _whole_file_array(path: Path, size: int) -> int | None:
    """Row count when the whole file is one JSON array of objects (a common export)."""
    if size > 512 << 20:
        return None
    try:
        value = orjson.loads(path.read_bytes().removeprefix(BOM))
    except (orjson.JSONDecodeError, OSError):
        return None
    return len(value) if isinstance(value, list) else None


def check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a .jsonl file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: permission denied")


def validate_file(path: Path, max_errors: int | None = None) -> FileReport:
    """Check every row of one JSONL file. Raises UsageError when the file cannot be read."""
    check_readable(path)
    name = str(path)
    report = FileReport(name)
    problems = report.problems
    try:
        for lineno, raw in iter_lines(path):
            if lineno == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                problems.append(
                    Problem(name, 1, "-", "UTF-8 byte order mark (BOM) at start of file", "warning")
                )
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            value, why = parse_line(raw) if len(raw) <= MAX_LINE_BYTES else (None, None)
            if why is None and value is not None and row_is_valid(value):
                report.rows += 1
                report.valid_rows += 1
                continue
            if not raw.strip():
                problems.append(Problem(name, lineno, "-", "blank line (ignored)", "warning"))
                continue
            report.rows += 1
            if len(raw) > MAX_LINE_BYTES:
                problems.append(
                    Problem(name, lineno, "-", f"line is {len(raw):,} bytes, over the "
                            f"{MAX_LINE_BYTES:,}-byte limit for one row")
                )
            elif lineno == 1 and raw.lstrip().startswith(b"[") and (
                count := _whole_file_array(path, path.stat().st_size)
            ) is not None:
                report.rows = 0
                problems.append(
                    Problem(name, 1, "-", f"file is one JSON array of {count} rows, not "
                            f"JSON Lines; convert it with: psych fix {name} -o OUT.jsonl")
                )
                return report
            elif why is not None:
                problems.append(Problem(name, lineno, "-", why))
            else:
                for fld, message in row_errors(value):
                    problems.append(Problem(name, lineno, fld, message))
            if max_errors is not None and report.errors >= max_errors:
                return report
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from e
    if report.rows == 0 and not report.errors:
        problems.append(Problem(name, 0, "-", "no rows: the file is empty"))
    return report
