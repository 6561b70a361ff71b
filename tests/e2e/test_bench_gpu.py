"""`make bench-gpu` on the CPU: the same code as on a GPU at tiny scale, both contenders trained
through Axolotl, JSON written, the README table replaced between its markers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_bench_gpu_runs_on_cpu_and_reports_both_contenders(tmp_path, tiny_model):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nbefore\n<!-- bench-gpu:start -->\nold\n<!-- bench-gpu:end -->\nafter\n"
    )
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu.py",
            "--steps=2",
            "--warmup=1",
            f"--out={out}",
            f"--readme={readme}",
            f"--cache={tmp_path / 'cache'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["scale"] == "CPU, tiny model" and report["gpu"] is False
    by_name = {r["contender"]: r for r in report["results"]}
    assert set(by_name) == {"preset", "guide"}
    for r in by_name.values():
        assert r["steps"] == 2 and r["measured_steps"] == 1
        assert r["tokens_per_s"] > 0 and r["step_time_s"] > 0
        assert r["estimate_gib"] > 0 and r["peak_allocated_gib"] is None
    # Packing puts more real tokens into the preset's steps than the guide's padded batches.
    assert by_name["preset"]["tokens_per_step"] > by_name["guide"]["tokens_per_step"]
    text = readme.read_text()
    assert "old" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert "| preset |" in text and "| guide |" in text and "CPU, tiny model" in text
    assert "| preset |" in done.stdout and "| guide |" in done.stdout
