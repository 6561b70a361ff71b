"""Facts with one home: the category list is the schema in use (a user's edited schema
included), and the Axolotl dataset types that name the prompt strategy are every importable
path of it (the plugin validates rows and check-config counts tokens under each)."""

from __future__ import annotations

import importlib
import json
import pkgutil

import psych_plugin
from psych_plugin.configs.checks import ALPACA_TYPES
from psych_plugin.integration import prompt_strategy
from psych_plugin.integration.plugin import _local_dataset_files
from psych_plugin.paths import SHIPPED_SCHEMA
from psych_plugin.prompts import STRATEGY_TYPES
from tests.conftest import run_psych


def test_categories_follow_a_users_edited_schema(tmp_path):
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


def test_strategy_types_are_every_importable_path_of_the_strategy():
    found = set()
    for info in pkgutil.walk_packages(psych_plugin.__path__, "psych_plugin."):
        if info.name.endswith("__main__"):  # runs the CLI on import
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "load", None) is prompt_strategy.load:
            found.add(info.name)
    assert found == set(STRATEGY_TYPES)
    assert set(STRATEGY_TYPES) <= ALPACA_TYPES


def test_the_plugin_validates_rows_under_every_strategy_type(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("{}\n")
    for type_name in sorted(STRATEGY_TYPES):
        cfg = {"datasets": [{"path": str(rows), "type": type_name}]}
        assert _local_dataset_files(cfg) == [rows], type_name
    assert _local_dataset_files({"datasets": [{"path": str(rows), "type": "alpaca"}]}) == []


def test_the_plugin_refuses_an_axolotl_it_was_not_written_for():
    import pytest

    from psych_plugin.integration.plugin import check_axolotl_version

    check_axolotl_version("0.19.0")
    check_axolotl_version("0.19.7")
    for version in ("0.18.2", "0.20.0", "0.21.1"):
        with pytest.raises(ImportError, match=f"has {version}"):
            check_axolotl_version(version)
