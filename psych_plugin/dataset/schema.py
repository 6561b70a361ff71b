"""The Alpaca row schema (schemas/alpaca.schema.json) and a fast check that agrees with it.

The JSON Schema is the single source of truth, and users edit it (a length limit, a pattern, a
required `category`). `row_is_valid` is a hand-compiled fast path for the common case (a valid
row), generated from the schema file at import time; a schema using keywords it does not compile
is checked by jsonschema alone (correct, slower). `row_errors` asks jsonschema itself and is used
only for rows the fast path rejects. Its messages are written per keyword and must be true for
any schema: where our own wording does not apply, jsonschema's is used, with long values cut.
Property tests over edited schemas check the verdicts agree and each message names its keyword.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

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
# The pattern the shipped schema uses for "has a visible character"; only a value failing this
# exact pattern is described as empty or whitespace-only.
NON_BLANK = r"\S"
VALUE_LIMIT = 60  # characters of a value quoted in a message
MESSAGE_LIMIT = 240  # characters of a message taken from jsonschema

# Keywords that only annotate: they never change a verdict.
_ANNOTATIONS = {"description", "title", "$comment", "examples", "default", "deprecated"}
_TOP_KEYS = {"$schema", "$id", "type", "properties", "required", "additionalProperties"}
_FIELD_KEYS = {"type", "pattern", "enum", "maxLength", "minLength"}

RowCheck = Callable[[object], bool]


@cache
def load_schema() -> dict[str, Any]:
    with open(schema_path(), encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


def categories(schema: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The row categories the schema in use allows (its `category` enum), in its order; empty
    when the schema does not restrict `category`. The one list of categories: a user who edits
    the schema edits it everywhere."""
    field = (schema or load_schema()).get("properties", {}).get("category", {})
    enum = field.get("enum") if isinstance(field, dict) else None
    return tuple(c for c in enum if isinstance(c, str)) if isinstance(enum, list) else ()


_MISSING = object()


def compile_fast_check(schema: dict[str, Any]) -> RowCheck | None:
    """Generate a straight-line checker for `schema` (no loops; regex only for patterns other
    than the non-blank one), or None when it uses a keyword this compiler does not handle."""
    if set(schema) - _TOP_KEYS - _ANNOTATIONS or schema.get("type") != "object":
        return None
    props: dict[str, Any] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    closed = schema.get("additionalProperties", True)
    if closed not in (True, False) or not isinstance(props, dict):
        return None
    env: dict[str, Any] = {"_MISSING": _MISSING, "_allowed": frozenset(props), "_len": len}
    body = ["def row_is_valid(row):", "    if type(row) is not dict:", "        return False"]
    if closed is False:
        body.append("    if not row.keys() <= _allowed:\n        return False")
    for name in required:
        if name not in props:
            body.append(f"    if {name!r} not in row:\n        return False")
    for i, (name, spec) in enumerate(props.items()):
        if not isinstance(spec, dict) or set(spec) - _FIELD_KEYS - _ANNOTATIONS:
            return None
        if spec.get("type", "string") != "string":
            return None
        # Conditions that make a string value invalid.
        text_conds = []
        if "pattern" in spec:
            if spec["pattern"] == NON_BLANK:
                # Same verdict as re.search(r"\S", v): both use Python's Unicode whitespace.
                text_conds.append("(not v or v.isspace())")
            else:
                env[f"_pat{i}"] = re.compile(spec["pattern"]).search
                text_conds.append(f"_pat{i}(v) is None")
        if "maxLength" in spec:
            text_conds.append(f"_len(v) > {int(spec['maxLength'])}")
        if "minLength" in spec:
            text_conds.append(f"_len(v) < {int(spec['minLength'])}")
        if "enum" in spec:
            if not all(type(x) is str for x in spec["enum"]):
                return None
            env[f"_enum{i}"] = frozenset(spec["enum"])
            text_conds.append(f"v not in _enum{i}")
        # A non-string fails `type: string`, and any string-only enum; without either, JSON
        # Schema's string keywords ignore non-strings.
        strict = "type" in spec or "enum" in spec
        if strict:
            conds = ["type(v) is not str", *text_conds]
            test = " or ".join(conds)
        elif text_conds:
            test = "type(v) is str and (" + " or ".join(text_conds) + ")"
        else:
            test = ""  # pragma: no mutate (None reads the same: falsy)
        body.append(f"    v = row.get({name!r}, _MISSING)")
        if name in required:
            body.append("    if v is _MISSING:\n        return False")
            if test:
                body.append(f"    if {test}:\n        return False")
        elif test:
            body.append(f"    if v is not _MISSING and ({test}):\n        return False")
    body.append("    return True")
    exec("\n".join(body), env)  # noqa: S102 - source built above from literal reprs only
    check: RowCheck = env["row_is_valid"]
    return check


class RowChecker:
    """Verdicts and explanations for one schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validator = Draft202012Validator(schema)
        self.fast = compile_fast_check(schema)
        self.is_valid: RowCheck = self.fast or self.validator.is_valid

    def errors(self, row: object) -> list[tuple[str, str]]:
        """(field, message) for each way `row` breaks the schema, in a stable order."""
        if not isinstance(row, dict) and self.schema.get("type") == "object":
            return [("-", f"expected a JSON object, got {_article(_json_type(row))}")]
        out: list[tuple[str, str]] = []
        errors = sorted(
            self.validator.iter_errors(row),
            key=lambda e: ([str(p) for p in e.path], str(e.validator)),
        )
        for err in errors:
            out.extend(self._explain(err))
        return out

    def _explain(self, err: ValidationError) -> list[tuple[str, str]]:
        field = ".".join(str(p) for p in err.path) or "$"
        prefix = field + "." if err.path else ""
        kind, want, value = err.validator, err.validator_value, err.instance
        if kind == "required" and isinstance(value, dict):
            # (no mutate on the fallback: jsonschema's message starts with the missing name;
            # the fallback only guards against another wording)
            missing = next(
                (p for p in want if p not in value and err.message.startswith(repr(p))),
                next((p for p in want if p not in value), "?"),  # pragma: no mutate
            )
            present = [k for k in value if suggest_field(k, err.schema) == missing]
            hint = f" (found '{present[0]}': rename it to '{missing}')" if present else ""
            return [(prefix + str(missing), f"missing required field{hint}")]
        if kind == "additionalProperties" and want is False and isinstance(value, dict):
            allowed = list(err.schema.get("properties", {}))
            out = []
            for extra in sorted(k for k in value if k not in allowed):
                guess = suggest_field(extra, err.schema)
                hint = f"; did you mean '{guess}'?" if guess else ""
                out.append((prefix + extra, f"unknown field{hint} (allowed: {', '.join(allowed)})"))
            if out:
                return out
        if kind == "type":
            kinds = want if isinstance(want, list) else [want]
            expected = " or ".join(_article(k) for k in kinds)
            return [(field, f"expected {expected}, got {_article(_json_type(value))}")]
        if kind == "pattern" and want == NON_BLANK and isinstance(value, str):
            what = "empty" if value == "" else "whitespace-only"
            return [(field, f"must not be empty or whitespace-only (got {what} text)")]
        if kind == "pattern":
            return [(field, f"does not match the schema's pattern {want!r} (got {_short(value)})")]
        if kind == "enum":
            choices = _cut(", ".join(v if isinstance(v, str) else _short(v) for v in want))
            return [(field, f"must be one of: {choices} (got {_short(value)})")]
        if kind == "const":
            return [(field, f"must be {_short(want)} (the schema's const; got {_short(value)})")]
        if kind in ("maxLength", "minLength") and isinstance(value, str):
            over = "over" if kind == "maxLength" else "under"
            return [
                (
                    field,
                    f"is {len(value):,} characters long, {over} the schema's {kind} of {want} "
                    f"(got {_short(value)})",
                )
            ]
        return [(field, _generic(err))]


def _generic(err: ValidationError) -> str:
    """jsonschema's own message, with the offending value cut to a readable length."""
    message = err.message
    whole = repr(err.instance)
    # (no mutate: `or` only replaces a short value with itself, or replaces nothing)
    if len(whole) > VALUE_LIMIT and whole in message:  # pragma: no mutate
        message = message.replace(whole, _short(err.instance))
    keyword = f" (schema keyword: {err.validator})"
    return _cut(message, MESSAGE_LIMIT - len(keyword)) + keyword


@cache
def default_checker() -> RowChecker:
    return RowChecker(load_schema())


row_is_valid: RowCheck = default_checker().is_valid
"""True when a row satisfies the schema; the hot path of `psych validate`."""


def row_errors(row: object) -> list[tuple[str, str]]:
    """(field, message) for each way `row` breaks the schema file, in a stable order."""
    return default_checker().errors(row)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def suggest_field(name: str, schema: dict[str, Any] | None = None) -> str | None:
    allowed = list((schema or load_schema()).get("properties", {}))
    alias = FIELD_ALIASES.get(name.lower())
    if alias in allowed:
        return alias
    close = difflib.get_close_matches(name.lower(), allowed)  # difflib's cutoff, 0.6
    return close[0] if close else None


def _article(kind: object) -> str:
    kind = str(kind)
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def _cut(text: str, limit: int = VALUE_LIMIT * 2) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: object, limit: int = VALUE_LIMIT) -> str:
    """The value as JSON, cut to `limit` characters (a cut string keeps its closing quote)."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return text
    end = '..."' if text.startswith('"') else "..."
    return text[: limit - len(end)] + end
