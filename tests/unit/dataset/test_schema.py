"""psych_plugin/dataset/schema.py: the schema file is the single source of truth. The fast check
agrees with jsonschema on any value, and the file works with standard JSON Schema tooling. A
user's own schema (length limits, a pattern, a field made required): verdicts match jsonschema's,
every message is true for the schema at hand and names the keyword that failed, and long values
are cut, never echoed whole."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from psych_plugin.dataset.schema import (
    MESSAGE_LIMIT,
    NON_BLANK,
    RowChecker,
    categories,
    compile_fast_check,
    load_schema,
    row_errors,
    row_is_valid,
)
from tests.conftest import SCHEMA as SCHEMA_PATH
from tests.conftest import run_psych

KEYS = ["instruction", "input", "output", "category", "source", "response", "extra"]
CATEGORIES = list(categories())

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
texts = st.sampled_from(["", " ", "\t\n", "\u00a0", "\u2003", "x", " a ", "\u0085"]) | st.text()
field_values = texts | st.sampled_from(CATEGORIES) | json_values
rows = st.dictionaries(st.sampled_from(KEYS), field_values, max_size=6)
near_valid = st.fixed_dictionaries(
    {"instruction": texts, "input": texts, "output": texts},
    optional={"category": st.sampled_from(CATEGORIES) | field_values, "source": field_values},
)


@settings(max_examples=600, deadline=None)
@given(rows | near_valid | json_values)
def test_fast_check_agrees_with_jsonschema(value):
    expected = Draft202012Validator(load_schema()).is_valid(value)
    assert row_is_valid(value) == expected
    # And the explanation path reports something exactly when the row is invalid.
    assert bool(row_errors(value)) == (not expected)


def test_schema_is_valid_draft_2020_12():
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_verdicts_on_examples():
    validator = Draft202012Validator(load_schema())
    ok = {"instruction": "What is a schema?", "input": "", "output": "A framework."}
    assert validator.is_valid(ok)
    assert validator.is_valid({**ok, "category": "theory", "source": "Piaget"})
    assert not validator.is_valid({**ok, "output": "   "})
    assert not validator.is_valid({**ok, "category": "opinion"})
    assert not validator.is_valid({"instruction": "x", "input": "", "response": "y"})


FIELDS = ["instruction", "input", "output", "category", "source"]
PATTERNS = [NON_BLANK, "^[A-Z]", "^\\S", "x$", "\\d", "^(a|b)+$"]


def phrase(err) -> str:
    """What a message for this jsonschema error must say."""
    if err.validator == "pattern" and err.validator_value == NON_BLANK:
        return "must not be empty or whitespace-only"
    return {
        "type": "expected a",
        "enum": "must be one of:",
        "required": "missing required field",
        "additionalProperties": "unknown field",
    }.get(err.validator, err.validator)


@st.composite
def edited_schemas(draw) -> dict:
    schema = copy.deepcopy(load_schema())
    for name in FIELDS:
        spec = schema["properties"][name]
        if draw(st.booleans()):
            spec["maxLength"] = draw(st.integers(0, 30))
        if draw(st.booleans()):
            spec["minLength"] = draw(st.integers(0, 6))
        if draw(st.booleans()):
            spec["pattern"] = draw(st.sampled_from(PATTERNS))
        if draw(st.integers(0, 4)) == 0:
            spec.pop("type", None)  # string keywords then ignore non-strings
    required = set(schema["required"])
    if draw(st.booleans()):
        required.add("category")
    if draw(st.booleans()):
        required.discard("input")
    schema["required"] = sorted(required)
    closed = draw(st.sampled_from([False, True, None]))
    if closed is None:
        del schema["additionalProperties"]
    else:
        schema["additionalProperties"] = closed
    return schema


edit_texts = (
    st.sampled_from(["", " ", "\t", "\u00a0", "x", "Abc", "lowercase", "ab", "12", "Xx", "y" * 300])
    | st.text(max_size=40)
    | st.text(alphabet="aAbx1 ", min_size=25, max_size=400)
)
values = edit_texts | st.none() | st.integers() | st.booleans() | st.lists(st.text(max_size=3))
# Short strings over an alphabet that meets and misses every pattern above, at every length
# around the limits: most rows are then valid but for one constraint, where bugs hide.
near_texts = st.text(alphabet="Aab1x \t", max_size=35) | st.sampled_from(["", " ", "A", "ab"])
edit_rows = st.dictionaries(
    st.sampled_from([*FIELDS, "response", "extra"]), values, max_size=7
) | st.fixed_dictionaries(
    {"instruction": near_texts, "input": near_texts, "output": near_texts},
    optional={
        "category": st.sampled_from(CATEGORIES) | values,
        "source": near_texts | values,
        "response": values,
    },
)


@settings(max_examples=500, deadline=None)
@given(edited_schemas(), edit_rows)
def test_edited_schema_verdicts_and_messages(schema, row):
    Draft202012Validator.check_schema(schema)
    checker = RowChecker(schema)
    assert checker.fast is not None  # these edits keep the compiled fast path
    reference = Draft202012Validator(schema)
    valid = reference.is_valid(row)
    assert checker.is_valid(row) == valid
    out = checker.errors(row)
    assert bool(out) == (not valid)
    messages = [m for _, m in out]
    for err in reference.iter_errors(row):
        want = phrase(err)
        assert any(want in m for m in messages), (want, messages)
    for field, message in out:
        assert len(message) <= MESSAGE_LIMIT, message
        if "must not be empty or whitespace-only" in message:
            # True only when the field's schema asks for NON_BLANK and the value has no visible
            # character.
            assert schema["properties"][field].get("pattern") == NON_BLANK
            assert re.search(NON_BLANK, row[field]) is None
        if "characters long" in message:
            assert f"is {len(row[field]):,} characters long" in message


ISSUE_EDITS = {
    "instruction": {"maxLength": 120},
    "input": {"maxLength": 200},
    "output": {"minLength": 12},
    "source": {"pattern": "^[A-Z]"},
}


def issue_schema() -> dict:
    schema = copy.deepcopy(load_schema())
    for name, extra in ISSUE_EDITS.items():
        schema["properties"][name].update(extra)
    schema["required"] = [*schema["required"], "category"]
    return schema


def test_the_edits_from_the_report_through_psych_validate(tmp_path: Path):
    """The user's schema in the working directory wins over the shipped one."""
    schema = issue_schema()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "alpaca.schema.json").write_text(json.dumps(schema, indent=2))
    good = {
        "instruction": "What is a schema?",
        "input": "",
        "output": "A mental framework.",
        "category": "definition",
        "source": "Piaget",
    }
    lines = [
        good,
        {**good, "source": "lowercase"},
        {**good, "instruction": "W" * 300},
        {**good, "output": "Too short"},
        {k: v for k, v in good.items() if k != "category"},
        {**good, "input": "context " * 40},
        {**good, "output": "   "},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in lines))
    done = run_psych("validate", str(data), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    got = done.stdout.replace(str(data), "F").splitlines()
    reference = Draft202012Validator(schema)
    assert [reference.is_valid(r) for r in lines] == [True] + [False] * 6
    assert got == [
        "F:2: source: does not match the schema's pattern '^[A-Z]' (got \"lowercase\")",
        "F:3: instruction: is 300 characters long, over the schema's maxLength of 120 "
        '(got "' + "W" * 55 + '...")',
        'F:4: output: is 9 characters long, under the schema\'s minLength of 12 (got "Too short")',
        "F:5: category: missing required field",
        "F:6: input: is 320 characters long, over the schema's maxLength of 200 "
        '(got "' + ("context " * 7)[:55] + '...")',
        'F:7: output: is 3 characters long, under the schema\'s minLength of 12 (got "   ")',
        "F:7: output: must not be empty or whitespace-only (got whitespace-only text)",
        "FAILED: 1 file(s), 7 row(s), 7 error(s), 0 warning(s)",
    ]
    # The shipped schema, from the checkout, accepts all but the blank output.
    done = run_psych("validate", str(data))
    assert done.returncode == 1
    assert done.stdout.replace(str(data), "F").splitlines() == [
        "F:7: output: must not be empty or whitespace-only (got whitespace-only text)",
        "FAILED: 1 file(s), 7 row(s), 1 error(s), 0 warning(s)",
    ]


def test_keywords_the_fast_path_does_not_compile_fall_back_to_jsonschema():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["source"]["format"] = "uri"
    schema["properties"]["instruction"]["maxLength"] = 10
    schema["properties"]["output"] = {"type": "string", "not": {"const": "n/a"}}
    assert compile_fast_check(schema) is None
    checker = RowChecker(schema)
    row = {"instruction": "What is X?", "input": "", "output": "n/a"}
    assert checker.is_valid(row) is False
    [(field, message)] = checker.errors(row)
    assert field == "output" and "should not be valid under" in message
    assert message.endswith("(schema keyword: not)")
    long = {**row, "output": "fine", "instruction": "Q" * 500}
    [(field, message)] = checker.errors(long)
    assert field == "instruction" and "over the schema's maxLength of 10" in message
    assert len(message) < 130


def test_generic_messages_cut_long_values():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["output"] = {"type": "string", "const": "yes"}
    [(field, message)] = RowChecker(schema).errors(
        {"instruction": "Q", "input": "", "output": "z" * 1000}
    )
    assert field == "output" and len(message) <= MESSAGE_LIMIT
    assert "zzz..." in message and "z" * 100 not in message and "const" in message


def test_type_lists_and_aliases_read_naturally():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["input"]["type"] = ["string", "null"]
    checker = RowChecker(schema)
    assert checker.errors({"instruction": "Q", "input": 3, "output": "A"}) == [
        ("input", "expected a string or a null, got a number")
    ]
    # An alias is only suggested when the schema has that field.
    del schema["properties"]["output"]
    schema["required"] = ["instruction"]
    assert RowChecker(schema).errors({"instruction": "Q", "response": "A"}) == [
        ("response", "unknown field (allowed: instruction, input, category, source)")
    ]


def test_jsonschema_wording_is_cut_and_names_the_keyword():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["output"] = {"type": "string", "not": {"pattern": "^z"}}
    [(field, message)] = RowChecker(schema).errors(
        {"instruction": "Q", "input": "", "output": "z" * 1000}
    )
    # jsonschema says "'zzz...z' should not be valid under {...}": the value is cut to 60
    # characters of JSON, the rest of its wording kept.
    assert message == (
        '"' + "z" * 55 + "...\" should not be valid under {'pattern': '^z'} (schema keyword: not)"
    )
    # A message that stays long after the value is cut is cut as a whole.
    schema["properties"]["output"] = {"type": "string", "not": {"description": "d" * 300}}
    [(_, message)] = RowChecker(schema).errors({"instruction": "Q", "input": "", "output": "A"})
    assert len(message) == MESSAGE_LIMIT and message.endswith("... (schema keyword: not)")


def test_long_enums_are_cut():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["category"]["enum"] = [f"kind_{i:03d}" for i in range(40)]
    [(field, message)] = RowChecker(schema).errors(
        {"instruction": "Q", "input": "", "output": "A", "category": "other"}
    )
    choices = ", ".join(f"kind_{i:03d}" for i in range(40))
    assert message == f'must be one of: {choices[:117]}... (got "other")'


def test_non_json_python_values_are_named():
    """Rows built in Python (psych build-dataset) may hold any object; the message names it."""
    checker = RowChecker(load_schema())
    assert checker.errors(("a",)) == [("-", "expected a JSON object, got a tuple")]
    assert checker.errors({"instruction": "Q", "input": b"x", "output": "A"}) == [
        ("input", "expected a string, got a bytes")
    ]


GOOD = {"instruction": "Abc", "input": "", "output": "Yes.", "category": "theory", "source": "Ab"}


def edited(**changes) -> dict:
    """The shipped schema with field specs updated (`field=dict`) and top-level keys set."""
    schema = copy.deepcopy(load_schema())
    for key, value in changes.items():
        if key in schema["properties"]:
            schema["properties"][key].update(value)
        else:
            schema[key] = value
    return schema


@pytest.mark.parametrize(
    ("schema", "row", "valid"),
    [
        (edited(), GOOD, True),
        (edited(), {**GOOD, "extra": 1}, False),  # closed: an unknown key
        (edited(additionalProperties=True), {**GOOD, "extra": 1}, True),
        ({**edited(), "additionalProperties": None}, GOOD, None),  # not compiled
        (edited(output={"minLength": 4}), GOOD, True),  # exactly the minimum
        (edited(output={"minLength": 5}), GOOD, False),
        (edited(instruction={"maxLength": 3}), GOOD, True),  # exactly the maximum
        (edited(instruction={"maxLength": 2}), GOOD, False),
        (edited(source={"pattern": "^[A-Z]"}), GOOD, True),
        (edited(source={"pattern": "^[A-Z]"}), {**GOOD, "source": "ab"}, False),
        (edited(source={"enum": ["Ab", "Cd"]}), GOOD, True),
        (edited(source={"enum": ["Cd"]}), GOOD, False),
        (edited(required=["instruction", "input", "output", "category"]), GOOD, True),
        (
            edited(required=["instruction", "input", "output", "category"]),
            {k: v for k, v in GOOD.items() if k != "category"},
            False,
        ),
        (edited(required=["instruction", "output"]), {**GOOD, "input": ...}, True),
        (edited(required=["instruction", "input", "output", "tag"]), GOOD, False),
        # Without `type`, string keywords ignore non-strings (JSON Schema); with it, they fail.
        (
            {**edited(), "properties": {**edited()["properties"], "source": {"maxLength": 1}}},
            {**GOOD, "source": 12345},
            True,
        ),
        (
            {**edited(), "properties": {**edited()["properties"], "source": {"maxLength": 1}}},
            {**GOOD, "source": "12345"},
            False,
        ),
        (
            {**edited(), "properties": {**edited()["properties"], "source": {"pattern": "^x"}}},
            {**GOOD, "source": None},
            True,
        ),
        (
            {**edited(), "properties": {**edited()["properties"], "source": {}}},
            {**GOOD, "source": []},
            True,
        ),
        (edited(source={"maxLength": 1}), {**GOOD, "source": 7}, False),
        # No properties at all: closed, so only the empty object could pass, and it lacks the
        # required fields.
        ({k: v for k, v in edited().items() if k != "properties"}, {}, False),
        ({**edited(), "required": []}, {}, True),
        ({k: v for k, v in edited().items() if k != "required"}, {}, True),  # no `required`
    ],
)
def test_fast_path_verdicts_one_keyword_at_a_time(schema, row, valid):
    row = {k: v for k, v in row.items() if v is not ...}
    fast = compile_fast_check(schema)
    reference = Draft202012Validator(schema).is_valid(row)
    if valid is None:  # a schema the compiler must leave to jsonschema
        assert fast is None
        return
    assert reference is valid
    assert fast is not None and fast(row) is valid
    assert (RowChecker(schema).errors(row) == []) is valid


def test_quoted_values_are_cut_at_sixty_characters():
    checker = RowChecker(edited(source={"pattern": "^[A-Z]"}))
    exact = "a" * 58  # 60 characters of JSON with its quotes: kept whole
    [(_, message)] = checker.errors({**GOOD, "source": exact})
    assert message.endswith(f'(got "{exact}")')
    [(_, message)] = checker.errors({**GOOD, "source": exact + "a"})
    assert message.endswith('(got "' + "a" * 55 + '...")')
    # Not a string: cut without a closing quote.
    [(_, message)] = checker.errors({**GOOD, "category": list(range(40))})
    assert message.endswith("(got [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16...)")


def test_issue_edits_in_process():
    """The same messages as through `psych validate`, from the checker itself."""
    checker = RowChecker(issue_schema())
    good = {**GOOD, "output": "A mental framework.", "source": "Piaget"}
    assert checker.errors(good) == []
    assert checker.errors({**good, "output": "Too short"}) == [
        ("output", 'is 9 characters long, under the schema\'s minLength of 12 (got "Too short")')
    ]
    assert checker.errors({**good, "instruction": "W" * 121}) == [
        (
            "instruction",
            "is 121 characters long, over the schema's maxLength of 120 "
            '(got "' + "W" * 55 + '...")',
        )
    ]


def test_every_missing_field_is_named_once():
    assert RowChecker(load_schema()).errors({"instruction": "Q"}) == [
        ("input", "missing required field"),
        ("output", "missing required field"),
    ]


def test_typos_get_a_suggestion():
    errors = RowChecker(load_schema()).errors({"instruction": "Q", "input": "", "outptu": "A"})
    assert errors == [
        (
            "outptu",
            "unknown field; did you mean 'output'? (allowed: instruction, input, output, "
            "category, source)",
        ),
        ("output", "missing required field (found 'outptu': rename it to 'output')"),
    ]


def test_nested_objects_name_the_full_path():
    schema = copy.deepcopy(load_schema())
    schema["properties"]["meta"] = {
        "type": "object",
        "required": ["page"],
        "properties": {"page": {"type": "integer"}, "book": {"type": "string"}},
        "additionalProperties": False,
    }
    checker = RowChecker(schema)
    assert checker.fast is None  # an object property: jsonschema checks it
    row = {"instruction": "Q", "input": "", "output": "A", "meta": {"boko": "x"}}
    assert checker.errors(row) == [
        ("meta.boko", "unknown field; did you mean 'book'? (allowed: page, book)"),
        ("meta.page", "missing required field"),
    ]


def test_fast_path_only_for_schemas_it_understands():
    from psych_plugin.dataset.schema import compile_fast_check

    assert compile_fast_check({"type": "object", "minProperties": 1}) is None
    assert compile_fast_check({"type": "array"}) is None
    assert compile_fast_check({"type": "object", "properties": {"n": {"type": "integer"}}}) is None
    assert compile_fast_check({"type": "object", "properties": {"s": {}}}) is not None


def test_messages_follow_the_users_own_schema():
    from psych_plugin.dataset.schema import RowChecker

    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "meta": {"const": False}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    checker = RowChecker(schema)
    assert checker.errors({"answr": "x"}) == [
        ("answr", "unknown field; did you mean 'answer'? (allowed: answer, meta)"),
        ("answer", "missing required field (found 'answr': rename it to 'answer')"),
    ]
    # a const of false on an object is not an unknown-field problem
    assert checker.errors({"answer": "x", "meta": {"a": 1}}) == [
        ("meta", 'must be false (the schema\'s const; got {"a": 1})')
    ]
    closed = RowChecker({"type": "object", "additionalProperties": False})
    assert closed.errors({"x": 1}) == [("x", "unknown field (allowed: )")]


def test_fast_path_edge_verdicts():
    from psych_plugin.dataset.schema import compile_fast_check

    open_schema = compile_fast_check({"type": "object", "properties": {"a": {}}})
    assert open_schema({"a": "x", "extra": 1}) is True  # additionalProperties defaults to true
    assert open_schema([1]) is False and open_schema("row") is False
    enum_only = compile_fast_check({"type": "object", "properties": {"c": {"enum": ["a", "b"]}}})
    assert enum_only({"c": "a"}) is True
    assert enum_only({"c": 3}) is False  # a string-only enum fails a number


def test_messages_name_nested_and_whole_row_fields():
    from psych_plugin.dataset.schema import RowChecker

    nested = {
        "type": "object",
        "properties": {"meta": {"type": "object", "properties": {"x": {"type": "string"}}}},
        "minProperties": 2,
    }
    assert RowChecker(nested).errors({"meta": {"x": 1}}) == [
        ("$", "{'meta': {'x': 1}} does not have enough properties (schema keyword: minProperties)"),
        ("meta.x", "expected a string, got a number"),
    ]
    mixed = {"type": "object", "properties": {"n": {"enum": [1, "a"]}}}
    assert RowChecker(mixed).errors({"n": 3}) == [("n", "must be one of: 1, a (got 3)")]


def test_categories_follow_a_users_edited_schema(tmp_path):
    """The category list is the schema in use: a user who adds one adds it everywhere."""
    import json

    from psych_plugin.paths import SHIPPED_SCHEMA
    from tests.conftest import run_psych

    schema = json.loads(SHIPPED_SCHEMA.read_text())
    schema["properties"]["category"]["enum"].append("history")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "alpaca.schema.json").write_text(json.dumps(schema))
    rows = [
        {"instruction": "Who founded the first lab?", "input": "", "output": "Wundt, 1879."},
        {"instruction": "What is a schema?", "input": "", "output": "A mental framework."},
    ]
    rows[0]["category"], rows[1]["category"] = "history", "definition"
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    done = run_psych("lint", "rows.jsonl", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)["stats"]
    assert stats["rows"] == 2
    assert stats["categories"] == {"definition": 1, "history": 1}

    done = run_psych("stats", "rows.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| history | 1 |" in done.stdout

    # The shipped schema does not know "history": the same rows fail validation there.
    (tmp_path / "schemas" / "alpaca.schema.json").unlink()
    done = run_psych("validate", "rows.jsonl", cwd=tmp_path)
    assert done.returncode == 1
    assert "rows.jsonl:1: category:" in done.stdout
