"""psych_plugin/integration/plugin.py: the hooks, called in the order Axolotl 0.19 calls them,
in seconds. Axolotl calls every hook on every rank, and post_train twice a run: only global rank
0 writes, each file once. The slow test tests/e2e/test_distributed.py checks the same on a real
2-process run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from psych_plugin.configs.preflight import RUN_CONFIG_FILE
from psych_plugin.prompts import PromptSettings
from tests.conftest import MINI, fake_trainer, plugin_run_cfg, run_hooks

axolotl_dict = pytest.importorskip("axolotl.utils.dict")


def cfg_for(tmp_path: Path) -> object:
    config = tmp_path / "cfg.yml"
    config.write_text("learning_rate: 0.01\n", encoding="utf-8")
    return axolotl_dict.DictDefault(
        {
            "base_model": "/models/tiny-qwen3",
            "adapter": "qlora",
            "lora_r": 8,
            "lora_alpha": 16,
            "datasets": [{"path": str(MINI), "type": "psych_plugin.prompt_strategy"}],
            "output_dir": str(tmp_path / "out"),
            "sequence_len": 512,
            "learning_rate": 0.01,
            "axolotl_config_path": str(config),
        }
    )


def trainer() -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(global_step=3, log_history=[{"loss": 8.5}]))


@pytest.fixture
def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import psych_plugin.atomic as atomic

    written: list[str] = []
    real = atomic.write_text_atomic

    def spy(path: Path, text: str) -> None:
        written.append(path.name)
        real(path, text)

    monkeypatch.setattr(atomic, "write_text_atomic", spy)
    return written


def test_rank_zero_writes_each_file_once(tmp_path, monkeypatch, count_writes):
    monkeypatch.setenv("RANK", "0")
    cfg = cfg_for(tmp_path)
    run_hooks(cfg, trainer())
    out = tmp_path / "out"
    assert sorted(count_writes) == ["README.md", "psych_prompt.json", RUN_CONFIG_FILE]
    assert sorted(p.name for p in out.iterdir()) == sorted(count_writes)
    assert (out / RUN_CONFIG_FILE).read_text() == "learning_rate: 0.01\npsych_world_size: 1\n"
    assert "global_step: 3" in (out / "README.md").read_text()
    # The same hooks again (a resumed run that ends the same way) rewrite nothing.
    count_writes.clear()
    run_hooks(cfg, trainer())
    assert count_writes == []


def test_other_ranks_write_nothing(tmp_path, monkeypatch, count_writes):
    monkeypatch.setenv("RANK", "1")
    run_hooks(cfg_for(tmp_path), trainer())
    assert count_writes == []
    assert not (tmp_path / "out").exists()


def test_multiprocess_on_cpu_only_changes_cpu_runs(monkeypatch):
    from psych_plugin.integration.plugin import multiprocess_on_cpu

    for name in ("ACCELERATE_USE_CPU", "ACCELERATE_TORCH_DEVICE"):
        monkeypatch.setenv(name, "unset")  # recorded, so the test's changes are undone after
        monkeypatch.delenv(name)
    gpu = axolotl_dict.DictDefault({"world_size": 2, "device": "cuda:1", "device_map": {"": 1}})
    assert not multiprocess_on_cpu(gpu) and gpu.device_map == {"": 1}
    single = axolotl_dict.DictDefault({"world_size": 1, "device": "cpu", "device_map": "auto"})
    assert not multiprocess_on_cpu(single) and single.device_map == "auto"
    assert "ACCELERATE_USE_CPU" not in os.environ
    cpu = axolotl_dict.DictDefault({"world_size": 2, "device": "cpu", "device_map": {"": 1}})
    assert multiprocess_on_cpu(cpu)
    assert cpu.device_map == {"": "cpu"} and os.environ["ACCELERATE_USE_CPU"] == "true"
    assert os.environ["ACCELERATE_TORCH_DEVICE"] == "cpu"  # resume loads with map_location=cpu


def test_hooks_write_the_card_and_the_prompt_settings(tmp_path):
    cfg = plugin_run_cfg(tmp_path, str(MINI))
    run_hooks(cfg, fake_trainer(10))
    out = Path(cfg.output_dir)
    settings = PromptSettings.load(out)
    assert settings.style == "alpaca" and settings.alpaca_preamble == "Tutor mode.\n\n"
    card = (out / "README.md").read_text()
    rows = [json.loads(line) for line in MINI.read_text().splitlines() if line.strip()]
    assert card.startswith("# run-7\n")
    assert "- base_model: `/models/tiny-qwen3`" in card
    assert "- adapter: `qlora` (r=8, alpha=16, load_in_4bit=True)" in card
    assert "- target modules: q_proj, v_proj" in card
    assert "- style: `alpaca`; settings in `psych_prompt.json`" in card
    assert "Preamble:\n\n```\nTutor mode.\n\n\n```" in card
    assert f"- rows: {len(rows)}" in card
    for category in {r["category"] for r in rows}:
        count = sum(r["category"] == category for r in rows)
        assert f"| {category} | {count} |" in card
    assert "- global_step: 10" in card
    assert "- first_logged_loss: 9.5" in card and "- last_logged_loss: 7.25" in card
    assert "- eval_loss: 7.5" in card and "- train_runtime: 12.5" in card
    assert "max_steps=10, learning_rate=0.01" in card
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # atomic writes


def test_the_plugin_validates_rows_under_every_strategy_type(tmp_path):
    from psych_plugin.integration.plugin import _local_dataset_files
    from psych_plugin.prompts import STRATEGY_TYPES

    rows = tmp_path / "rows.jsonl"
    rows.write_text("{}\n")
    for type_name in sorted(STRATEGY_TYPES):
        cfg = {"datasets": [{"path": str(rows), "type": type_name}]}
        assert _local_dataset_files(cfg) == [rows], type_name
    assert _local_dataset_files({"datasets": [{"path": str(rows), "type": "alpaca"}]}) == []


def test_the_plugin_refuses_an_axolotl_it_was_not_written_for():
    import pytest

    from psych_plugin.integration.plugin import check_axolotl_version

    check_axolotl_version("0.19.0")
    check_axolotl_version("0.19.7")
    for version in ("0.18.2", "0.20.0", "0.21.1"):
        with pytest.raises(ImportError, match=f"has {version}"):
            check_axolotl_version(version)
