"""The schema file is the single source of truth: the fast check agrees with jsonschema on any
value (property test), and the file works with standard JSON Schema tooling."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from psych_plugin.dataset.schema import load_schema, row_errors, row_is_valid
from tests.conftest import SCHEMA as SCHEMA_PATH

KEYS = ["instruction", "input", "output", "category", "source", "response", "extra"]
CATEGORIES = ["definition", "theory", "experiment", "case_study", "comparison", "how_to"]

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
