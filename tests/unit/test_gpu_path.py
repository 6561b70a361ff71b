"""The GPU path, exercised on a CPU: one hardware detector (the Makefile asks the package), a
set-up that no optional kernel can break, the attention backend check, the checker's verdicts
on the patterns of Axolotl's own example configs, and the memory estimate."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from psych_plugin.configs.checks import check_config
from psych_plugin.configs.hardware import Hardware
from psych_plugin.configs.templates import deep_merge, render, resolve_preset
from tests.conftest import FIXTURES, REPO

CHECKER = FIXTURES / "checker"
GPU_NO_FLASH = Hardware(cuda=True, flash_attn=False, bitsandbytes=True)
GPU = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)


def stand_in(tmp: Path, script: str) -> dict[str, str]:
    """An environment whose PATH starts with a stand-in `nvidia-smi` running `script`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


GPU_ANSWER = 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)"'
# What nvidia-smi says on a machine with the driver but no usable GPU.
NO_DEVICE = 'echo "No devices were found"; exit 6'


def detector(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "psych_plugin.configs.hardware"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_n(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["make", "-n", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.parametrize(
    ("script", "expected"),
    [(GPU_ANSWER, "1"), (NO_DEVICE, ""), ("exit 127", ""), ('echo "nothing here"', "")],
)
def test_one_detector_for_makefile_and_package(tmp_path, script, expected):
    env = stand_in(tmp_path, script)
    assert detector(env) == expected
    preset = "qwen3-1.7b-qlora" if expected else "tiny-cpu"
    out = make_n(env, "train")
    assert f"psych config {preset} " in out
    assert f"-m axolotl.cli.train axolotl_configs/generated/{preset}.yml" in out
    # The package's own answer (config generator, checker, inference) is the same function.
    code = "from psych_plugin.configs.templates import default_preset; print(default_preset())"
    got = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert got.stdout.strip() == preset


@pytest.mark.parametrize(("script", "expected"), [(GPU_ANSWER, True), (NO_DEVICE, False)])
def test_inference_asks_the_same_detector(tmp_path, monkeypatch, script, expected):
    from psych_plugin.model import inference

    monkeypatch.setenv("PATH", stand_in(tmp_path, script)["PATH"])
    assert inference.has_cuda() is expected


def setup_commands(env: dict[str, str], *args: str) -> list[str]:
    # -W: pretend pyproject.toml changed, so make prints the install it would run.
    out = make_n(env, "-W", "pyproject.toml", "setup", *args)
    return [line for line in out.splitlines() if "pip install" in line]


def test_setup_on_a_gpu_machine_installs_no_kernel_that_needs_a_build(tmp_path):
    env = stand_in(tmp_path, GPU_ANSWER)
    [install] = setup_commands(env)
    assert "'.[train,dev]'" in install and "flash" not in install
    # flash-attn only on request, after torch, built without isolation.
    lines = setup_commands(env, "FLASH_ATTN=1")
    assert lines[0] == install
    assert "--no-build-isolation 'flash-attn==2.8.3'" in lines[-1]
    train = make_n(env, "train", "FLASH_ATTN=1")
    assert "--set attn_implementation=flash_attention_2" in train
    assert "flash" not in make_n(env, "train")


@pytest.mark.slow
def test_setup_install_resolves_on_a_gpu_machine(tmp_path):
    """`pip install --dry-run` of exactly the line `make setup` runs with a GPU present."""
    env = stand_in(tmp_path, GPU_ANSWER)
    [install] = setup_commands(env)
    argv = shlex.split(install)
    argv[argv.index("install") + 1 : argv.index("install") + 1] = ["--dry-run"]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "flash" not in done.stdout.lower()


def write_fixture(tmp: Path, name: str) -> Path:
    base = yaml.safe_load((CHECKER / "base.yml").read_text())
    cfg = deep_merge(base, yaml.safe_load((CHECKER / name).read_text()))
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def verdicts(problems):
    errors = sorted(p.field for p in problems if p.severity == "error")
    warnings = sorted(p.field for p in problems if p.severity == "warning")
    return errors, warnings


@pytest.mark.parametrize(
    ("name", "errors", "warnings"),
    [
        ("base.yml", [], []),
        ("sdpa_packing.yml", [], []),
        ("dpo_dataset.yml", [], []),
        ("hub_kernel_packing.yml", [], ["sample_packing"]),
        ("unset_attention_packing.yml", ["sample_packing"], []),
        (
            "stepwise_dataset.yml",
            [],
            [
                "datasets.0.max_completion_length",
                "datasets.0.step_separator",
                "datasets.0.train_on_last_step_only",
            ],
        ),
        ("flash_attention.yml", [], []),
    ],
)
def test_checker_patterns_from_axolotl_examples(tmp_path, name, errors, warnings):
    problems = check_config(write_fixture(tmp_path, name), GPU)
    assert verdicts(problems) == (errors, warnings), problems


def test_axolotl_really_drops_stepwise_keys_without_rl():
    """Why the stepwise keys are warned about: Axolotl 0.19's own validator drops them."""
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    cfg = deep_merge(
        yaml.safe_load((CHECKER / "base.yml").read_text()),
        yaml.safe_load((CHECKER / "stepwise_dataset.yml").read_text()),
    )
    [entry] = validate_config(DictDefault(cfg))["datasets"]
    assert entry["type"] == "stepwise_supervised"
    assert "step_separator" not in entry and "max_completion_length" not in entry


def test_missing_attention_package_is_an_error_with_the_fix(tmp_path):
    path = write_fixture(tmp_path, "flash_attention.yml")
    [problem] = [p for p in check_config(path, GPU_NO_FLASH) if p.severity == "error"]
    assert problem.field == "attn_implementation" and problem.line > 0
    assert "make setup FLASH_ATTN=1" in problem.message
    assert "attn_implementation: sdpa" in problem.message
    # On a machine without a GPU the same config only warns (it may be meant for another).
    cpu = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
    assert verdicts(check_config(path, cpu)) == ([], ["attn_implementation"])


def test_a_package_axolotl_imports_while_validating_is_named(tmp_path):
    problems = check_config(write_fixture(tmp_path, "ring_attention.yml"), GPU)
    [error] = [p for p in problems if p.severity == "error"]
    assert error.message.startswith("needs a package that is not installed here")
    assert "ring_flash_attn" in error.message


@pytest.mark.parametrize("preset", ["qwen3-1.7b-qlora", "qwen3-1.7b-lora"])
def test_gpu_presets_check_clean_without_flash_attn(tmp_path, preset):
    out = tmp_path / f"{preset}.yml"
    out.write_text(render(resolve_preset(preset)))
    cfg = yaml.safe_load(out.read_text())
    assert cfg["attn_implementation"] == "sdpa" and cfg["sample_packing"] is True
    assert check_config(out, GPU_NO_FLASH) == []


def test_stand_in_gpu_generates_the_qwen_preset_with_an_importable_backend(tmp_path):
    """`psych config` on a machine whose nvidia-smi answers: the qwen preset, sdpa (torch
    itself), the reason printed; the only error is that this torch build is CPU-only."""
    env = stand_in(tmp_path, GPU_ANSWER)
    out = tmp_path / "gen.yml"
    done = subprocess.run(
        [sys.executable, "-m", "psych_plugin", "config", "-o", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "chose qwen3-1.7b-qlora" in done.stderr
    assert yaml.safe_load(out.read_text())["attn_implementation"] == "sdpa"
    assert re.search(r"attention: sdpa: PyTorch SDPA, always importable; packed rows", done.stdout)
    import torch

    problems = [line for line in done.stdout.splitlines() if line.startswith(f"{out}:")]
    if not torch.cuda.is_available():  # a CPU torch build under a stand-in driver
        assert len(problems) == 1 and "cannot use it" in problems[0], done.stdout
        assert done.returncode == 1
    else:
        assert problems == [] and done.returncode == 0, done.stdout


def qwen3_params() -> dict[str, int]:
    """Qwen3-1.7B's parameter counts by hand from its published config.json (no model built)."""
    import json

    c = json.loads(
        (REPO / "psych_plugin/resources/model_configs/Qwen--Qwen3-1.7B.json").read_text()
    )
    h, inter, layers, hd = (
        c["hidden_size"],
        c["intermediate_size"],
        c["num_hidden_layers"],
        c["head_dim"],
    )
    q = h * c["num_attention_heads"] * hd
    kv = h * c["num_key_value_heads"] * hd
    linear = layers * (2 * q + 2 * kv + 3 * h * inter)
    embed = c["vocab_size"] * h  # tied with lm_head
    r = 16
    shapes = [
        (h, c["num_attention_heads"] * hd),
        (h, c["num_key_value_heads"] * hd),
        (h, c["num_key_value_heads"] * hd),
        (c["num_attention_heads"] * hd, h),
        (h, inter),
        (h, inter),
        (inter, h),
    ]
    lora = layers * sum(r * (a + b) for a, b in shapes)
    return {"linear": linear, "embed": embed, "lora": lora, "vocab": c["vocab_size"], "h": h}


@pytest.mark.parametrize("sets", [[], ["micro_batch_size=1", "sequence_len=1024"]])
def test_memory_estimate_within_2x_of_a_hand_derivation(sets):
    from psych_plugin.configs.architecture import model_config_for
    from psych_plugin.configs.memory import GiB, estimate_memory

    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    model_config, _ = model_config_for(cfg["base_model"])
    estimate = estimate_memory(cfg, model_config)
    p = qwen3_params()
    tokens = cfg["micro_batch_size"] * cfg["sequence_len"]
    expected = (
        p["linear"] * 0.5  # NF4 weights
        + p["embed"] * 2  # bf16 embedding (never quantized)
        + p["lora"] * (4 + 4 + 2)  # fp32 LoRA weights and grads, 8-bit Adam (2 states)
        + tokens * p["vocab"] * 4 * 2  # fp32 logits and their gradient
        + 28 * tokens * p["h"] * 2  # checkpointed layer inputs, bf16
        + 0.5 * GiB  # CUDA context
    )
    ratio = estimate.total / expected
    assert 0.5 < ratio < 2, (estimate.lines(), expected / GiB)
    weights = next(v for k, v in estimate.parts.items() if k.startswith("base weights"))
    assert abs(weights / (p["linear"] * 0.5 + p["embed"] * 2) - 1) < 0.1
