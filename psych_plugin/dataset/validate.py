"""JSONL files -> problems (path, line, field, message). No printing here.

The valid-row path is: split bytes on newlines, `orjson.loads`, a compiled schema check. Only a
row that fails takes the slow path that explains why (jsonschema, the stdlib json decoder).
Large files are split at line boundaries and checked on several cores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..problems import Problem, UsageError
from .schema import row_errors, row_is_valid

BOM = b"\xef\xbb\xbf"
BLOCK = 4 << 20  # read 4 MiB at a time: memory stays flat in the file size
MAX_LINE_BYTES = 1 << 20  # a 1 MiB training row is a mistake (a whole book on one line)
SPAN_BYTES = 64 << 20  # a unit of work (and of progress) on large files
PARALLEL_MIN_BYTES = 32 << 20  # below this, starting worker processes costs more than it saves


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


def iter_lines(path: Path, start: int, end: int | None = None) -> Iterator[bytes]:
    """Raw lines of the byte range [start, end), each with its newline (orjson treats it as
    whitespace), streamed by the buffered reader: memory stays flat in the file size."""
    # (no mutate: the buffer size is speed only, measured by make bench)
    with open(path, "rb", buffering=BLOCK) as f:  # pragma: no mutate
        f.seek(start)
        if end is None:
            yield from f
            return
        left = end - start
        for raw in f:
            yield raw
            left -= len(raw)
            # Spans start and end at line starts, so `left` reaches exactly 0 (no mutate).
            if left <= 0:  # pragma: no mutate
                return


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
        text = raw.decode("utf-8")  # pragma: no mutate (UTF-8 is UTF-8 in any spelling)
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


def _whole_file_array(path: Path) -> int | None:
    """Row count when the whole file is one JSON array (a common export), else None."""
    # (no mutate: a limit on what is read whole; no test writes half a gigabyte)
    if path.stat().st_size > 512 << 20:  # pragma: no mutate
        return None
    try:
        value = orjson.loads(path.read_bytes().removeprefix(BOM))
    except (orjson.JSONDecodeError, OSError):
        return None
    # Only asked when the text starts with "[": what parses is an array.
    return len(value) if isinstance(value, list) else None  # pragma: no mutate


def check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a .jsonl file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: permission denied")


@dataclass
class _Span:
    lines: int = 0
    rows: int = 0
    valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    whole_file_array: bool = False


def _explain(name: str, path: Path, lineno: int, raw: bytes, first: bool, span: _Span) -> None:
    """The slow path: why line `lineno` is not a valid row (or a warning that it is fine)."""
    add = span.problems.append
    raw = raw.removesuffix(b"\n")
    if first and lineno == 1 and raw.startswith(BOM):
        add(Problem(name, 1, "-", "UTF-8 byte order mark (BOM) at start of file", "warning"))
        raw = raw[len(BOM) :]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if not raw.strip():
        add(Problem(name, lineno, "-", "blank line (ignored)", "warning"))
        return
    span.rows += 1
    if len(raw) > MAX_LINE_BYTES:
        add(
            Problem(
                name,
                lineno,
                "-",
                f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one row",
            )
        )
        return
    value, why = parse_line(raw)
    if why is None and row_is_valid(value):
        span.valid += 1
        return
    if first and lineno == 1 and raw.lstrip().startswith(b"["):
        count = _whole_file_array(path)
        if count is not None:
            span.whole_file_array = True
            add(
                Problem(
                    name,
                    1,
                    "-",
                    f"file is one JSON array of {count} rows, not JSON "
                    f"Lines; convert it with: psych fix {name} -o OUT.jsonl",
                )
            )
            return
    if why is not None:
        add(Problem(name, lineno, "-", why))
        return
    for fld, message in row_errors(value):
        add(Problem(name, lineno, fld, message))


def _validate_span(
    path: Path, start: int, end: int | None, first: bool, max_errors: int | None
) -> _Span:
    name = str(path)
    span = _Span()
    loads, is_valid, bad = orjson.loads, row_is_valid, orjson.JSONDecodeError
    # + its newline. (no mutate: a row past it takes the one-by-one path, same verdict)
    limit = MAX_LINE_BYTES + 1  # pragma: no mutate
    fast_valid = 0
    lineno = 0
    for lineno, raw in enumerate(iter_lines(path, start, end), start=1):  # noqa: B007
        # Hot path: one parse, one compiled check. orjson treats a trailing \r\n as whitespace.
        try:
            if is_valid(loads(raw)) and len(raw) <= limit:
                fast_valid += 1
                continue
        except bad:
            pass
        _explain(name, path, lineno, raw, first, span)
        if span.whole_file_array:
            break
        if (
            max_errors is not None
            and sum(p.severity == "error" for p in span.problems) >= max_errors
        ):
            break
    span.rows += fast_valid
    span.valid += fast_valid
    span.lines = lineno
    return span


def _split_points(path: Path, parts: int) -> list[int]:
    """Byte offsets that start lines, dividing the file into about `parts` equal spans."""
    size = path.stat().st_size
    points = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(size * i // parts, points[-1]))
            f.readline()  # move to the start of the next line
            pos = f.tell()
            if pos < size and pos > points[-1]:
                points.append(pos)
    return points


def default_workers() -> int:
    return max(
        1,
        min(
            4,
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1),
        ),
    )


def validate_file(
    path: Path,
    max_errors: int | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FileReport:
    """Check every row of one JSONL file. Raises UsageError when the file cannot be read.

    The file is checked in spans of about SPAN_BYTES (on several cores when it is large);
    `progress(nbytes)` is called as each span finishes.
    """
    check_readable(path)
    name = str(path)
    workers = default_workers() if workers is None else max(1, workers)
    try:
        size = path.stat().st_size
        parallel = workers > 1 and size >= PARALLEL_MIN_BYTES
        parts = max(workers if parallel else 1, -(-size // SPAN_BYTES))
        points = _split_points(path, parts) if parts > 1 else [0]
        bounds = list(zip(points, [*points[1:], None], strict=True))

        def done(i: int) -> None:
            if progress is not None:
                start, end = bounds[i]
                progress((end if end is not None else size) - start)

        spans: list[_Span] = []
        if parallel:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(_validate_span, path, s, e, i == 0, max_errors): i
                    for i, (s, e) in enumerate(bounds)
                }
                for future in as_completed(futures):
                    done(futures[future])
                by_index = {i: f.result() for f, i in futures.items()}
                spans = [by_index[i] for i in range(len(bounds))]
        else:
            errors = 0
            for i, (s, e) in enumerate(bounds):
                # (no mutate: max_errors here only stops reading early; the report is cut below)
                span = _validate_span(path, s, e, i == 0, max_errors)  # pragma: no mutate
                spans.append(span)
                done(i)
                errors += sum(p.severity == "error" for p in span.problems)
                if span.whole_file_array or (max_errors is not None and errors >= max_errors):
                    break
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from e
    report = FileReport(name)
    offset = 0
    for span in spans:
        report.rows += span.rows
        report.valid_rows += span.valid
        for p in span.problems:
            report.problems.append(
                Problem(p.path, p.line + offset, p.field, p.message, p.severity) if offset else p
            )
        offset += span.lines
        if span.whole_file_array:
            report.rows = 0
            break
    if max_errors is not None and report.errors > max_errors:
        kept, errors = [], 0
        for p in report.problems:
            errors += p.severity == "error"
            if errors > max_errors:
                break
            kept.append(p)
        report.problems = kept
    if report.rows == 0 and not report.errors:
        report.problems.append(Problem(name, 0, "-", "no rows: the file is empty"))
    return report
