"""psych_plugin/problems.py: the one reader of a JSON object file (model config, adapter config,
prompt settings), whose bad input is one line naming the file."""

from __future__ import annotations

import pytest

from psych_plugin.configs.architecture import ArchitectureError
from psych_plugin.problems import UsageError, read_json_object


def test_reads_an_object(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"a": 1, "b": [2]}', encoding="utf-8")
    assert read_json_object(path, "thing") == {"a": 1, "b": [2]}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{broken", "not a readable thing (Expecting"),
        (b"\xff\xfe\x00 binary", "not a readable thing ("),
        (b"[1, 2]", "not a readable thing (expected an object)"),
        (b'"text"', "not a readable thing (expected an object)"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, content, why):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as e:
        read_json_object(path, "thing")
    assert str(e.value).startswith(f"{path}: {why}")
    assert "\n" not in str(e.value)


def test_the_callers_error_class_is_raised(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ArchitectureError, match="not a readable JSON model config"):
        read_json_object(path, "JSON model config", ArchitectureError)


def test_a_missing_file_is_left_to_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_json_object(tmp_path / "none.json", "thing")
