"""What a reviewer reads beside a row: the book passage it came from and any reviewer notes.

Rows cannot carry these (the schema allows no extra fields), so they come from outside the row:

1. A sidecar next to the rows, `ROWS.jsonl.sources.jsonl`, one JSON object per line:
   `{"line": N, "section": "...", "passage": "...", "notes": ["...", ...]}` where N is the
   row's line number in ROWS.jsonl; every key but `line` is optional (`notes` may be a string).
2. `--book BOOK.md`: the passage under the heading that the row's `source` names last
   ("Book: Chapter > Section" -> the text under the heading "Section").

The sidecar wins for the rows it names; a row found in neither shows without a passage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..problems import UsageError

SIDECAR_SUFFIX = ".sources.jsonl"
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MARKUP = re.compile(r"[*_`]+")


def sidecar_path(rows: Path) -> Path:
    return rows.with_name(rows.name + SIDECAR_SUFFIX)


def _key(title: str) -> str:
    """Headings compare without Markdown emphasis, case or spacing differences."""
    return " ".join(_MARKUP.sub("", title).casefold().split())


def section_of(source: str) -> str:
    """ "Book: Chapter 6 > Reinforcement" -> "Reinforcement" (the deepest heading named)."""
    where = source.split(": ", 1)[1] if ": " in source else source
    return where.rsplit(" > ", 1)[-1].strip()


@dataclass
class Source:
    section: str | None = None
    passage: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "passage": self.passage, "notes": self.notes}


def read_sidecar(path: Path) -> dict[int, Source]:
    """Line number -> source, from a sidecar file; a bad line is a UsageError naming it."""
    out: dict[int, Source] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, start=1):
            if not text.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                entry = json.loads(text)
            except ValueError as e:
                raise UsageError(f"{where}: invalid JSON in the sources file ({e})") from e
            if not isinstance(entry, dict) or not isinstance(entry.get("line"), int):
                raise UsageError(f"{where}: line: expected an object with an integer 'line'")
            for key in ("section", "passage"):
                if entry.get(key) is not None and not isinstance(entry[key], str):
                    raise UsageError(f"{where}: {key}: expected a string")
            notes = entry.get("notes") or []
            notes = [notes] if isinstance(notes, str) else notes
            if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
                raise UsageError(f"{where}: notes: expected a string or a list of strings")
            out[entry["line"]] = Source(entry.get("section"), entry.get("passage"), notes)
    return out


def book_sections(text: str) -> dict[str, str]:
    """Heading (compared by `_key`) -> the text under it, up to the next heading. A heading
    straight followed by a subheading ("## Conditioning" then "### Objectives") takes its
    subsections, up to the next heading of its own level or above. Markdown headings; in a
    plain-text book, a short standalone line in capitals is a heading."""
    lines = text.splitlines()
    marks: list[tuple[int, int, str]] = []  # (line index, level, heading title)
    fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fence = not fence
        m = None if fence else _MD_HEADING.match(line)
        if m:
            marks.append((i, len(m.group(1)), m.group(2)))
    if not marks:
        for i, line in enumerate(lines):
            s = line.strip()
            standalone = (i == 0 or not lines[i - 1].strip()) and (
                i + 1 == len(lines) or not lines[i + 1].strip()
            )
            if s and standalone and len(s) <= 80 and s.upper() == s and any(c.isalpha() for c in s):
                marks.append((i, 1, s))
    out: dict[str, str] = {}
    for n, (i, level, title) in enumerate(marks):
        later = marks[n + 1 :]
        end = later[0][0] if later else len(lines)
        body = "\n".join(lines[i + 1 : end]).strip()
        if not body:
            end = next((j for j, lvl, _ in later if lvl <= level), len(lines))
            body = "\n".join(lines[i + 1 : end]).strip()
        # The first section of a name wins (a book's later "Summary" is not the one meant).
        if body and _key(title) not in out:
            out[_key(title)] = body
    return out


class Sources:
    """The passage and notes for each row line, from the sidecar and/or the book."""

    def __init__(self, sidecar: dict[int, Source], sections: dict[str, str]) -> None:
        self.sidecar = sidecar
        self.sections = sections

    @classmethod
    def load(cls, rows: Path, book: Path | None = None) -> Sources:
        car = sidecar_path(rows)
        try:
            sidecar = read_sidecar(car) if car.is_file() else {}
            sections = book_sections(book.read_text(encoding="utf-8")) if book else {}
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"{getattr(e, 'filename', None) or book}: {e}") from e
        return cls(sidecar, sections)

    def describe(self) -> str:
        parts = []
        if self.sidecar:
            parts.append(f"{len(self.sidecar)} passage(s) from the sources file")
        if self.sections:
            parts.append(f"{len(self.sections)} section(s) of the book")
        return ", ".join(parts) or "no book passages (no sources file, no --book)"

    def get(self, line: int, row: dict[str, Any]) -> Source:
        found = self.sidecar.get(line)
        if found is not None and found.passage:
            return found
        source = row.get("source")
        section = section_of(source) if isinstance(source, str) and source.strip() else None
        deepest = (found.section or "").rsplit(" > ", 1)[-1] if found else ""
        passage = self.sections.get(_key(deepest)) if deepest else None
        if passage is None and section:
            passage = self.sections.get(_key(section))
        if found is not None:
            return Source(found.section or section, passage, found.notes)
        return Source(section, passage)
