"""psych_plugin/integration/model_card.py: the model card the plugin's hooks write after a run,
without training. The slow e2e test checks the same file after a real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EVAL_DATA, MINI, fake_trainer, plugin_run_cfg, run_hooks

axolotl_dict = pytest.importorskip("axolotl.utils.dict")


def test_card_counts_each_dataset_file(tmp_path):
    cfg = plugin_run_cfg(tmp_path, str(MINI))
    cfg["datasets"].append({"path": str(EVAL_DATA), "type": "psych_plugin.prompt_strategy"})
    run_hooks(cfg, None)
    card = (Path(cfg.output_dir) / "README.md").read_text()
    total = sum(1 for p in (MINI, EVAL_DATA) for line in p.read_text().splitlines() if line.strip())
    assert f"- rows: {total}" in card
    assert "global_step" not in card  # no trainer, no invented figures


def test_chat_card_shows_the_system_prompt(tmp_path):
    cfg = plugin_run_cfg(
        tmp_path, str(MINI), psych_prompt_style="chat", psych_system_prompt="Be brief."
    )
    run_hooks(cfg, fake_trainer(3))
    card = (Path(cfg.output_dir) / "README.md").read_text()
    assert "System prompt:\n\n```\nBe brief.\n```" in card and "Preamble:" not in card


def test_card_resolves_relative_dataset_paths_like_axolotl(tmp_path, monkeypatch):
    """A relative `path` is read from the training run's working directory (as Axolotl reads
    it); the card names the absolute file, so it stays true when read from anywhere."""
    run_dir = tmp_path / "project"
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "data" / "rows.jsonl").write_text(MINI.read_text())
    monkeypatch.chdir(run_dir)
    cfg = plugin_run_cfg(tmp_path, "data/rows.jsonl")
    cfg["datasets"].append({"path": "someone/hub-dataset", "type": "alpaca"})
    run_hooks(cfg, None)
    card = (Path(cfg.output_dir) / "README.md").read_text()
    rows = sum(1 for line in MINI.read_text().splitlines() if line.strip())
    assert f"- files: `{run_dir / 'data' / 'rows.jsonl'}`" in card
    assert "- not local files (not counted): `someone/hub-dataset`" in card
    assert f"- rows: {rows}" in card
    # From another directory the same relative path names nothing: Axolotl would not find it
    # either, and the card says so instead of counting the wrong file.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_hooks(cfg, None)
    card = (Path(cfg.output_dir) / "README.md").read_text()
    assert "- files: (none local)" in card and "- rows: 0" in card
    assert "`data/rows.jsonl`, `someone/hub-dataset`" in card
