"""psych_plugin/integration/prompt_strategy.py: alpaca with an empty preamble is Axolotl's own
`alpaca` type, token for token; labels mask the prompt; the strategy needs the plugin."""

from __future__ import annotations

import pytest

from psych_plugin.prompt_strategy import IGNORE_INDEX, PsychologyPromptStrategy
from psych_plugin.prompts import PromptSettings, render_row

ROWS = [
    {
        "instruction": "What is operant conditioning?",
        "input": "",
        "output": "Learning by consequences.",
        "category": "definition",
    },
    {
        "instruction": "Summarise this paragraph.",
        "input": "Memory is reconstructive.",
        "output": "Memory rebuilds the past.",
        "category": "how_to",
    },
]


def batch(rows):
    return {k: [r.get(k) for r in rows] for k in ("instruction", "input", "output", "category")}


@pytest.mark.parametrize("row", ROWS)
def test_alpaca_with_empty_preamble_matches_axolotl(tiny_tokenizer, row):
    from axolotl.prompt_tokenizers import AlpacaPromptTokenizingStrategy
    from axolotl.prompters import AlpacaPrompter

    settings = PromptSettings(style="alpaca", alpaca_preamble="")
    prompt, _ = render_row(settings, tiny_tokenizer, row)
    assert prompt == next(AlpacaPrompter().build_prompt(row["instruction"], row["input"]))

    theirs = AlpacaPromptTokenizingStrategy(AlpacaPrompter(), tiny_tokenizer, False, 2048)
    expected = theirs.tokenize_prompt(dict(row))
    ours = PsychologyPromptStrategy(tiny_tokenizer, settings, False, 2048)
    got = ours.tokenize_prompt(batch([row]))
    assert got["input_ids"][0] == expected["input_ids"]
    assert got["labels"][0] == expected["labels"]


def test_labels_mask_prompt_and_keep_answer_and_eos(tiny_tokenizer):
    strategy = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), False, 2048)
    out = strategy.tokenize_prompt(batch(ROWS))
    for row, ids, labels in zip(ROWS, out["input_ids"], out["labels"], strict=True):
        kept = [t for t in labels if t != IGNORE_INDEX]
        assert tiny_tokenizer.decode(kept) == row["output"] + "<|im_end|>"
        n_masked = labels.index(kept[0])
        prompt, _ = render_row(PromptSettings(), tiny_tokenizer, row)
        assert tiny_tokenizer.decode(ids[:n_masked]) == prompt
        assert all(t == IGNORE_INDEX for t in labels[:n_masked])


def test_train_on_inputs_keeps_every_label(tiny_tokenizer):
    strategy = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), True, 2048)
    out = strategy.tokenize_prompt(batch(ROWS))
    assert out["labels"] == out["input_ids"]


def test_over_length_rows_are_counted_and_logged(tiny_tokenizer, caplog):
    strategy = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), False, 16)
    with caplog.at_level("WARNING", logger="psych_plugin.prompt_strategy"):
        strategy.tokenize_prompt(batch(ROWS))
    assert strategy.over_length == 2
    assert "2 of 2 rows are longer than sequence_len=16" in caplog.text


def test_strategy_shape_defaults_and_length_boundary(tiny_tokenizer):
    strategy = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), False, 2048)
    # A batch without the optional columns: input "" and no category, as Axolotl may pass it.
    out = strategy.tokenize_prompt({"instruction": ["Q?"], "output": ["A."]})
    [ids], [mask], [labels] = out["input_ids"], out["attention_mask"], out["labels"]
    assert mask == [1] * len(ids) and len(labels) == len(ids)
    full = strategy.tokenize_prompt(
        {"instruction": ["Q?"], "input": [None], "output": ["A."], "category": [None]}
    )
    assert full["input_ids"] == [ids]
    # Exactly sequence_len tokens fits; one more is over (and the count accumulates).
    fits = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), False, len(ids))
    fits.tokenize_prompt({"instruction": ["Q?"], "output": ["A."]})
    assert fits.over_length == 0
    over = PsychologyPromptStrategy(tiny_tokenizer, PromptSettings(), False, len(ids) - 1)
    for _ in range(2):
        over.tokenize_prompt({"instruction": ["Q?"], "output": ["A."]})
    assert over.over_length == 2 and over.supports_batched is True


def test_load_reads_the_config(tiny_tokenizer):
    from psych_plugin.prompt_strategy import load

    strategy = load(
        tiny_tokenizer,
        {"psych_prompt_style": "alpaca", "train_on_inputs": True, "sequence_len": 300},
    )
    assert strategy.settings.style == "alpaca" and strategy.train_on_inputs is True
    assert strategy.sequence_len == 300 and strategy.max_length == 300
    default = load(tiny_tokenizer, {"psych_prompt_style": "chat"})
    assert default.train_on_inputs is False and default.sequence_len == 2048


def test_tokenizer_without_eos_is_refused(tiny_tokenizer):
    import copy

    broken = copy.deepcopy(tiny_tokenizer)
    broken.eos_token = None
    with pytest.raises(ValueError, match="no EOS token"):
        PsychologyPromptStrategy(broken, PromptSettings())


def test_the_strategy_refuses_to_run_without_the_plugin(tiny_tokenizer):
    from psych_plugin.integration.prompt_strategy import PluginNotActiveError, load

    with pytest.raises(PluginNotActiveError) as e:
        load(tiny_tokenizer, {})
    assert str(e.value) == (
        "dataset type psych_plugin.prompt_strategy needs the plugin: add "
        "`plugins: [psych_plugin.PsychologyPlugin]` to the config (and check it imports)"
    )


def test_strategy_types_are_every_importable_path_of_the_strategy():
    """Axolotl accepts the module under either path; the plugin and check-config must too."""
    import importlib
    import pkgutil

    import psych_plugin
    from psych_plugin.configs.checks import ALPACA_TYPES
    from psych_plugin.integration import prompt_strategy
    from psych_plugin.prompts import STRATEGY_TYPES

    found = set()
    for info in pkgutil.walk_packages(psych_plugin.__path__, "psych_plugin."):
        if info.name.endswith("__main__"):  # runs the CLI on import
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "load", None) is prompt_strategy.load:
            found.add(info.name)
    assert found == set(STRATEGY_TYPES)
    assert set(STRATEGY_TYPES) <= ALPACA_TYPES
