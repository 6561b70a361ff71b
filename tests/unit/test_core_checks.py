"""The checks that stand between a user and a wasted run: the GPU memory estimate, the CUDA
detector (which picks the preset), `psych trained` and `psych stats --check`. Each test pins
exact figures or verdicts, so a wrong answer cannot pass."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from psych_plugin.cli import main
from psych_plugin.configs.hardware import has_cuda_gpu
from psych_plugin.configs.memory import GiB, estimate_memory
from psych_plugin.configs.templates import default_preset, resolve_preset
from psych_plugin.paths import MODEL_CONFIGS_DIR
from tests.conftest import EVAL_DATA, TRAIN_DATA

QWEN3 = json.loads((MODEL_CONFIGS_DIR / "Qwen--Qwen3-1.7B.json").read_text())

# Qwen3-1.7B counted by hand from its config.json (hidden 2048, 28 layers, 16 query heads and
# 8 key/value heads of 128, MLP 6144, vocabulary 151,936, tied embeddings):
# per layer q 2048*2048 + k, v 2048*1024 + o 2048*2048 + gate, up, down 2048*6144.
LINEAR = 28 * (2 * 2048 * 2048 + 2 * 2048 * 1024 + 3 * 2048 * 6144)  # 1,409,286,144
# embeddings (the head is tied) + per-layer norms (2 of 2048, q/k norms of 128) + final norm
OTHER = 151936 * 2048 + 28 * (2 * 2048 + 2 * 128) + 2048  # 311,288,832
# LoRA r=16 on all seven projections: r * (in + out) each
LORA_16 = 28 * 16 * (2 * 4096 + 2 * 3072 + 3 * 8192)  # 17,432,576


def test_param_counts_match_the_architecture():
    assert LINEAR == 1_409_286_144 and OTHER == 311_288_832 and LORA_16 == 17_432_576


def test_memory_estimate_qlora_preset_exact():
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    parts = estimate_memory(cfg, QWEN3).parts
    tokens = 2 * 2048  # micro_batch_size 2, sequence_len 2048
    assert parts == {
        "base weights, 4-bit (NF4) (1.72B params)": LINEAR * 0.5 * 1.03 + OTHER * 2,
        "LoRA weights + grads, fp32 (17.4M params)": LORA_16 * 8,
        "optimizer state (paged_adamw_8bit)": LORA_16 * 2,
        # gradient checkpointing: one hidden state per layer kept + one layer's intermediates
        "activations (4096 tokens/micro-batch)": 28 * tokens * 2048 * 2
        + tokens * (10 * 2048 + 3 * 6144) * 2,
        "logits + grad (fp32)": tokens * 151936 * 8,
        "CUDA context and allocator slack": 0.6 * GiB,
    }
    estimate = estimate_memory(cfg, QWEN3)
    assert estimate.total / GiB == pytest.approx(7.389, abs=0.001)  # the README's 7.4 GiB
    lines = estimate.lines()
    assert lines[-1].split() == ["total", "(estimate)", "7.39", "GiB"]
    assert lines[0].endswith("  1.26 GiB") and len(lines) == 7


@pytest.mark.parametrize(
    ("sets", "weights", "label"),
    [
        # 16-bit LoRA: every weight in bf16
        (["adapter=lora", "load_in_4bit=false", "bf16=true"], (LINEAR + OTHER) * 2, "16-bit"),
        # bf16 and fp16 both off: an fp32 base
        (["adapter=lora", "load_in_4bit=false", "bf16=false"], (LINEAR + OTHER) * 4, "32-bit"),
        (
            ["adapter=lora", "load_in_4bit=false", "load_in_8bit=true"],
            LINEAR * 1.02 + OTHER * 2,
            "8-bit",
        ),
    ],
)
def test_memory_estimate_base_precision(sets, weights, label):
    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    parts = estimate_memory(cfg, QWEN3).parts
    assert parts[f"base weights, {label} (1.72B params)"] == weights


def test_memory_estimate_full_finetune_and_options():
    cfg = resolve_preset(
        "qwen3-1.7b-qlora",
        [
            "adapter=null",
            "load_in_4bit=false",
            "optimizer=adamw_torch",
            "gradient_checkpointing=false",
            "micro_batch_size=1",
            "sequence_len=512",
        ],
    ).config
    parts = estimate_memory(cfg, QWEN3).parts
    total = LINEAR + OTHER
    assert parts[f"LoRA weights + grads, fp32 ({total / 1e6:.1f}M params)"] == total * 8
    assert parts["optimizer state (adamw_torch)"] == total * 8  # two fp32 moments
    # no checkpointing: every layer keeps its intermediates
    assert parts["activations (512 tokens/micro-batch)"] == 28 * 512 * (10 * 2048 + 3 * 6144) * 2
    assert parts["logits + grad (fp32)"] == 512 * 151936 * 8


def test_memory_estimate_lora_rank_and_targets():
    cfg = resolve_preset(
        "qwen3-1.7b-qlora", ["lora_r=8", "lora_target_modules=[q_proj, v_proj]"]
    ).config
    lora = 28 * 8 * ((2048 + 2048) + (2048 + 1024))
    assert estimate_memory(cfg, QWEN3).parts[
        f"LoRA weights + grads, fp32 ({lora / 1e6:.1f}M params)"
    ] == (lora * 8)
    # lora_target_linear: every Linear but the head, i.e. the seven projections at r=8
    cfg = resolve_preset(
        "qwen3-1.7b-qlora", ["lora_r=8", "lora_target_modules=null", "lora_target_linear=true"]
    ).config
    parts = estimate_memory(cfg, QWEN3).parts
    assert parts["LoRA weights + grads, fp32 (8.7M params)"] == LORA_16 // 2 * 8


def fake_nvidia_smi(tmp_path: Path, stdout: str, code: int = 0) -> dict[str, str]:
    """A PATH whose only `nvidia-smi` prints `stdout` and exits `code`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    # Like the real tool, it only lists GPUs for `-L`; anything else is a usage error.
    tool.write_text(
        f'#!/bin/sh\n[ "$*" = "-L" ] || exit 2\nprintf "%s" \'{stdout}\'\nexit {code}\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


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


def trained_config(tmp_path: Path, files: tuple[str, ...], base: str = "tiny-qwen3") -> Path:
    out = tmp_path / "run"
    out.mkdir(parents=True)
    for name in files:
        (out / name).write_bytes(b"x")
    cfg = tmp_path / "c.yml"
    cfg.write_text(yaml.safe_dump({"base_model": base, "output_dir": str(out)}))
    return cfg


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        ((), "adapter_model.safetensors, adapter_config.json"),
        (("adapter_config.json",), "adapter_model.safetensors"),
        (("adapter_model.safetensors",), "adapter_config.json"),
    ],
)
def test_trained_fails_without_the_adapter(tmp_path, capsys, files, missing):
    cfg = trained_config(tmp_path, files)
    assert main(["trained", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"psych trained: error: {tmp_path / 'run'}: no {missing}: training did not finish\n"
    )


def test_trained_reports_the_adapter(tmp_path, capsys):
    cfg = trained_config(tmp_path, ("adapter_model.safetensors", "adapter_config.json"))
    assert main(["trained", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert f"Adapter written to: {tmp_path / 'run'}/" in out
    assert "CPU DEMO" in out
    cfg = trained_config(
        tmp_path / "gpu", ("adapter_model.safetensors", "adapter_config.json"), "Qwen/Qwen3-1.7B"
    )
    assert main(["trained", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Base model: Qwen/Qwen3-1.7B" in out and "CPU DEMO" not in out


def test_trained_resolves_output_dir_against_the_working_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "x").mkdir(parents=True)
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (tmp_path / "outputs" / "x" / name).write_bytes(b"x")
    Path("c.yml").write_text("base_model: tiny-qwen3\noutput_dir: ./outputs/x\n")
    assert main(["trained", "c.yml"]) == 0
    monkeypatch.chdir(tmp_path / "outputs")
    assert main(["trained", "../c.yml"]) == 1  # ./outputs/x from here does not exist


def stats_card(tmp_path: Path) -> tuple[Path, list[str]]:
    card = tmp_path / "README.md"
    card.write_text(
        "# Card\n\n<!-- psych stats: start (generated by `psych stats --update`; do "
        "not edit) -->\nold figures\n<!-- psych stats: end -->\n\nmore text\n"
    )
    return card, [str(TRAIN_DATA), str(EVAL_DATA)]


def test_stats_check_reports_a_stale_card_and_leaves_it(tmp_path, capsys):
    card, data = stats_card(tmp_path)
    before = card.read_text()
    assert main(["stats", *data, "--update", str(card), "--check"]) == 1
    assert "figures are out of date; run psych stats --update" in capsys.readouterr().err
    assert card.read_text() == before  # --check never writes
    assert main(["stats", *data, "--update", str(card)]) == 0
    assert f"updated: {card}" in capsys.readouterr().out
    updated = card.read_text()
    assert updated.startswith("# Card\n\n<!-- psych stats: start") and "old figures" not in updated
    assert updated.endswith("<!-- psych stats: end -->\n\nmore text\n")
    assert "| **total** | **" in updated
    assert main(["stats", *data, "--update", str(card), "--check"]) == 0
    assert f"up to date: {card}" in capsys.readouterr().out
    # one changed figure is enough to be stale
    card.write_text(updated.replace("| **total** | **", "| **total** | **9"))
    assert main(["stats", *data, "--update", str(card), "--check"]) == 1


def test_stats_card_without_markers_is_a_usage_error(tmp_path, capsys):
    card = tmp_path / "README.md"
    card.write_text("# no markers\n")
    assert main(["stats", str(EVAL_DATA), "--update", str(card), "--check"]) == 2
    assert "no `<!-- psych stats: start" in capsys.readouterr().err


def test_memory_estimate_without_intermediate_size():
    # GPT-2 names its MLP width n_inner (None: 4 x hidden); the estimate falls back to that.
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 2, "vocab_size": 100}
    gpt2.update(n_positions=128, bos_token_id=0, eos_token_id=0)
    cfg = {"micro_batch_size": 1, "sequence_len": 16, "adapter": "lora", "bf16": True}
    parts = estimate_memory(cfg, gpt2).parts
    assert parts["activations (16 tokens/micro-batch)"] == 2 * 16 * (10 * 64 + 3 * 256) * 2
    assert parts["logits + grad (fp32)"] == 16 * 100 * 8


def test_memory_estimate_defaults_for_unset_keys():
    """Keys a YAML may leave out get Axolotl's and PEFT's defaults: micro_batch_size 1,
    sequence_len 2048, lora_r 8, adamw_torch (fp32 moments), fp32 base without bf16/fp16."""
    cfg = {"adapter": "lora", "lora_target_modules": ["q_proj"]}
    parts = estimate_memory(cfg, QWEN3).parts
    lora = 28 * 8 * (2048 + 2048)
    assert parts == {
        "base weights, 32-bit (1.72B params)": (LINEAR + OTHER) * 4,
        "LoRA weights + grads, fp32 (0.9M params)": lora * 8,
        "optimizer state (adamw_torch)": lora * 8,
        "activations (2048 tokens/micro-batch)": 28 * 2048 * (10 * 2048 + 3 * 6144) * 2,
        "logits + grad (fp32)": 2048 * 151936 * 8,
        "CUDA context and allocator slack": 0.6 * GiB,
    }
    # fp16 halves the base like bf16 does
    fp16 = estimate_memory({**cfg, "fp16": True}, QWEN3).parts
    assert fp16["base weights, 16-bit (1.72B params)"] == (LINEAR + OTHER) * 2


def test_a_config_without_output_dir_is_looked_for_where_axolotl_writes(
    tmp_path, capsys, monkeypatch
):
    from axolotl.utils.schemas.model import ModelOutputConfig

    from psych_plugin.paths import AXOLOTL_OUTPUT_DIR

    assert ModelOutputConfig.model_fields["output_dir"].default == AXOLOTL_OUTPUT_DIR
    monkeypatch.chdir(tmp_path)
    Path("c.yml").write_text("base_model: tiny-qwen3\n")
    assert main(["trained", "c.yml"]) == 1
    assert "model-out: no adapter_model.safetensors" in capsys.readouterr().err
    Path("model-out").mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        Path("model-out", name).write_bytes(b"x")
    assert main(["trained", "c.yml"]) == 0
