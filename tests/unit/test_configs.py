"""Config generation from the templates, and check-config on what Axolotl would ignore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from psych_plugin.cli import main
from psych_plugin.configs.checks import check_config
from psych_plugin.configs.hardware import Hardware
from psych_plugin.configs.templates import list_presets, render, resolve_preset

GPU = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)
CPU = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
GUIDE = Path(__file__).resolve().parents[1] / "fixtures" / "guide_config.yml"


def fields(problems, severity="error"):
    return sorted((p.field, p.line) for p in problems if p.severity == severity)


def test_guide_config_flags_exactly_its_two_bugs():
    problems = check_config(GUIDE, GPU)
    assert fields(problems) == [("lora_target_modules.0", 16), ("use_flash_attention", 12)]
    by_field = {p.field: p.message for p in problems}
    assert (
        "did you mean `attn_implementation: flash_attention_2`?" in by_field["use_flash_attention"]
    )
    assert "'c_proj' matches no module of Qwen3ForCausalLM" in by_field["lora_target_modules.0"]
    assert fields(problems, "warning") == []


def test_guide_config_with_val_set_size_also_flags_evals_per_epoch(tmp_path):
    cfg = yaml.safe_load(GUIDE.read_text())
    cfg["val_set_size"] = 0.05
    path = tmp_path / "guide.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    got = [f for f, _ in fields(check_config(path, GPU))]
    assert got == ["evals_per_epoch", "lora_target_modules.0", "use_flash_attention"]


@pytest.mark.parametrize("preset", list_presets())
def test_every_shipped_preset_checks_clean(preset, tmp_path, tiny_model):
    sets = [f"base_model={tiny_model}"] if "tiny" in preset else []
    out = tmp_path / f"{preset}.yml"
    out.write_text(render(resolve_preset(preset, sets)))
    hardware = CPU if "tiny" in preset else GPU
    problems = check_config(out, hardware)
    assert problems == [], problems


def test_tiny_cpu_preset_is_qlora_without_cuda_kernels():
    cfg = resolve_preset("tiny-cpu").config
    assert cfg["adapter"] == "qlora" and cfg["load_in_4bit"] is True
    assert cfg["lora_mlp_kernel"] is cfg["lora_qkv_kernel"] is cfg["lora_o_kernel"] is False
    gpu = resolve_preset("qwen3-1.7b-qlora").config
    assert gpu["attn_implementation"] == "sdpa" and gpu["sample_packing"] is True
    assert len(gpu["lora_target_modules"]) == 7


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("num_epoch", 3, "did you mean `num_epochs`?"),
        ("lora_alpah", 16, "did you mean `lora_alpha`?"),
        ("flash_attention", True, "deprecated: use `attn_implementation: flash_attention_2`"),
    ],
)
def test_unknown_and_deprecated_keys(tmp_path, key, value, expected):
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    cfg.pop("attn_implementation")
    cfg[key] = value
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, GPU) if p.field == key]
    assert expected in problem.message
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1].startswith(f"{key}:")


def test_plugin_typo_and_conflicts(tmp_path):
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    cfg["plugins"] = ["psych_plugin.PsychologyPlugn"]
    cfg.pop("attn_implementation")  # packing with the mask kept: rows leak (test_packing.py)
    cfg["datasets"][0]["pth"] = "x"
    cfg["datasets"].append({"path": "data/missing.jsonl", "type": "alpaca"})
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    messages = {p.field: p.message for p in check_config(path, GPU)}
    assert "does not import" in messages["plugins.0"]
    assert "packed samples attend to each other" in messages["sample_packing"]
    assert "did you mean `path`?" in messages["datasets.0.pth"]
    assert "dataset file not found: data/missing.jsonl" in messages["datasets.1.path"]


def test_invalid_dataset_rows_are_reported(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "input": "", "output": ""}\n')
    cfg = resolve_preset("qwen3-1.7b-qlora", [f"datasets.0.path={bad}"]).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, GPU) if p.field == "datasets.0.path"]
    assert f"{bad}:1: output: must not be empty" in problem.message


def test_hardware_warnings_on_cpu(tmp_path):
    sets = ["bf16=true", "attn_implementation=flash_attention_2"]
    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    warned = {p.field for p in check_config(path, CPU) if p.severity == "warning"}
    assert warned == {"bf16", "attn_implementation", "optimizer"}


def test_check_config_exit_codes(tmp_path, capsys):
    assert main(["check-config", str(GUIDE)]) == 1
    assert "use_flash_attention: unknown key" in capsys.readouterr().out
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1, 2\nb: 3\n")
    assert main(["check-config", str(broken)]) == 2
    assert "invalid YAML" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "none.yml")]) == 2


def test_generation_is_deterministic_and_typed(tmp_path, capsys):
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    sets = [
        "--set",
        "lora_r=32",
        "--set",
        "bf16=false",
        "--set",
        "lora_target_modules=[q_proj]",
        "--set",
        "learning_rate=1e-4",
        "--set",
        "eval_strategy=no",
        "--no-check",
    ]
    assert main(["config", "qwen3-1.7b-lora", "-o", str(a), *sets]) == 0
    assert main(["config", "qwen3-1.7b-lora", "-o", str(b), *sets]) == 0
    assert a.read_bytes() == b.read_bytes()
    cfg = yaml.safe_load(a.read_text())
    assert cfg["lora_r"] == 32 and cfg["bf16"] is False and cfg["lora_target_modules"] == ["q_proj"]
    assert cfg["learning_rate"] == 1e-4
    assert cfg["eval_strategy"] == "no"  # not YAML 1.1's boolean False
    header = a.read_text().splitlines()[:2]
    assert "axolotl_configs/defaults.yml + axolotl_configs/presets/qwen3-1.7b-lora.yml" in header[0]
    assert "lora_r=32" in header[1]


def test_hand_edited_output_is_protected(tmp_path, capsys):
    out = tmp_path / "c.yml"
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0  # unchanged: fine
    assert "unchanged" in capsys.readouterr().out
    edited = out.read_text().replace("lora_r: 16", "lora_r: 64")
    out.write_text(edited)
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 2
    assert "edited by hand" in capsys.readouterr().err
    assert out.read_text() == edited
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check", "--force"]) == 0
    assert "lora_r: 16" in out.read_text()


def test_unknown_preset_and_bad_override(tmp_path, capsys):
    assert main(["config", "nope", "-o", str(tmp_path / "x.yml")]) == 2
    assert "unknown preset 'nope' (known:" in capsys.readouterr().err
    assert main(["config", "tiny-cpu", "--set", "novalue", "-o", str(tmp_path / "x.yml")]) == 2


def test_over_length_rows_are_counted(tmp_path, tiny_model):
    data = tmp_path / "d.jsonl"
    short = {"instruction": "What is a schema?", "input": "", "output": "A framework."}
    long = {**short, "instruction": "Explain memory.", "output": "word " * 3000}
    data.write_text("\n".join(json.dumps(r) for r in (short, long, short | {"input": "x"})) + "\n")
    cfg = resolve_preset("tiny-cpu", [f"base_model={tiny_model}", f"datasets.0.path={data}"]).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, CPU) if p.field == "datasets.0.path"]
    assert problem.severity == "warning"
    assert "1 of 3 rows are longer than sequence_len=512 tokens; Axolotl will drop them" in (
        problem.message
    )
    assert problem.message.endswith("lines 2")
