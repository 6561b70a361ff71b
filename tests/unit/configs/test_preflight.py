"""psych_plugin/configs/preflight.py: `psych preflight` refuses to resume a run whose config
changed, and fails before training when the output cannot be written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from psych_plugin.cli import main
from psych_plugin.configs.preflight import RUN_CONFIG_FILE, config_changes
from tests.conftest import run_cli


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


def test_unwritable_or_full_output_fails_before_training(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"base_model: tiny-qwen3\noutput_dir: {tmp_path / 'out'}\n")
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: False if Path(p) == tmp_path else real_access(p, m)
    )
    code, text = run_cli(capsys, "preflight", str(cfg))
    assert code == 2 and "output folder is not writable" in text
    monkeypatch.setattr(os, "access", real_access)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10, 10, 1024))
    code, text = run_cli(capsys, "preflight", str(cfg))
    assert code == 2 and "MiB free on its disk" in text
