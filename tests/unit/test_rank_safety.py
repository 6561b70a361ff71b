"""Rank safety of the plugin and the changed-config refusal of `psych preflight`, in seconds.

Axolotl calls every plugin hook on every rank, and post_train twice a run: only global rank 0
writes, each file once, through uniquely named temporary files. The slow test
tests/e2e/test_distributed.py checks the same on a real 2-process run.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from psych_plugin.atomic import write_text_if_changed
from psych_plugin.cli import main
from psych_plugin.configs.preflight import RUN_CONFIG_FILE, config_changes
from tests.conftest import MINI

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


def run_hooks(cfg: object) -> None:
    """The hooks in Axolotl 0.19's order: post_train twice (axolotl/train.py), then unload."""
    from psych_plugin import PsychologyPlugin

    plugin = PsychologyPlugin()
    plugin.register(cfg)
    plugin.post_trainer_create(cfg, trainer())
    plugin.post_train(cfg, None)
    plugin.post_train(cfg, None)
    plugin.post_train_unload(cfg)


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
    run_hooks(cfg)
    out = tmp_path / "out"
    assert sorted(count_writes) == ["README.md", "psych_prompt.json", RUN_CONFIG_FILE]
    assert sorted(p.name for p in out.iterdir()) == sorted(count_writes)
    assert (out / RUN_CONFIG_FILE).read_text() == "learning_rate: 0.01\npsych_world_size: 1\n"
    assert "global_step: 3" in (out / "README.md").read_text()
    # The same hooks again (a resumed run that ends the same way) rewrite nothing.
    count_writes.clear()
    run_hooks(cfg)
    assert count_writes == []


def test_other_ranks_write_nothing(tmp_path, monkeypatch, count_writes):
    monkeypatch.setenv("RANK", "1")
    run_hooks(cfg_for(tmp_path))
    assert count_writes == []
    assert not (tmp_path / "out").exists()


def test_concurrent_writers_leave_one_complete_file_and_no_temporary(tmp_path):
    """What two ranks racing on one name used to risk: a shared `.tmp` name replaced under the
    other writer. Unique temporary names: every reader sees a whole file, none is left over."""
    path = tmp_path / "psych_prompt.json"
    texts = [f"{i}\n" * 20_000 for i in range(8)]
    threads = [threading.Thread(target=write_text_if_changed, args=(path, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in texts
    assert os.listdir(tmp_path) == ["psych_prompt.json"]


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


def interrupted_run(tmp_path: Path, **changes: object) -> Path:
    """A config whose output_dir holds checkpoint-5 of a run made with learning_rate 0.01."""
    body = {
        "base_model": "/models/tiny-qwen3",
        "learning_rate": 0.01,
        "datasets": [{"path": "data/a.jsonl", "type": "psych_plugin.prompt_strategy"}],
        "output_dir": str(tmp_path / "out"),
        "logging_steps": 10,
    }
    (tmp_path / "out" / "checkpoint-5").mkdir(parents=True)
    (tmp_path / "out" / RUN_CONFIG_FILE).write_text(yaml.safe_dump(body), encoding="utf-8")
    config = tmp_path / "cfg.yml"
    config.write_text(yaml.safe_dump({**body, **changes}), encoding="utf-8")
    return config


def test_resume_with_changed_config_is_refused(tmp_path, capsys):
    config = interrupted_run(tmp_path, learning_rate=0.001)
    assert main(["preflight", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "learning_rate: 0.01 -> 0.001" in err and "checkpoint-5" in err and "--force" in err
    assert main(["preflight", str(config), "--force"]) == 0
    out = capsys.readouterr().out
    assert "resuming the interrupted run" in out and "learning_rate: 0.01 -> 0.001" in out
    assert (tmp_path / "out" / "checkpoint-5").is_dir()  # --force keeps the checkpoint


def test_resume_with_logging_changes_only_is_fine(tmp_path, capsys):
    config = interrupted_run(tmp_path, logging_steps=1, save_steps=2)
    assert main(["preflight", str(config)]) == 0
    assert "resuming the interrupted run" in capsys.readouterr().out


def test_resume_with_another_number_of_processes_is_refused(tmp_path, capsys):
    config = interrupted_run(tmp_path)
    snapshot = tmp_path / "out" / RUN_CONFIG_FILE
    snapshot.write_text(snapshot.read_text() + "psych_world_size: 2\n")
    assert main(["preflight", str(config), "--world-size", "2"]) == 0
    capsys.readouterr()
    assert main(["preflight", str(config), "--world-size", "1"]) == 2
    assert "processes (world size): 2 -> 1" in capsys.readouterr().err


def test_config_changes_names_nested_and_missing_keys():
    old = {"datasets": [{"path": "a.jsonl"}], "lora_r": 8, "output_dir": "x"}
    new = {"datasets": [{"path": "b.jsonl"}], "lora_alpha": 16, "output_dir": "y"}
    assert config_changes(old, new) == [
        "datasets.0.path: 'a.jsonl' -> 'b.jsonl'",
        "lora_alpha: (unset) -> 16",
        "lora_r: 8 -> (unset)",
    ]


def test_other_nodes_only_check_writability(tmp_path, capsys):
    config = interrupted_run(tmp_path, learning_rate=0.001)
    assert main(["preflight", str(config), "--node-rank", "1"]) == 0
    assert "resuming" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("preset", "field"),
    [("qwen3-1.7b-qlora-ds2", "deepspeed"), ("qwen3-1.7b-lora-fsdp", "fsdp_config")],
)
def test_engines_that_need_a_gpu_warn_on_a_cpu(preset, field, tmp_path):
    from psych_plugin.configs.checks import check_config
from psych_plugin.configs.hardware import Hardware
    from psych_plugin.configs.templates import render, resolve_preset

    path = tmp_path / f"{preset}.yml"
    path.write_text(render(resolve_preset(preset, [])))
    cpu = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
    gpu = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)
    assert field in {p.field for p in check_config(path, cpu) if p.severity == "warning"}
    assert field not in {p.field for p in check_config(path, gpu)}
