"""Faults: a killed run resumes from its last checkpoint; a finished run is not overwritten
without --force; unwritable or full output folders fail before training."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from psych_plugin.cli import main
from tests.conftest import (
    MINI,
    last_checkpoint,
    make_config,
    run_axolotl,
    stop_at_checkpoint,
)

pytestmark = pytest.mark.slow

# A checkpoint every 2 steps, killed once checkpoint-4 is complete: 6 steps (over 10 s) still
# to go leave the kill, sent within 0.1 s, far ahead of the end, and the resumed run real steps
# to do.
STEPS = 10
KILL_AT = 4


def test_killed_run_resumes_from_last_checkpoint(tmp_path: Path, tiny_model: Path, capsys):
    config = make_config(
        tmp_path,
        tiny_model,
        MINI,
        f"max_steps={STEPS}",
        "saves_per_epoch=null",
        "save_steps=2",
        "evals_per_epoch=null",
        "eval_strategy=no",
        "test_datasets=null",
        "val_set_size=0",
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "axolotl.cli.train", str(config)]
    stop_at_checkpoint(command, out, KILL_AT, signal.SIGKILL)
    assert not (out / "adapter_model.safetensors").exists()  # killed before the end
    done_steps = last_checkpoint(out)
    assert KILL_AT <= done_steps < STEPS

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
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    assert (out / "adapter_model.safetensors").is_file()

    # Finished now: `make train` again would refuse to overwrite it without FORCE=1.
    assert main(["preflight", str(config)]) == 2
    assert "holds a finished run's adapter" in capsys.readouterr().err
    assert (out / "adapter_model.safetensors").is_file()
    assert main(["preflight", str(config), "--force"]) == 0
    assert not out.exists()
