"""`python -m axolotl.cli.preprocess` with the plugin: the prepared dataset holds exactly the
chat rendering, labels cover only the answer (or everything with train_on_inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psych_plugin.prompt_strategy import IGNORE_INDEX
from psych_plugin.prompts import PromptSettings, render_row
from tests.conftest import MINI, make_config, run_axolotl

pytestmark = pytest.mark.slow


def prepared_rows(tmp: Path, tiny_model: Path, *extra: str):
    from datasets import load_from_disk

    config = make_config(tmp, tiny_model, MINI, "shuffle_merged_datasets=false", *extra)
    done = run_axolotl("preprocess", config)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folders = sorted({p.parent for p in (tmp / "prepared").rglob("dataset_info.json")})
    assert folders, "no prepared dataset written"
    sizes = {f: len(load_from_disk(str(f))) for f in folders}
    rows = [json.loads(line) for line in MINI.read_text().splitlines() if line.strip()]
    train = max(sizes, key=sizes.get)
    return load_from_disk(str(train)), rows


def test_prepared_sample_is_the_chat_rendering(tmp_path, tiny_model, tiny_tokenizer):
    ds, rows = prepared_rows(tmp_path, tiny_model)
    assert len(ds) == len(rows)
    by_text = {tiny_tokenizer.decode(s["input_ids"]): s for s in ds}
    for row in rows:
        prompt, answer = render_row(PromptSettings(), tiny_tokenizer, row)
        sample = by_text[prompt + answer + "<|im_end|>"]  # exactly one sample per row
        kept = [t for t in sample["labels"] if t != IGNORE_INDEX]
        assert tiny_tokenizer.decode(kept) == answer + "<|im_end|>"
        masked = sum(t == IGNORE_INDEX for t in sample["labels"])
        # What inference sends (render_prompt) equals the training prompt byte for byte.
        assert tiny_tokenizer.decode(sample["input_ids"][:masked]) == prompt


def test_train_on_inputs_labels_everything(tmp_path, tiny_model):
    ds, _ = prepared_rows(tmp_path, tiny_model, "train_on_inputs=true")
    for sample in ds:
        assert sample["labels"] == sample["input_ids"]
