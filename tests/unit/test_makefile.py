"""The Makefile's launch lines (what `make train` runs), checked with `make -n`.

Real multi-process runs of these lines (2 processes, 2 nodes on localhost, on the CPU) are in
tests/e2e/test_distributed.py.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import REPO


def dry_run(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "train", *args], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_single_gpu_or_cpu_runs_axolotl_train_directly():
    out = dry_run("PRESET=tiny-cpu")
    assert ".venv/bin/python -m axolotl.cli.train axolotl_configs/generated/tiny-cpu.yml" in out
    assert "psych preflight axolotl_configs/generated/tiny-cpu.yml" in out
    assert "accelerate" not in out


def test_several_gpus_launch_through_accelerate():
    out = dry_run("PRESET=qwen3-1.7b-qlora-ds2", "NUM_GPUS=4")
    assert (
        ".venv/bin/accelerate launch --multi_gpu --num_processes 4 --num_machines 1 "
        "--machine_rank 0 --main_process_ip 127.0.0.1 --main_process_port 29500 "
        "-m axolotl.cli.train axolotl_configs/generated/qwen3-1.7b-qlora-ds2.yml"
    ) in out


def test_several_machines():
    out = dry_run(
        "PRESET=qwen3-1.7b-lora-fsdp",
        "NUM_GPUS=8",
        "NUM_NODES=2",
        "NODE_RANK=1",
        "MASTER_ADDR=10.0.0.1",
        "MASTER_PORT=29600",
    )
    assert (
        "--num_processes 16 --num_machines 2 --machine_rank 1 --main_process_ip 10.0.0.1 "
        "--main_process_port 29600 -m axolotl.cli.train"
    ) in out


def test_force_replaces_a_finished_run():
    assert "psych preflight axolotl_configs/generated/tiny-cpu.yml --force" in dry_run(
        "PRESET=tiny-cpu", "FORCE=1"
    )


def fake_nvidia_smi(tmp_path, stdout: str, code: int) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\nprintf '%s' '{stdout}'\nexit {code}\n")
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("stdout", "code", "preset"),
    [
        ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n", 0, "qwen3-1.7b-qlora"),
        ("", 9, "tiny-cpu"),  # a driver without a device
    ],
)
def test_default_preset_follows_the_gpu(tmp_path, stdout, code, preset):
    """No PRESET given: the CUDA GPU (as nvidia-smi reports it) picks the preset."""
    done = subprocess.run(
        ["make", "-n", "train"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=fake_nvidia_smi(tmp_path, stdout, code),
    )
    out = done.stdout
    assert f"psych config {preset} " in out
    assert f"-m axolotl.cli.train axolotl_configs/generated/{preset}.yml" in out
    assert f"psych trained axolotl_configs/generated/{preset}.yml" in out
    assert ("psych tiny" in out) == (preset == "tiny-cpu")


def test_nproc_is_processes_per_machine_and_num_gpus_its_alias():
    assert "--num_processes 2 --num_machines 1" in dry_run("PRESET=tiny-cpu", "NPROC=2")
    assert "--num_processes 6 --num_machines 2" in dry_run("NUM_GPUS=3", "NUM_NODES=2")


def test_other_nodes_skip_the_finished_run_checks_and_the_adapter_check():
    out = dry_run("PRESET=tiny-cpu", "NUM_NODES=2", "NODE_RANK=1", "FORCE=1")
    assert "preflight axolotl_configs/generated/tiny-cpu.yml --force --node-rank 1" in out
    assert "psych trained" not in out and "node 1 done: node 0 writes the adapter" in out
    assert "psych trained" in dry_run("PRESET=tiny-cpu", "NUM_NODES=2", "NODE_RANK=0")
