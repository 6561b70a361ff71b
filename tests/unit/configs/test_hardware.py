"""psych_plugin/configs/hardware.py: one CUDA detector (nvidia-smi, with a timeout) for the
Makefile and the package, and what Hardware.detect reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from psych_plugin.configs import hardware
from psych_plugin.configs.hardware import Hardware, has_cuda_gpu
from psych_plugin.configs.templates import default_preset
from tests.conftest import GPU_LIST, NO_DEVICE, REPO, fake_nvidia_smi, make_n

CPU = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
GPU = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)


def test_hardware_detect_asks_the_one_detector(monkeypatch):
    monkeypatch.setattr(hardware, "has_cuda_gpu", lambda: True)
    monkeypatch.setattr(hardware, "module_importable", lambda name: name == "flash_attn")
    monkeypatch.setattr(hardware, "torch_cuda_problem", lambda: "why")
    # bitsandbytes is a dependency: installed here
    assert Hardware.detect() == Hardware(
        cuda=True, flash_attn=True, bitsandbytes=True, torch_cuda_problem="why"
    )
    monkeypatch.setattr(hardware, "has_cuda_gpu", lambda: False)
    monkeypatch.setattr(hardware, "module_importable", lambda name: False)
    monkeypatch.setattr(hardware, "torch_cuda_problem", lambda: None)
    assert Hardware.detect() == Hardware(cuda=False, flash_attn=False, bitsandbytes=True)


def test_has_module_uses_the_detected_flash_attn_and_looks_up_the_rest():
    assert Hardware(cuda=True, flash_attn=True, bitsandbytes=True).has_module("flash_attn") is True
    assert (
        Hardware(cuda=True, flash_attn=False, bitsandbytes=True).has_module("flash_attn") is False
    )
    assert CPU.has_module("yaml") is True
    assert GPU.has_module("no_such_module_here") is False


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [
        ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n", 0, True),
        ("", 9, False),  # driver present, no device: nvidia-smi fails
        ("No devices were found\n", 0, False),
        ("GPU 0: NVIDIA A100\n", 6, False),
    ],
)
def test_cuda_detector_follows_nvidia_smi(tmp_path, monkeypatch, stdout, code, expected):
    env = fake_nvidia_smi(tmp_path, stdout, code)
    monkeypatch.setenv("PATH", env["PATH"])
    assert has_cuda_gpu() is expected
    assert default_preset() == ("qwen3-1.7b-qlora" if expected else "tiny-cpu")


def test_cuda_detector_without_nvidia_smi(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert has_cuda_gpu() is False
    assert default_preset() == "tiny-cpu"


def test_cuda_detector_hung_driver(tmp_path, monkeypatch):
    import subprocess

    env = fake_nvidia_smi(tmp_path, "GPU 0: X\n")
    monkeypatch.setenv("PATH", env["PATH"])

    def hang(*_a, **kw):
        assert kw.get("timeout"), "nvidia-smi must be called with a timeout"
        raise subprocess.TimeoutExpired("nvidia-smi", kw["timeout"])

    monkeypatch.setattr(subprocess, "run", hang)
    assert has_cuda_gpu() is False


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


@pytest.mark.parametrize(
    ("stdout", "code", "expected"),
    [(GPU_LIST, 0, "1"), (NO_DEVICE, 6, ""), ("", 127, ""), ("nothing here\n", 0, "")],
)
def test_one_detector_for_makefile_and_package(tmp_path, stdout, code, expected):
    env = fake_nvidia_smi(tmp_path, stdout, code)
    assert detector(env) == expected
    preset = "qwen3-1.7b-qlora" if expected else "tiny-cpu"
    out = make_n("train", env=env)
    assert f"psych config {preset} " in out
    assert f"-m axolotl.cli.train axolotl_configs/generated/{preset}.yml" in out
    # The package's own answer (config generator, checker, inference) is the same function.
    code = "from psych_plugin.configs.templates import default_preset; print(default_preset())"
    got = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert got.stdout.strip() == preset
