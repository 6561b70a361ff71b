"""psych_plugin/cli/model.py: `psych eval --eval-file` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from psych_plugin.cli.model import parse_eval_files
from psych_plugin.paths import EVAL_SETS
from psych_plugin.problems import UsageError


def test_eval_file_specs(tmp_path: Path):
    default = parse_eval_files(None)
    assert list(default) == list(EVAL_SETS)
    assert [p.name for p in default.values()] == list(EVAL_SETS.values())
    sets = parse_eval_files(["mine=a/b.jsonl", "c/other.jsonl"])
    assert sets == {"mine": Path("a/b.jsonl"), "other": Path("c/other.jsonl")}
    with pytest.raises(UsageError, match="given twice"):
        parse_eval_files(["x=a.jsonl", "x=b.jsonl"])
    with pytest.raises(UsageError, match="NAME=PATH"):
        parse_eval_files(["bad name=a.jsonl"])
