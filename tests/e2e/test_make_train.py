"""`make train` itself, once: the real target and its whole chain (validate, tiny, config with
its check and memory estimate, preflight, Axolotl, trained), in a copy of the checkout so that
nothing lands in the working tree. Overrides keep it short: a few steps, and the preset's two
held-out sets cut to their first rows (the preset evaluates twice: on all 300 rows, about 6 of
the 9 minutes the test would take on 2 cores)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.checkout import copy_checkout as copy_checkout_as_clone
from tests.conftest import EVAL_SETS, REPO, user_env

pytestmark = pytest.mark.slow

STEPS = 4
HELD_OUT_ROWS = 8  # one eval batch of the preset (micro_batch_size 8)


def copy_checkout(dest: Path) -> None:
    """Tracked and untracked (not ignored) files, as a fresh clone plus local edits has them;
    .venv is linked, not copied."""
    copy_checkout_as_clone(dest)
    (dest / ".venv").symlink_to(REPO / ".venv")
    # The virtualenv is set up already: keep make from reinstalling it from the copy (an
    # editable install there would point the shared .venv at this temporary copy). The stamp's
    # prerequisites are the Makefile's: pyproject.toml and tools/constraints.txt.
    stamp = (REPO / ".venv" / ".installed").stat().st_mtime
    for prerequisite in ("pyproject.toml", "tools/constraints.txt"):
        os.utime(dest / prerequisite, (stamp - 60, stamp - 60))


def test_make_train_runs_the_whole_chain(tmp_path: Path, tiny_model: Path) -> None:
    work = tmp_path / "checkout"
    copy_checkout(work)
    # Axolotl's dataset worker processes as a user gets them (user_env).
    env = user_env(PSYCH_CACHE_DIR=str(tiny_model.parent))  # the session's tiny model
    sets = [f"max_steps={STEPS}"]
    for i, path in enumerate(EVAL_SETS):  # the preset's test_datasets, in its order
        cut = tmp_path / f"held-out-{i}.jsonl"
        cut.write_text("".join(path.read_text(encoding="utf-8").splitlines(True)[:HELD_OUT_ROWS]))
        sets.append(f"test_datasets.{i}.path={cut}")
    args = ["make", "train", "PRESET=tiny-cpu", f"SET={' '.join(sets)}"]
    done = subprocess.run(
        args,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    log = done.stdout
    assert done.returncode == 0, log[-5000:]

    # Every step of the chain ran, in order (the recipe is silent: each step's own output).
    steps = [
        "== no CUDA GPU found: running the CPU demo (preset tiny-cpu)",
        "file(s), ",  # psych validate of the shipped train and eval files: "ok: N file(s), "
        str(tiny_model),  # psych tiny
        "wrote: axolotl_configs/generated/tiny-cpu.yml",  # psych config
        "ok: check-config axolotl_configs/generated/tiny-cpu.yml: 0 error(s)",
        "GPU memory estimate for this run",
        "Training completed! Saving trained model to outputs/tiny-cpu",  # axolotl.cli.train
        "Adapter written to: outputs/tiny-cpu/",  # psych trained
    ]
    assert "\nok: " in log and "FAILED" not in log
    at = 0
    for step in steps:
        found = log.find(step, at)
        assert found >= 0, f"missing or out of order: {step!r}\n{log[-3000:]}"
        at = found + len(step)

    out = work / "outputs" / "tiny-cpu"
    for name in ("adapter_model.safetensors", "adapter_config.json", "README.md"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    train_rows = sum(1 for ln in (work / "data" / "psychology_alpaca.jsonl").open() if ln.strip())
    assert f"global_step: {STEPS}" in card and f"- rows: {train_rows}" in card
    config = (work / "axolotl_configs" / "generated" / "tiny-cpu.yml").read_text()
    assert f"max_steps: {STEPS}" in config and str(tiny_model) in config
    assert str(tmp_path / "held-out-1.jsonl") in config

    # A second `make train` stops before training instead of overwriting the finished run.
    again = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0
    assert "holds a finished run's adapter; not overwriting it" in again.stderr
    assert "Training completed" not in again.stdout + again.stderr
