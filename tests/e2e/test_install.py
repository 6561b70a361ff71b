"""The package as users get it: a wheel built from this checkout, installed elsewhere, run from a
directory that is not the checkout; the core install without Axolotl; the pre-commit hook.

The wheel is installed with `pip --target` and put first on PYTHONPATH, so the interpreter is the
test venv's (it has the train extra's packages) but `psych_plugin` is the wheel's copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.checkout import copy_checkout
from tests.conftest import MINI, OFFLINE_ENV, REPO, SCHEMA, held_out, user_env

pytestmark = pytest.mark.slow

GOOD = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def _pip(*args: str, timeout: int = 600) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # A copy as a fresh clone has it: a stale build/ in the checkout must not leak in.
    source = copy_checkout(tmp_path_factory.mktemp("clone") / "psych-plugin")
    _pip("wheel", "--no-deps", "-w", str(out), str(source))
    [built] = out.glob("psych_plugin-*.whl")
    return built


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    target = tmp_path_factory.mktemp("site")
    _pip("install", "--no-deps", "--target", str(target), str(wheel))
    return target


@pytest.fixture()
def user_dir(tmp_path: Path) -> Path:
    """A user's own project folder: their rows, nothing of this repository."""
    (tmp_path / "rows.jsonl").write_text(MINI.read_text())
    bad = json.dumps({"instruction": "Define priming.", "input": "", "answer": "x"})
    (tmp_path / "bad.jsonl").write_text(json.dumps(GOOD) + "\n" + bad + "\n")
    return tmp_path


def run_installed(site: Path, cwd: Path, *args: str, env: dict[str, str] | None = None):
    """As a user runs it: Axolotl's dataset worker processes at their default, so the preprocess
    below also proves they import the installed package (user_env)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=user_env(PYTHONPATH=str(site), **(env or {})),
    )


def test_wheel_carries_every_resource_and_matches_the_checkout(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    res = "psych_plugin/resources/"
    for path in [
        "schemas/alpaca.schema.json",
        "axolotl_configs/defaults.yml",
        "axolotl_configs/presets/tiny-cpu.yml",
        "axolotl_configs/presets/qwen3-1.7b-qlora.yml",
        "axolotl_configs/deepspeed/zero2.json",
        "model_configs/Qwen--Qwen3-1.7B.json",
        "data/psychology_alpaca.jsonl",
    ]:
        assert res + path in names, path
    assert "psych_plugin/integration/README.md" in names
    assert not any("/generated/" in n for n in names), "generated configs must not ship"
    # The shipped schema is the file users and check-jsonschema point at, byte for byte.
    with zipfile.ZipFile(wheel) as z:
        assert z.read(res + "schemas/alpaca.schema.json") == SCHEMA.read_bytes()
        shipped = z.read(res + "axolotl_configs/defaults.yml")
    assert shipped == (REPO / "axolotl_configs" / "defaults.yml").read_bytes()


def test_installed_wheel_works_from_another_directory(site, user_dir, tiny_model):
    def psych(*args: str):
        return run_installed(
            site, user_dir, "-m", "psych_plugin", *args, env={"PSYCH_CACHE_DIR": cache}
        )

    cache = str(tiny_model.parent)
    where = run_installed(site, user_dir, "-c", "import psych_plugin; print(psych_plugin.__file__)")
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr

    ok = psych("validate", "rows.jsonl")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = psych("validate", "bad.jsonl")
    assert bad.returncode == 1
    assert "bad.jsonl:2: answer:" in bad.stdout and "Traceback" not in bad.stderr
    lint = psych("lint", "rows.jsonl")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    sets = [
        "datasets.0.path=rows.jsonl",
        held_out("rows.jsonl"),
        "dataset_prepared_path=prepared",
        "output_dir=out",
    ]
    made = psych("config", "tiny-cpu", "-o", "my.yml", *(a for s in sets for a in ("--set", s)))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "ok: check-config my.yml" in made.stdout
    cfg = (user_dir / "my.yml").read_text()
    # The shipped templates were used, and the tiny model is the cached one, wherever it lives.
    assert "psych_plugin.PsychologyPlugin" in cfg and f"base_model: {tiny_model}" in cfg
    checked = psych("check-config", "my.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    pre = run_installed(site, user_dir, "-m", "axolotl.cli.preprocess", "my.yml")
    assert pre.returncode == 0, pre.stdout[-3000:] + pre.stderr[-3000:]
    assert list((user_dir / "prepared").rglob("dataset_info.json")), "nothing prepared"
    assert not (REPO / "prepared").exists() and not (REPO / "my.yml").exists()


def test_users_own_templates_and_schema_win(site, user_dir, tiny_model):
    shutil.copytree(
        REPO / "axolotl_configs",
        user_dir / "axolotl_configs",
        ignore=shutil.ignore_patterns("generated"),
    )
    preset = user_dir / "axolotl_configs" / "presets" / "mine.yml"
    preset.write_text("extends: tiny-cpu\nlearning_rate: 0.123\n")
    env = {"PSYCH_CACHE_DIR": str(tiny_model.parent)}
    made = run_installed(
        site,
        user_dir,
        "-m",
        "psych_plugin",
        "config",
        "mine",
        "-o",
        "m.yml",
        "--no-check",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert "learning_rate: 0.123" in (user_dir / "m.yml").read_text()

    schema = json.loads(SCHEMA.read_text())
    schema["properties"]["output"]["minLength"] = 100
    (user_dir / "schemas").mkdir()
    (user_dir / "schemas" / "alpaca.schema.json").write_text(json.dumps(schema))
    short = run_installed(site, user_dir, "-m", "psych_plugin", "validate", "bad.jsonl", env=env)
    assert short.returncode == 1 and "bad.jsonl:1: output:" in short.stdout, short.stdout


@pytest.fixture(scope="session")
def core_env(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv with the wheel and only its core dependencies (no Axolotl, no torch)."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    _pip("--python", str(py), "install", str(wheel))
    return py


def test_core_install_stands_alone(core_env, user_dir):
    def psych(*args: str):
        return subprocess.run(
            [str(core_env), "-m", "psych_plugin", *args],
            cwd=user_dir,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **OFFLINE_ENV, "PYTHONPATH": ""},
        )

    assert psych("--help").returncode == 0
    assert psych("validate", "rows.jsonl").returncode == 0
    assert psych("lint", "rows.jsonl").returncode == 0
    assert psych("stats", "rows.jsonl").returncode == 0
    fixed = psych("fix", "rows.jsonl", "-o", "fixed.jsonl")
    assert fixed.returncode == 0 and (user_dir / "fixed.jsonl").is_file(), fixed.stderr
    made = psych("config", "qwen3-1.7b-qlora", "-o", "q.yml")
    assert made.returncode == 0 and "skipped" in made.stdout, made.stdout + made.stderr
    for args in (
        ["check-config", "q.yml"],
        ["infer", "--config", "q.yml", "What is memory?"],
        ["eval", "--config", "q.yml"],
        ["merge", "--config", "q.yml"],
        ["tiny"],
    ):
        done = psych(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "psych-plugin[train]" in lines[0], (args, done.stderr)


def test_pre_commit_hook_passes_and_fails(tmp_path):
    exe = Path(sys.executable).parent / "pre-commit"
    assert exe.exists(), "pre-commit is a dev dependency; run make setup"
    work = tmp_path / "user-repo"
    work.mkdir()
    (work / "good.jsonl").write_text(json.dumps(GOOD) + "\n")
    bad = {"instruction": "Define priming.", "input": "", "output": "   "}
    (work / "bad.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pc-home"), "PYTHONPATH": ""}
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    subprocess.run([*git, "add", "."], cwd=work, check=True)

    def try_repo(name: str):
        return subprocess.run(
            [str(exe), "try-repo", str(REPO), "psych-validate", "--files", name],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )

    ok = try_repo("good.jsonl")
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    no = try_repo("bad.jsonl")
    assert no.returncode == 1, no.stdout[-3000:]
    assert "bad.jsonl:2: output:" in no.stdout
