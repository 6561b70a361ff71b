"""`make bench-gpu` on the CPU: the same code as on a GPU at tiny scale, both contenders trained
through Axolotl, JSON and the Markdown table written to the results folder, the docs page's
generated section replaced between its markers, the README never touched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_bench_gpu_runs_on_cpu_and_reports_both_contenders(tmp_path, tiny_model):
    page = tmp_path / "benchmarks.md"
    page.write_text("# x\n\nbefore\n<!-- bench-gpu:start -->\nold\n<!-- bench-gpu:end -->\nafter\n")
    readme_before = (REPO / "README.md").read_bytes()
    out = tmp_path / "results" / "gpu.json"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu.py",
            "--steps=2",
            "--warmup=1",
            f"--out={out}",
            f"--docs={page}",
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
    text = page.read_text()
    assert "old" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert "| preset |" in text and "| guide |" in text and "CPU, tiny model" in text
    table = (tmp_path / "results" / "gpu.md").read_text()
    assert "| preset |" in table and "| guide |" in table and "CPU, tiny model" in table
    assert "| preset |" in done.stdout and "| guide |" in done.stdout
    assert (REPO / "README.md").read_bytes() == readme_before


@pytest.mark.slow
@pytest.mark.parametrize("content", ["# no markers here\n", None])
def test_bench_gpu_refuses_a_page_without_its_section_before_training(tmp_path, content):
    """A --docs page without the generated section (or no page at all) is one line and exit 1
    within seconds: nothing is trained, nothing written."""
    page = tmp_path / "benchmarks.md"
    if content is not None:
        page.write_text(content)
    out = tmp_path / "results" / "gpu.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", f"--docs={page}", f"--out={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    if content is None:
        assert done.stderr.startswith(f"{page}: cannot read: ")
    else:
        markers = "<!-- bench-gpu:start --> ... <!-- bench-gpu:end -->"
        expected = f"{page}: no {markers} section to update"
        assert done.stderr.strip() == expected
        assert page.read_text() == content
    assert "training" not in done.stdout and not out.parent.exists()
