"""Faults: a killed run resumes from its last checkpoint; a finished run is not overwritten
without --force; unwritable or full output folders fail before training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psych_plugin.cli import main
from tests.conftest import MINI, OFFLINE_ENV, REPO, make_config, run_axolotl

pytestmark = pytest.mark.slow


def test_killed_run_resumes_from_last_checkpoint(tmp_path: Path, tiny_model: Path, capsys):
    config = make_config(
        tmp_path,
        tiny_model,
        MINI,
        "max_steps=40",
        "saves_per_epoch=null",
        "save_steps=5",
        "evals_per_epoch=null",
        "eval_strategy=no",
        "test_datasets=null",
        "val_set_size=0",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "axolotl.cli.train", str(config)],
        cwd=REPO,
        env={**os.environ, **OFFLINE_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while not (out / "checkpoint-10" / "trainer_state.json").exists():
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.time() < deadline, "no checkpoint within 5 minutes"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "adapter_model.safetensors").exists()  # killed before the end
    done_steps = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert 10 <= done_steps < 40

    assert main(["preflight", str(config)]) == 0
    assert (
        f"resuming the interrupted run from {out / f'checkpoint-{done_steps}'}"
        in capsys.readouterr().out
    )

    done = run_axolotl("train", config)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    resumed = [ln for ln in log.splitlines() if "resum" in ln.lower()]
    assert any(f"checkpoint-{done_steps}" in ln for ln in resumed), resumed or log[-3000:]
    state = json.loads((out / "checkpoint-40" / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    assert (out / "adapter_model.safetensors").is_file()

    # Finished now: `make train` again would refuse to overwrite it without FORCE=1.
    assert main(["preflight", str(config)]) == 2
    assert "holds a finished run's adapter" in capsys.readouterr().err
    assert (out / "adapter_model.safetensors").is_file()
    assert main(["preflight", str(config), "--force"]) == 0
    assert not out.exists()
