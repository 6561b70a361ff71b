"""The Alpaca row schema (schemas/alpaca.schema.json) and a fast check that agrees with it.

The JSON Schema is the single source of truth. `row_is_valid` is a hand-compiled fast path for
the common case (a valid row) and is derived from the schema file at import time, so a change of
allowed keys, required keys or enum values flows through; `row_errors` asks jsonschema itself,
and is used only for rows the fast path rejects. A property test checks both agree.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from ..paths import schema_path

# Names people use for the three Alpaca fields in other formats (ShareGPT, Dolly, QA sets).
FIELD_ALIASES = {
    "response": "output",
    "answer": "output",
    "completion": "output",
    "prompt": "instruction",
    "question": "instruction",
    "query": "instruction",
    "context": "input",
}


@cache
def load_schema() -> dict[str, Any]:
    with open(schema_path(), encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


_MISSING = object()


def _compile_fast_check() -> Any:
    """Generate a straight-line checker from the schema (no loops, no regex on the hot path).

    Only the keywords our schema uses are compiled; a schema using anything else gets None and
    every row goes through jsonschema (correct, slower). The property test in
    tests/unit/test_schema.py checks the verdicts agree.
    """
    schema = load_schema()
    props: dict[str, dict[str, Any]] = schema["properties"]
    required = set(schema["required"])
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        return None
    env: dict[str, Any] = {"_MISSING": _MISSING, "_allowed": frozenset(props)}
    body = [
        "def row_is_valid(row):",
        "    if type(row) is not dict or not row.keys() <= _allowed:",
        "        return False",
    ]
    for i, (name, spec) in enumerate(props.items()):
        if set(spec) - {"type", "pattern", "enum", "description"}:
            return None
        if spec.get("type", "string") != "string":
            return None
        body.append(f"    v = row.get({name!r}, _MISSING)")
        if name in required:
            body.append("    if v is _MISSING:\n        return False")
            guard = "    if "
        else:
            guard = "    if v is not _MISSING and "
        conds = []
        if "type" in spec or "enum" in spec or "pattern" in spec:
            # Every value our schema allows is a string (enum values included, checked below).
            conds.append("type(v) is not str")
        if "enum" in spec:
            values = spec["enum"]
            if not all(type(x) is str for x in values):
                return None
            env[f"_enum{i}"] = frozenset(values)
            conds.append(f"v not in _enum{i}")
        if "pattern" in spec:
            if spec["pattern"] == r"\S":
                # Same verdict as re.search(r"\S", v): both use Python's Unicode whitespace.
                conds.append("(not v or v.isspace())")
            else:
                env[f"_pat{i}"] = re.compile(spec["pattern"]).search
                conds.append(f"_pat{i}(v) is None")
        if conds:
            body.append(guard + "(" + " or ".join(conds) + "):\n        return False")
    body.append("    return True")
    exec("\n".join(body), env)  # noqa: S102 - source built above from literal reprs only
    return env["row_is_valid"]


_FAST = _compile_fast_check()


def _slow_is_valid(row: object) -> bool:
    return validator().is_valid(row)


row_is_valid = _FAST or _slow_is_valid
"""True when a row satisfies the schema; the hot path of `psych validate`."""


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def suggest_field(name: str) -> str | None:
    allowed = list(load_schema()["properties"])
    if name.lower() in FIELD_ALIASES:
        return FIELD_ALIASES[name.lower()]
    close = difflib.get_close_matches(name.lower(), allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def row_errors(row: object) -> list[tuple[str, str]]:
    """(field, message) for each way `row` breaks the schema, in a stable order."""
    if not isinstance(row, dict):
        return [("-", f"expected a JSON object, got {_article(_json_type(row))}")]
    out: list[tuple[str, str]] = []
    schema = load_schema()
    allowed = list(schema["properties"])
    errors = sorted(validator().iter_errors(row), key=lambda e: (list(e.path), e.validator))
    for err in errors:
        field = ".".join(str(p) for p in err.path) or "$"
        kind = err.validator
        if kind == "required":
            missing = err.message.split("'")[1]
            present = [k for k in row if suggest_field(k) == missing]
            hint = f" (found '{present[0]}': rename it to '{missing}')" if present else ""
            out.append((missing, f"missing required field{hint}"))
        elif kind == "additionalProperties":
            for extra in sorted(k for k in row if k not in schema["properties"]):
                guess = suggest_field(extra)
                hint = f"; did you mean '{guess}'?" if guess else ""
                out.append(
                    (extra, f"unknown field{hint} (allowed: {', '.join(allowed)})"),
                )
        elif kind == "type":
            want = err.validator_value
            out.append(
                (field, f"expected {_article(want)}, got {_article(_json_type(err.instance))}")
            )
        elif kind == "pattern":
            what = "empty" if err.instance == "" else "whitespace-only"
            out.append((field, f"must not be empty or whitespace-only (got {what} text)"))
        elif kind == "enum":
            choices = ", ".join(str(v) for v in err.validator_value)
            out.append((field, f"must be one of: {choices} (got {_short(err.instance)})"))
        else:
            out.append((field, err.message))
    return out


def _article(kind: object) -> str:
    kind = str(kind)
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _short(value: object, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
