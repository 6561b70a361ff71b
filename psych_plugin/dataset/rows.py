"""One Alpaca row as the package sees it: the normalisation that decides when two questions are
the same, and loading a file's valid rows. Every module that reads rows imports them from here.
The category list is the schema's (`schema.categories()`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..problems import Problem
from .validate import validate_file

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case, accents' compatibility forms, punctuation and spacing do not make a new question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def prompt_key(row: dict[str, Any]) -> str:
    # Rows that share an instruction ("Summarise this paragraph.") differ by their input.
    return normalise(row["instruction"]) + "\0" + normalise(row.get("input") or "")


@dataclass
class Row:
    path: str
    line: int
    data: dict[str, Any]


def load_rows(path: Path) -> tuple[list[Row], list[Problem]]:
    """Valid rows of one file, or the validation errors that stop linting it."""
    report = validate_file(path)
    errors = [p for p in report.problems if p.severity == "error"]
    if errors:
        return [], errors
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            raw = raw.removeprefix(b"\xef\xbb\xbf") if lineno == 1 else raw
            if raw.strip():
                rows.append(Row(str(path), lineno, orjson.loads(raw)))
    return rows, []
