"""`python -m axolotl.cli.train` with the plugin on the tiny model, then the adapter is loaded
with peft and generates; the model card and prompt settings are written next to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import MINI, make_config, run_axolotl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(trained_run: Path) -> Path:
    return trained_run.parent / "out"


def test_adapter_files_written(trained: Path) -> None:
    for name in ("adapter_model.safetensors", "adapter_config.json", "psych_prompt.json"):
        assert (trained / name).is_file(), name
    adapter_cfg = json.loads((trained / "adapter_config.json").read_text())
    # All seven Qwen3 projections are adapted (the guide's c_proj matched nothing).
    assert set(adapter_cfg["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }


def test_model_card(trained: Path) -> None:
    card = (trained / "README.md").read_text()
    assert "tiny-qwen3" in card
    assert "style: `chat`" in card
    rows = sum(1 for line in MINI.read_text().splitlines() if line.strip())
    assert f"- rows: {rows}" in card
    assert "global_step: 10" in card


def test_adapter_loads_with_peft_and_generates(trained: Path, tiny_model: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(base, trained)
    ids = tokenizer("What is operant conditioning?", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 5
    # The adapter changes the model: LoRA B matrices are no longer all zero after training.
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)


def test_invalid_row_stops_before_model_load(tmp_path: Path, tiny_model: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = MINI.read_text().splitlines()
    lines[3] = json.dumps({"instruction": "What is memory?", "input": "", "response": "x"})
    bad.write_text("\n".join(lines) + "\n")
    config = make_config(tmp_path, tiny_model, bad)
    done = run_axolotl("train", config)
    assert done.returncode == 1
    assert f"{bad}:4: response: unknown field; did you mean 'output'?" in done.stderr
    assert f"{bad}:4: output: missing required field" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Loading weights" not in done.stdout + done.stderr  # stopped before the model
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_misspelled_psych_key_fails_validation(tmp_path: Path, tiny_model: Path) -> None:
    config = make_config(tmp_path, tiny_model)
    data = yaml.safe_load(config.read_text())
    data["psych_prompt_styel"] = "alpaca"
    config.write_text(yaml.safe_dump(data))
    done = run_axolotl("train", config)
    assert done.returncode != 0
    assert "psych_prompt_styel" in done.stdout + done.stderr
    assert "did you mean psych_prompt_style" in done.stdout + done.stderr


def test_run_files_are_readable_by_other_users(trained: Path) -> None:
    """A server running as another user (vLLM, a container) or a colleague on a shared cluster
    reads the adapter: every file of the run gets the umask's permissions (0644 under the usual
    022, which the run inherits from the test process), never a temporary file's 0600."""
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    expected = 0o666 & ~mask
    files = [p for p in trained.iterdir() if p.is_file()]
    names = {p.name for p in files}
    assert {"adapter_model.safetensors", "psych_prompt.json", "README.md"} <= names
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {oct(expected)}, modes
