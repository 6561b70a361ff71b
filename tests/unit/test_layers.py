"""The package's layers go one way (the contract in pyproject.toml, checked by import-linter over
every import, function-level ones included), and the check does catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(config)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_the_package_keeps_its_layers():
    done = lint_imports(REPO, REPO / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_the_contract_lists_every_subpackage_and_top_level_module():
    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = {
        name.strip()
        for layer in contract["contracts"][0]["layers"]
        for name in layer.replace(":", "|").split("|")
    }
    package = REPO / "psych_plugin"
    # Public aliases that only re-export (and the entry points) stay outside the layers.
    outside = {"__init__", "__main__", "prompt_strategy", "resources"}
    present = {
        p.stem if p.is_file() else p.name
        for p in package.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file()))
    }
    assert {f"psych_plugin.{name}" for name in present - outside} == listed


def test_an_upward_import_inside_a_function_breaks_the_contract(tmp_path):
    # A renamed copy: the editable install would otherwise shadow the copy's package.
    copy = tmp_path / "psych_copy"
    shutil.copytree(REPO / "psych_plugin", copy, ignore=shutil.ignore_patterns("resources"))
    with open(copy / "dataset" / "rows.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _reach_up():\n    from ..cli import main  # noqa: F401\n")
    config = tmp_path / "contract.toml"
    text = (REPO / "pyproject.toml").read_text().replace("psych_plugin", "psych_copy")
    config.write_text(text)
    done = lint_imports(tmp_path, config)
    assert done.returncode == 1, done.stdout
    assert "psych_copy.dataset.rows -> psych_copy.cli" in done.stdout
