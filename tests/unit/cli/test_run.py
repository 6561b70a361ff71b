"""psych_plugin/cli/run.py: `psych trained` finds a finished run's adapter or says what is
missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from psych_plugin.cli import main


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
