"""Problems -> text, JSON or GitHub Actions annotations: one formatter for every command."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from .problems import Problem

FORMATS = ("text", "json", "github")


def format_problem(p: Problem) -> str:
    """Compiler style, which editors and CI parse: PATH:LINE: field: message, on one line."""
    tag = "warning: " if p.severity == "warning" else ""
    return f"{p.path}:{p.line}: {_one_line(p.field)}: {tag}{_one_line(p.message)}"


def _one_line(text: str) -> str:
    """Control characters escaped (a YAML key or a quoted value may hold a newline), so one
    problem stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_github(p: Problem) -> str:
    level = "warning" if p.severity == "warning" else "error"
    where = f"file={p.path}" + (f",line={p.line}" if p.line else "")
    return f"::{level} {where}::{_github_escape(p.field + ': ' + p.message)}"


def render(
    problems: Sequence[Problem], fmt: str, summary: str, extra: dict[str, object] | None = None
) -> Iterable[str]:
    """Lines to print for `problems` in format `fmt`, ending with the summary (not in json)."""
    if fmt == "json":
        payload: dict[str, object] = {"problems": [p.to_dict() for p in problems]}
        payload.update(extra or {})
        payload["summary"] = summary
        yield json.dumps(payload, ensure_ascii=False, indent=2)
        return
    line = format_github if fmt == "github" else format_problem
    for p in problems:
        yield line(p)
    yield summary
