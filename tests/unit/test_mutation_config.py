"""`make mutation` stays pointed at real files: every module's sources and covering tests exist,
and the make target passes MODULE and SAMPLE through."""

from __future__ import annotations

import importlib.util
import subprocess

from tests.conftest import REPO


def load_runner():
    runner = REPO / "tests" / "tools" / "mutation.py"
    spec = importlib.util.spec_from_file_location("mutation", runner)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_module_names_existing_sources_and_tests():
    runner = load_runner()
    assert {"schema", "validate", "prompts", "configs", "memory", "inference", "merge"} <= set(
        runner.MODULES
    )
    for name, spec in runner.MODULES.items():
        files, tests = spec[0], spec[1]
        assert files and tests, name
        for path in [*files, *tests]:
            assert (REPO / path).is_file(), f"{name}: {path}"


def test_make_target_passes_module_and_sample():
    done = subprocess.run(
        ["make", "-n", "mutation", "MODULE=schema", "SAMPLE=7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = ".venv/bin/python tests/tools/mutation.py schema --sample 7"
    assert done.stdout.strip().endswith(expected)
