"""psych_plugin/configs/architecture.py: where a model's config.json comes from offline."""

from __future__ import annotations

import json
from pathlib import Path

from psych_plugin.configs import architecture
from psych_plugin.paths import MODEL_CONFIGS_DIR

QWEN = "Qwen/Qwen3-1.7B"


def test_model_config_prefers_a_local_folder(tmp_path, monkeypatch):
    shipped = json.loads((MODEL_CONFIGS_DIR / "Qwen--Qwen3-1.7B.json").read_text())
    assert architecture.model_config_for(QWEN) == (shipped, "shipped Qwen--Qwen3-1.7B.json")
    assert architecture.model_config_for("nobody/none") == (None, "")
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "Qwen" / "Qwen3-1.7B"
    local.mkdir(parents=True)
    (local / "config.json").write_text('{"model_type": "qwen3", "num_hidden_layers": 1}')
    config, where = architecture.model_config_for(QWEN)
    assert config == {"model_type": "qwen3", "num_hidden_layers": 1}
    assert where == str(Path(QWEN) / "config.json") or where.endswith("Qwen/Qwen3-1.7B/config.json")
