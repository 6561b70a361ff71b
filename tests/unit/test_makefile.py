"""The Makefile's lines (what `make train`, `make setup` and `make eval` run), checked with
`make -n`.

Real multi-process runs of these lines (2 processes, 2 nodes on localhost, on the CPU) are in
tests/e2e/test_distributed.py."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from tests.conftest import GPU_LIST, REPO, fake_nvidia_smi, make_n


def dry_run(*args: str) -> str:
    return make_n("train", *args)


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


@pytest.mark.parametrize(
    ("stdout", "code", "preset"),
    [
        ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n", 0, "qwen3-1.7b-qlora"),
        ("", 9, "tiny-cpu"),  # a driver without a device
    ],
)
def test_default_preset_follows_the_gpu(tmp_path, stdout, code, preset):
    """No PRESET given: the CUDA GPU (as nvidia-smi reports it) picks the preset."""
    out = make_n("train", env=fake_nvidia_smi(tmp_path, stdout, code))
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


def setup_commands(env: dict[str, str], *args: str) -> list[str]:
    """The package installs `make setup` would run (one line each; uv's bootstrap left out)."""
    # -W: pretend pyproject.toml changed, so make prints the install it would run.
    out = make_n("-W", "pyproject.toml", "setup", *args, env=env).replace("\\\n", " ")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    return [line for line in lines if "pip install" in line and "'uv==" not in line]


def test_setup_installs_the_tested_set_with_uv_and_falls_back_to_pip(tmp_path):
    env = fake_nvidia_smi(tmp_path, GPU_LIST)
    [install] = setup_commands(env)
    uv, pip = install.split(" || ")
    for command in (uv, pip):
        assert "-c tools/constraints.txt" in command and command.endswith("-e '.[train,dev]'")
    assert uv.startswith(".venv/bin/uv pip install --python .venv/bin/python ")
    assert pip.startswith(".venv/bin/python -m pip install ")


def test_setup_on_a_gpu_machine_installs_no_kernel_that_needs_a_build(tmp_path):
    env = fake_nvidia_smi(tmp_path, GPU_LIST)
    [install] = setup_commands(env)
    assert "'.[train,dev]'" in install and "flash" not in install
    # flash-attn only on request, after torch, built without isolation.
    lines = setup_commands(env, "FLASH_ATTN=1")
    assert lines[0] == install
    assert "--no-build-isolation 'flash-attn==2.8.3'" in lines[-1]
    train = make_n("train", "FLASH_ATTN=1", env=env)
    assert "--set attn_implementation=flash_attention_2" in train
    assert "flash" not in make_n("train", env=env)


@pytest.mark.slow
def test_setup_install_resolves_on_a_gpu_machine(tmp_path):
    """`pip install --dry-run` of exactly the line `make setup` runs with a GPU present."""
    env = fake_nvidia_smi(tmp_path, GPU_LIST)
    [install] = setup_commands(env)
    for command in install.split(" || "):  # uv's line, then pip's fallback: both resolve
        argv = shlex.split(command)
        argv[argv.index("install") + 1 : argv.index("install") + 1] = ["--dry-run"]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "flash" not in (done.stdout + done.stderr).lower()


def make_eval(*args: str) -> str:
    from tests.conftest import make_n

    out = make_n("--no-print-directory", "eval", "PRESET=tiny-cpu", *args)
    return out.strip().splitlines()[-1]


def test_make_eval_lines():
    config = "--config axolotl_configs/generated/tiny-cpu.yml"
    assert make_eval().endswith(f"psych eval {config} --mmlu")
    assert make_eval("MMLU_DIR=/d", "MMLU_LIMIT=50").endswith(
        f"psych eval {config} --mmlu-dir /d --mmlu-limit 50"
    )
    assert make_eval("MMLU=0", "MMLU_DIR=/d").endswith(f"psych eval {config}")
