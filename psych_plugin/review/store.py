"""The review's state: the input rows, the decisions journal and the output file.

The journal (`OUT.decisions.jsonl`, next to the output) is the record; the output is derived
from it. Each decision is appended and fsynced before it is acknowledged, then the output is
rewritten atomically, so a killed server or a closed tab loses nothing: the next start replays
the journal and resumes.

A decision names its row by line number and a hash of the line's bytes: a row whose content
changed since the decision (the input was edited or rebuilt) is unreviewed again, and a row that
only moved (lines added above it) keeps its decision when its content is unique in the file.

Each row has a revision, the number of decisions made on it. A decision states the revision it
was based on; a stale one (another tab decided first) is refused with `Conflict`, never applied
over the other silently.

The output is never written over a file that review did not write: every journal entry records
the sha256 of the output it leads to, and at start an existing output must match the last one
(or the one before, when a kill fell between the journal append and the output write).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import check_writable, write_text_atomic
from ..dataset.schema import row_errors, row_is_valid
from ..dataset.validate import check_readable, parse_line
from ..problems import Problem, UsageError
from ..report import format_problem

JOURNAL_VERSION = 1
JOURNAL_SUFFIX = ".decisions.jsonl"
BOM = b"\xef\xbb\xbf"
ACTIONS = ("keep", "drop", "edit", "reset")
# Status of a row after each action; "reset" makes it unreviewed again.
STATUS = {"keep": "kept", "drop": "dropped", "edit": "edited", "reset": "unreviewed"}
STATUSES = ("unreviewed", "kept", "dropped", "edited")


def journal_path(output: Path) -> Path:
    return output.with_name(output.name + JOURNAL_SUFFIX)


def default_output(rows: Path) -> Path:
    """rows.jsonl -> rows.reviewed.jsonl, next to it."""
    return rows.with_name(f"{rows.stem}.reviewed{rows.suffix or '.jsonl'}")


def _digest(raw: bytes) -> str:
    # 16 hex digits: the journal only tells one line's content from another's.
    return hashlib.sha256(raw).hexdigest()[:16]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class InputRow:
    line: int  # 1-based line number in the input file
    text: str  # the line as written (no newline, CR or BOM): a kept row is copied as is
    data: dict[str, Any]
    digest: str
    problems: list[str]  # how the row breaks the schema, as `psych validate` prints it


def read_rows(path: Path) -> tuple[list[InputRow], list[Problem]]:
    """The rows of a JSON Lines file, or the problems that stop reviewing it (a line that is
    not JSON, or not an object). Rows that break the schema are returned with their problems:
    the reviewer sees them and must edit or drop them."""
    check_readable(path)
    name = str(path)
    rows: list[InputRow] = []
    problems: list[Problem] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            raw = raw.removesuffix(b"\n").removesuffix(b"\r")
            if lineno == 1:
                raw = raw.removeprefix(BOM)
            if not raw.strip():
                continue
            value, why = parse_line(raw)
            if why is not None:
                problems.append(Problem(name, lineno, "-", why))
                continue
            if not isinstance(value, dict):
                problems.append(Problem(name, lineno, "-", "expected a JSON object"))
                continue
            found = [] if row_is_valid(value) else _problems(name, lineno, value)
            rows.append(InputRow(lineno, raw.decode("utf-8"), value, _digest(raw), found))
    if not rows and not problems:
        problems.append(Problem(name, 0, "-", "no rows: the file is empty"))
    return rows, problems


def _problems(name: str, line: int, row: object) -> list[str]:
    return [format_problem(Problem(name, line, f, m)) for f, m in row_errors(row)]


@dataclass
class Decision:
    action: str  # keep, drop or edit (a reset removes the decision)
    row: dict[str, Any] | None = None  # the edited row


@dataclass
class RowState:
    rev: int = 0  # decisions made on this row so far
    decision: Decision | None = None

    @property
    def status(self) -> str:
        return STATUS[self.decision.action] if self.decision else "unreviewed"


class Conflict(Exception):
    """The decision was based on an older revision of the row (another tab decided first)."""


class Rejected(Exception):
    """The row the decision would write breaks the schema; `problems` says how."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Replay:
    """What the journal held at start."""

    decisions: int = 0
    stale: int = 0  # decisions on rows whose content has changed since: unreviewed again
    moved: int = 0  # decisions found again on another line (same content)
    torn: bool = False  # a half-written last entry (killed mid-write), dropped
    outputs: list[str] = field(default_factory=list)  # output sha256s, oldest first


class ReviewStore:
    """Rows, their decisions and the output. Not thread-safe: the app serialises calls."""

    def __init__(
        self,
        rows_path: Path,
        rows: list[InputRow],
        output: Path,
        *,
        force: bool = False,
        restart: bool = False,
    ) -> None:
        self.rows_path = rows_path
        self.output = output
        self.journal = journal_path(output)
        if output.resolve() == rows_path.resolve():
            raise UsageError(f"{output}: the output must not be the input (it is never modified)")
        if self.journal.resolve() == rows_path.resolve():
            raise UsageError(f"{rows_path}: is a review journal, not rows to review")
        check_writable(output)  # before serving: every decision is written there
        self.rows = rows
        self.by_line = {r.line: r for r in rows}
        self.state = {r.line: RowState() for r in rows}
        if restart and self.journal.exists():
            # Starting over the review that wrote this output: it may be replaced.
            self.journal.unlink()
            force = True
        self.replay = self._load_journal()
        self._check_output(force)
        if self.replay.decisions or output.exists():
            self._sync_output()

    # -- the journal

    def _header(self) -> dict[str, Any]:
        return {"psych_review": JOURNAL_VERSION, "input": str(self.rows_path.resolve())}

    def _load_journal(self) -> Replay:
        replay = Replay()
        if not self.journal.exists():
            return replay
        data = self.journal.read_bytes()
        # An entry is one write ending in a newline: text after the last newline is an append
        # cut short by a kill, a decision never acknowledged. It is dropped.
        complete = data[: data.rfind(b"\n") + 1]
        if data[len(complete) :].strip():
            replay.torn = True
            with open(self.journal, "r+b") as f:
                f.truncate(len(complete))
                os.fsync(f.fileno())
        entries: list[tuple[int, dict[str, Any]]] = []
        for i, raw in enumerate(complete.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError as e:
                entry = e
            if not isinstance(entry, dict):
                raise UsageError(
                    f"{self.journal}:{i}: unreadable review journal entry; "
                    "rerun with --restart to discard the decisions"
                )
            entries.append((i, entry))
        if not entries:
            self.journal.unlink()
            return replay
        header = entries[0][1]
        if header.get("psych_review") != JOURNAL_VERSION:
            raise UsageError(
                f"{self.journal}: not a psych review journal of this version; "
                "rerun with --restart to discard it"
            )
        unique = Counter(r.digest for r in self.rows)
        by_digest = {r.digest: r.line for r in self.rows if unique[r.digest] == 1}
        for i, entry in entries[1:]:
            if "out" in entry:
                replay.outputs.append(str(entry["out"]))
            if "action" not in entry:
                continue  # an output record only
            action, line, digest = entry.get("action"), entry.get("line"), entry.get("sha")
            edited = entry.get("row")
            if (
                action not in ACTIONS
                or not isinstance(line, int)
                or (action == "edit") != isinstance(edited, dict)
            ):
                raise UsageError(
                    f"{self.journal}:{i}: unknown review journal entry; "
                    "rerun with --restart to discard the decisions"
                )
            replay.decisions += 1
            row = self.by_line.get(line)
            if row is None or row.digest != digest:
                if digest not in by_digest:
                    replay.stale += 1
                    continue
                row = self.by_line[by_digest[digest]]
                replay.moved += 1
            self._apply(row.line, action, edited)
        # Another path is fine when the rows are the same (a moved folder, a rebuilt file):
        # decisions follow the rows' content. Not one decision matching: another file.
        if header.get("input") != self._header()["input"] and replay.stale == replay.decisions > 0:
            raise UsageError(
                f"{self.journal}: holds the review of {header.get('input')}, whose rows are "
                f"not in {self.rows_path}; choose another -o, or --restart to discard it"
            )
        return replay

    def _apply(self, line: int, action: str, row: dict[str, Any] | None) -> None:
        st = self.state[line]
        st.rev += 1
        st.decision = None if action == "reset" else Decision(action, row)

    def _append(self, entry: dict[str, Any]) -> None:
        text = ""
        if not self.journal.exists():
            text = json.dumps(self._header()) + "\n"
        text += json.dumps(entry, ensure_ascii=False) + "\n"
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- the output

    def _check_output(self, force: bool) -> None:
        if force or not self.output.exists():
            return
        if not self.replay.outputs:
            raise UsageError(
                f"{self.output}: exists and was not written by psych review; --force overwrites it"
            )
        if _sha256(self.output.read_bytes()) not in self.replay.outputs[-2:]:
            raise UsageError(
                f"{self.output}: changed since psych review wrote it; --force overwrites it"
            )

    def render_output(self) -> str:
        """The kept and edited rows, in input order: a kept row exactly as in the input."""
        lines = []
        for r in self.rows:
            d = self.state[r.line].decision
            if d is None or d.action == "drop":
                continue
            lines.append(r.text if d.action == "keep" else json.dumps(d.row, ensure_ascii=False))
        return "".join(line + "\n" for line in lines)

    def _sync_output(self) -> None:
        """At start: bring the output in line with the journal (a kill between the journal
        append and the output write, an input that changed, a --force over another file)."""
        data = self.render_output().encode("utf-8")
        sha = _sha256(data)
        if not self.replay.outputs or self.replay.outputs[-1] != sha:
            self._append({"out": sha})
            self.replay.outputs.append(sha)
        if not self.output.exists() or self.output.read_bytes() != data:
            write_text_atomic(self.output, data.decode("utf-8"))

    # -- decisions

    def decide(
        self,
        line: int,
        action: str,
        base: int,
        digest: str | None = None,
        row: object = None,
    ) -> RowState:
        """Record one decision on the row at `line`, based on revision `base`. Raises KeyError
        (no such row), ValueError (bad request), Conflict (stale base or changed row) or
        Rejected (the resulting row breaks the schema)."""
        target = self.by_line[line]
        st = self.state[line]
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
        if digest is not None and digest != target.digest:
            raise Conflict(f"line {line} of {self.rows_path} is another row now")
        if base != st.rev:
            raise Conflict(
                f"line {line} was decided elsewhere (revision {st.rev}, this page had {base})"
            )
        edited: dict[str, Any] | None = None
        if action == "edit":
            if not isinstance(row, dict):
                raise ValueError("an edit needs the row as a JSON object")
            if row == target.data:
                action = "keep"  # saved without a change
            else:
                found = _problems(str(self.rows_path), line, row)
                if found:
                    raise Rejected(found)
                edited = row
        if action == "keep" and target.problems:
            raise Rejected(target.problems)
        previous = (st.rev, st.decision)
        self._apply(line, action, edited)
        text = self.render_output()
        entry: dict[str, Any] = {"line": line, "sha": target.digest, "action": action}
        if edited is not None:
            entry["row"] = edited
        entry["base"] = base
        entry["out"] = _sha256(text.encode("utf-8"))
        try:
            self._append(entry)
        except OSError:
            st.rev, st.decision = previous  # not recorded: not acknowledged
            raise
        write_text_atomic(self.output, text)
        return st

    # -- views

    def counts(self) -> dict[str, int]:
        c = Counter(st.status for st in self.state.values())
        out = {s: c.get(s, 0) for s in STATUSES}
        out["total"] = len(self.rows)
        out["reviewed"] = out["total"] - out["unreviewed"]
        return out

    def view(self, line: int) -> dict[str, Any]:
        r, st = self.by_line[line], self.state[line]
        d = st.decision
        return {
            "line": line,
            "sha": r.digest,
            "rev": st.rev,
            "status": st.status,
            "row": r.data,
            "edited": d.row if d and d.action == "edit" else None,
            "problems": r.problems,
        }

    def index(self) -> list[list[Any]]:
        """[line, status, category, revision] per row, in input order: what the page filters
        and navigates with (small enough for tens of thousands of rows)."""
        out = []
        for r in self.rows:
            st = self.state[r.line]
            row = st.decision.row if st.decision and st.decision.row else r.data
            cat = row.get("category")
            out.append([r.line, st.status, cat if isinstance(cat, str) else None, st.rev])
        return out
