"""`make mutation` stays pointed at real files: every module's sources and covering tests exist,
and the make target passes MODULE and SAMPLE through."""

from __future__ import annotations

import importlib.util
import subprocess

from tests.conftest import REPO


def load_runner():
    runner = REPO / "tools" / "mutation.py"
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


def make_mutation_command(*variables: str) -> str:
    """The command `make mutation VARIABLES` would run, on one line."""
    done = subprocess.run(
        ["make", "-n", "mutation", *variables], cwd=REPO, capture_output=True, text=True, check=True
    )
    return " ".join(done.stdout.replace("\\\n", " ").split())


def test_make_target_passes_module_and_sample():
    command = make_mutation_command("MODULE=schema", "SAMPLE=7")
    assert command.endswith(".venv/bin/python tools/mutation.py schema --sample 7")
    command = make_mutation_command("MODULE=configs", "FUNCTION=_check_keys add", "KEEP=1")
    assert command.endswith("configs --keep --function _check_keys --function add")


def test_function_names_select_their_mutants():
    import fnmatch

    names = [
        "psych_plugin.configs.checks.x__check_keys__mutmut_1",
        "psych_plugin.configs.checks.x__check_dataset_keys__mutmut_1",
        "psych_plugin.configs.checks.x__known_keys__mutmut_2",
        "psych_plugin.configs.checks.xǁ_Collectorǁadd__mutmut_3",
        "psych_plugin.configs.checks.x_model_config_for__mutmut_4",
    ]
    patterns = load_runner().function_patterns(["_check_keys", "add"])
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    assert chosen == [names[0], names[3]]
