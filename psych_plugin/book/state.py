"""Resumable progress: two sidecars next to OUT. OUT.partial holds the rows so far, each with
where it came from (appended and fsynced after each chunk); OUT.state.json holds the chunks
done, the partial file's committed length and the book's sha256. A killed run resumes from
them. A finished build leaves one sidecar: OUT.sources.jsonl, each row's section, passage and
the critic's notes, line for line (what `psych review` shows beside a row)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..atomic import write_text_atomic
from ..problems import UsageError

STATE_VERSION = 2  # 2: partial records carry the row's source passage


@dataclass
class BuildState:
    book_sha256: str
    settings: dict[str, Any]
    total_chunks: int
    chunks_done: list[int] = field(default_factory=list)
    partial_bytes: int = 0  # the partial file's committed length; anything after is torn
    counts: dict[str, int] = field(default_factory=dict)
    version: int = STATE_VERSION


@dataclass(frozen=True)
class Sidecars:
    out: Path

    @property
    def state(self) -> Path:
        return self.out.with_name(self.out.name + ".state.json")

    @property
    def sources(self) -> Path:
        """Written with OUT, not removed: {"line", "section", "passage", "notes"} per row."""
        return self.out.with_name(self.out.name + ".sources.jsonl")

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".partial")

    def remove(self) -> None:
        # State first: a partial file without state is stale and ignored.
        self.state.unlink(missing_ok=True)
        self.partial.unlink(missing_ok=True)


def load_state(cars: Sidecars, sha: str, settings: dict[str, Any]) -> BuildState | None:
    """The interrupted run to continue, None when there is none; UsageError when it is another
    book's or another command's."""
    if not cars.state.exists():
        return None
    try:
        state = BuildState(**json.loads(cars.state.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise UsageError(f"{cars.state}: unreadable progress file; rerun with --restart") from e
    if state.version != STATE_VERSION:
        raise UsageError(f"{cars.state}: from another version; rerun with --restart")
    if state.book_sha256 != sha:
        raise UsageError(
            f"{cars.state}: an interrupted run of a different book is in progress "
            "for this output; rerun with --restart to start over"
        )
    if state.settings != settings:
        changed = sorted(k for k in settings if settings[k] != state.settings.get(k))
        raise UsageError(
            f"{cars.state}: the interrupted run used other options "
            f"({', '.join(changed)}); repeat them to resume, or --restart"
        )
    size = cars.partial.stat().st_size if cars.partial.exists() else 0  # no rows yet: none
    if size < state.partial_bytes:
        raise UsageError(f"{cars.partial}: shorter than recorded; rerun with --restart")
    return state


def committed_records(cars: Sidecars, state: BuildState) -> list[dict[str, Any]]:
    """Records ({"row", "section", "passage", "notes"}) of the finished chunks; a torn tail
    (killed mid-append) is cut off first."""
    if not cars.partial.exists():
        return []
    os.truncate(cars.partial, state.partial_bytes)
    with open(cars.partial, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def append_records(path: Path, records: list[dict[str, Any]]) -> int:
    """Append and fsync; returns the bytes written."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return len(data)


def save_state(cars: Sidecars, state: BuildState) -> None:
    write_text_atomic(cars.state, json.dumps(asdict(state), indent=1) + "\n")
