"""tools/mutation.py (`make mutation`): every module names real sources, the fast tests that
cover it are derived from the tree (the layout convention plus imports, on the real tests and on a
made-up tree), and the make target passes MODULE, SAMPLE, FUNCTION and KEEP through."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, make_n
from tools import mutation as runner


def test_every_module_names_existing_sources_and_tests():
    assert {
        "schema",
        "validate",
        "prompts",
        "configs",
        "hardware",
        "memory",
        "inference",
        "merge",
    } <= set(runner.MODULES)
    for name, target in runner.MODULES.items():
        assert target.files, name
        tests = runner.covering_tests(target.files)
        assert tests, f"{name}: no fast test covers it"
        for path in [*target.files, *tests]:
            assert (REPO / path).is_file(), f"{name}: {path}"
        for file in target.files:
            # The layout convention: psych_plugin/<pkg>/<module>.py is tested by
            # tests/unit/<pkg>/test_<module>.py, which is among the covering tests.
            inside = Path(file).relative_to("psych_plugin")
            mirror = Path("tests/unit") / inside.parent / f"test_{inside.name}"
            assert str(mirror) in tests, f"{name}: {mirror}"


def test_covering_tests_on_the_real_tree():
    def covering(name: str) -> list[str]:
        return runner.covering_tests(runner.MODULES[name].files)

    assert "tests/unit/dataset/test_validate.py" in covering("validate")
    assert "tests/unit/configs/test_memory.py" in covering("memory")
    # The shim psych_plugin/prompt_strategy.py counts for integration/prompt_strategy.py.
    prompts = covering("prompts")
    assert {
        "tests/unit/test_prompts.py",
        "tests/unit/integration/test_prompt_strategy.py",
        "tests/unit/test_prompt_strategy.py",
    } <= set(prompts)
    # Every test that imports the module, not only its mirror (merge's tests use run_paths).
    assert "tests/unit/model/test_merge.py" in covering("inference")
    assert "tests/unit/model/test_inference.py" not in covering("merge")
    assert "tests/unit/dataset/test_validate.py" not in covering("memory")


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_covering_tests_by_layout_and_by_every_kind_of_import(tmp_path):
    pkg, unit = tmp_path / "psych_plugin", tmp_path / "tests" / "unit"
    write(
        pkg / "__init__.py", "from .a.b import X  # the package re-exports, and does more\nY = 1\n"
    )
    write(pkg / "a" / "__init__.py")
    write(pkg / "a" / "b.py", "X = 1\n")
    write(pkg / "a" / "c.py", "Z = 1\n")
    write(pkg / "shim.py", '"""Another name for a.b."""\n\nfrom .a.b import X  # noqa\n')
    write(unit / "a" / "test_b.py", "def test_x():\n    pass\n")  # the mirror, no import
    write(unit / "test_in_a_function.py", "def test_x():\n    from psych_plugin.a.b import X\n")
    write(unit / "test_from_package.py", "from psych_plugin.a import b\n")
    write(unit / "test_plain.py", "import psych_plugin.a.b as b\n")
    write(unit / "test_shim.py", "from psych_plugin.shim import X\n")
    write(unit / "test_sibling.py", "from psych_plugin.a import c\nimport psych_plugin\n")
    write(unit / "test_package.py", "from psych_plugin import Y\n")
    write(unit / "test_text.py", "NAME = 'psych_plugin.a.b'\n")
    assert runner.covering_tests(["psych_plugin/a/b.py"], root=tmp_path) == [
        "tests/unit/a/test_b.py",
        "tests/unit/test_from_package.py",
        "tests/unit/test_in_a_function.py",
        "tests/unit/test_plain.py",
        "tests/unit/test_shim.py",
    ]
    assert runner.covering_tests(["psych_plugin/a/c.py"], root=tmp_path) == [
        "tests/unit/test_sibling.py"
    ]


def make_mutation_command(*variables: str) -> str:
    """The command `make mutation VARIABLES` would run, on one line."""
    return " ".join(make_n("mutation", *variables).replace("\\\n", " ").split())


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
    patterns = runner.function_patterns(["_check_keys", "add"])
    chosen = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    assert chosen == [names[0], names[3]]
