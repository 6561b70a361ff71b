"""`make mutation [MODULE=name]`: mutation testing of the core modules with mutmut, one module
at a time, against the fast (non-slow) tests that cover it. Those are derived, not listed:
tests/unit/<pkg>/test_<module>.py by the layout convention, plus every tests/unit file that
imports the module (or a package module that only re-exports it).

Each run works in a temporary copy of the checkout (mutmut writes a `mutants/` tree next to
the sources; the checkout stays clean), writes the `[tool.mutmut]` section for that module into
the copy's pyproject.toml, runs `mutmut run`, and prints killed / survived / score. Survivors
are listed with `mutmut results`; `mutmut show NAME` in the copy (kept with KEEP=1) shows one.

A mutant that no test can tell apart from the original (an equivalent mutant) is marked in the
source with `# pragma: no mutate` and a reason.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.checkout import copy_checkout  # noqa: E402

PACKAGE = "psych_plugin"


class Target(NamedTuple):
    files: list[str]  # what to mutate
    only: list[str] = []  # mutant-name globs to keep (all when empty)


# module -> what to mutate. The fast tests that cover it are derived (covering_tests).
MODULES: dict[str, Target] = {
    "schema": Target(["psych_plugin/dataset/schema.py"]),
    "validate": Target(["psych_plugin/dataset/validate.py"]),
    "prompts": Target(["psych_plugin/prompts.py", "psych_plugin/integration/prompt_strategy.py"]),
    "configs": Target(["psych_plugin/configs/templates.py", "psych_plugin/configs/checks.py"]),
    "hardware": Target(
        ["psych_plugin/configs/hardware.py"],
        ["*.x_has_cuda_gpu__mutmut_*"],  # the CUDA detector (the rest: attention backends)
    ),
    "memory": Target(["psych_plugin/configs/memory.py"]),
    "inference": Target(["psych_plugin/model/inference.py"]),
    "merge": Target(["psych_plugin/model/merge.py"]),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """psych_plugin/configs/memory.py -> psych_plugin.configs.memory"""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path = ROOT) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, anywhere in the file (imports inside functions too):
    `import a.b` and `from a.b import c` give a.b; `from a import b` gives a.b when b is a
    module; relative imports are resolved against the file's package."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if is_module(sub, root) else base)
    return found


def aliases(module: str, root: Path = ROOT) -> set[str]:
    """`module` and the package modules that only re-export it (psych_plugin/prompt_strategy.py,
    the stable dotted path of integration/prompt_strategy.py): importing one tests the other."""
    names = {module}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        statements = [
            n
            for n in body
            if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))  # docstring
            and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
        ]
        if statements and all(isinstance(n, ast.ImportFrom) for n in statements):
            sources = {m for m in imported_modules(path, root) if m.startswith(PACKAGE)}
            if module in sources:
                names.add(module_name(path, root))
    return names


def covering_tests(files: list[str], root: Path = ROOT) -> list[str]:
    """The fast test files that cover these package files: tests/unit/<pkg>/test_<module>.py
    by the layout convention, plus every tests/unit file that imports one of them."""
    unit = root / "tests" / "unit"
    wanted: set[str] = set()
    found: set[Path] = set()
    for file in files:
        source = root / file
        wanted |= aliases(module_name(source, root), root)
        inside = source.relative_to(root / PACKAGE)
        mirror = unit / inside.parent / f"test_{inside.name}"
        if mirror.is_file():
            found.add(mirror)
    for test in sorted(unit.rglob("test_*.py")):
        if imported_modules(test, root) & wanted:
            found.add(test)
    return sorted(str(p.relative_to(root)) for p in found)


# What the tests read besides the package and the tests themselves (tools: the preload plugin).
ALSO_COPY = ["schemas", "data", "axolotl_configs", "Makefile", ".ci", ".github", "tools"]


def _copy_checkout(dest: Path) -> None:
    copy_checkout(dest, ROOT)
    # mutmut copies the package file by file and skips the resource links; they point at the
    # top-level folders, which are copied next to the mutants.
    resources = dest / "mutants" / "psych_plugin" / "resources"
    resources.mkdir(parents=True)
    for link in (ROOT / "psych_plugin" / "resources").iterdir():
        if link.is_symlink():
            (resources / link.name).symlink_to(os.readlink(link))


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}
    env.update(HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # Mutants run in processes forked from the one that ran the tests once. GNU OpenMP is not
    # fork-safe: after torch used its thread pool, a forked child's first torch op spins until
    # mutmut's CPU limit kills it, and mutmut counts that as a kill (a surviving mutant of
    # generate_answers read as "timeout"). One thread: no pool, honest verdicts, same speed.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    return subprocess.run([mutmut, *args], cwd=work, env=env, capture_output=True, text=True)


def _statuses(work: Path) -> dict[str, str]:
    listed = _mutmut(work, "results", "--all", "true").stdout
    out = {}
    for line in listed.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            out[name] = status
    return out


def function_patterns(functions: list[str]) -> list[str]:
    """Globs for the mutants of these functions or methods: mutmut names them
    `module.x_NAME__mutmut_N` and `module.xǁClassǁNAME__mutmut_N`."""
    return [p for f in functions for p in (f"*.x_{f}__mutmut_*", f"*ǁ{f}__mutmut_*")]


def run_module(
    name: str, keep: bool, max_children: int, sample: int | None, functions: list[str] | None = None
) -> dict[str, int | float | str]:
    files, only = MODULES[name]
    tests = covering_tests(files)
    if functions:
        only = function_patterns(functions)
    work = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
    try:
        _copy_checkout(work)
        section = "\n".join(
            [
                "",
                "[tool.mutmut]",
                'source_paths = ["psych_plugin"]',
                f"only_mutate = {_toml_list(files)}",
                f"also_copy = {_toml_list(ALSO_COPY)}",
                f"pytest_add_cli_args_test_selection = {_toml_list(tests)}",
                'pytest_add_cli_args = ["-m", "not slow", "-p", "no:cacheprovider", "-q", '
                '"-p", "tools.mutmut_preload"]',
                # Forked from the process that collected the tests: each mutant costs only its
                # tests (a fork server re-imports torch for every mutant, 3x slower here).
                'process_isolation = "fork"',
                # A loaded machine runs slow: mutmut's CPU-time limit (15x the measured test
                # time) then stops mutants that are merely slow and counts them as killed.
                "timeout_multiplier = 40.0",
                "",
            ]
        )
        with open(work / "pyproject.toml", "a", encoding="utf-8") as f:
            f.write(section)
        start = time.perf_counter()
        # Generate the mutants and map tests to functions, checking none yet (mutmut then stops
        # on the empty selection, after writing both).
        done = _mutmut(work, "run", "--max-children", str(max_children), "__none__")
        if not (work / "mutants" / "mutmut-stats.json").is_file():
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
            raise SystemExit(f"mutation {name}: mutmut could not start (exit {done.returncode})")
        names = sorted(_statuses(work))
        if only:
            names = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in only)]
        total = len(names)
        if sample and sample < total:
            names = sorted(random.Random(15).sample(names, sample))
        for i in range(0, len(names), 50):
            done = _mutmut(work, "run", "--max-children", str(max_children), *names[i : i + 50])
            if "Failed to run clean test" in done.stdout + done.stderr:
                # The unmutated code fails its own tests here: no verdict would mean anything.
                print(done.stdout[-3000:], file=sys.stderr)
                raise SystemExit(f"mutation {name}: the tests fail on the unmutated code")
        seconds = time.perf_counter() - start
        status = _statuses(work)
        counts: dict[str, int] = {}
        for n in names:
            counts[status.get(n, "missing")] = counts.get(status.get(n, "missing"), 0) + 1
        killed = sum(counts.get(k, 0) for k in ("killed", "timeout", "segfault"))
        judged = sum(counts.values()) - counts.get("skipped", 0)
        result = {
            "module": name,
            "files": " ".join(files),
            "mutants": total,
            "checked": len(names),
            "killed": killed,
            "survived": counts.get("survived", 0),
            "no_tests": counts.get("no tests", 0),
            "score": round(100 * killed / judged, 1) if judged else 0.0,
            "seconds": round(seconds),
        }
        sampled = f" (random sample of {len(names)} of {total})" if len(names) < total else ""
        print(
            f"{name:<10} {killed:>4} killed / {judged:>4} = {result['score']:.1f}%{sampled}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + f"; {result['seconds']} s",
            flush=True,
        )
        for n in names:
            if status.get(n) not in ("killed", "timeout", "segfault", "skipped"):
                print(f"    {n}: {status.get(n)}")
        if keep:
            print(f"    kept: {work} (mutmut show NAME there)")
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], metavar="MODULE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutants")
    parser.add_argument(
        "--sample", type=int, help="check a random (seeded) sample of N mutants per module"
    )
    parser.add_argument("--target", type=float, default=85.0, help="score below this fails")
    parser.add_argument(
        "--function", action="append", help="only this function's mutants (repeatable)"
    )
    args = parser.parse_args(argv)
    names = args.modules or list(MODULES)
    results = [
        run_module(n, args.keep, args.max_children, args.sample, args.function) for n in names
    ]
    low = [r for r in results if float(r["score"]) < args.target]
    if low:
        print(
            f"below {args.target:g}%: " + ", ".join(f"{r['module']} ({r['score']}%)" for r in low)
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
