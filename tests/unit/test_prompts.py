"""The templates: chat rendering is Qwen3's ChatML; alpaca with an empty preamble is Axolotl's
own `alpaca` type, byte for byte and token for token; labels mask the prompt."""

from __future__ import annotations

import pytest

from psych_plugin.prompts import PromptSettings, render_prompt, render_row, user_message
from psych_plugin.prompt_strategy import IGNORE_INDEX, PsychologyPromptStrategy

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


def test_chat_prompt_is_qwen3_chatml(tiny_tokenizer):
    prompt = render_prompt(PromptSettings(system_prompt="SYS"), tiny_tokenizer, "Q?", "ctx")
    assert prompt == (
        "<|im_start|>system\nSYS<|im_end|>\n"
        "<|im_start|>user\nQ?\n\nInput:\nctx<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def test_category_prompts_shape_the_system_turn(tiny_tokenizer):
    on = PromptSettings(system_prompt="SYS", use_category_prompts=True)
    prompt = render_prompt(on, tiny_tokenizer, "Compare A and B.", category="comparison")
    assert "SYS\nState what the concepts share and how they differ." in prompt
    off = PromptSettings(system_prompt="SYS")
    assert "State what" not in render_prompt(off, tiny_tokenizer, "Q", category="comparison")


def test_user_message_delimits_input():
    assert user_message("Q", "") == "Q"
    assert user_message("Q", "  ") == "Q"
    assert user_message("Q", "text") == "Q\n\nInput:\ntext"


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="psych_prompt_style"):
        PromptSettings(style="sharegpt")  # type: ignore[arg-type]


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


def test_strategy_refuses_to_run_without_the_plugin(tiny_tokenizer):
    from psych_plugin.prompt_strategy import PluginNotActiveError, load

    with pytest.raises(PluginNotActiveError, match="plugins: \\[psych_plugin.PsychologyPlugin\\]"):
        load(tiny_tokenizer, {"sequence_len": 512})


def test_settings_round_trip(tmp_path):
    settings = PromptSettings(style="alpaca", system_prompt="S", use_category_prompts=True)
    settings.save(tmp_path)
    assert PromptSettings.load(tmp_path) == settings


def test_prompt_round_trip_plugin_file_infer(tmp_path, tiny_model, tiny_tokenizer):
    """Training's prompt (the plugin's strategy, from the YAML's psych_* keys) is saved by the
    plugin next to the adapter, and `psych infer` rebuilds exactly it from that file, even when
    the YAML has changed since."""
    import yaml
    from axolotl.utils.dict import DictDefault

    from psych_plugin import PsychologyPlugin
    from psych_plugin.model.inference import prompt_settings, run_paths
    from psych_plugin.prompt_strategy import load

    out = tmp_path / "run"
    keys = {
        "psych_prompt_style": "chat",
        "psych_system_prompt": "You teach psychology.",
        "psych_category_prompts": True,
        "psych_category_system_prompts": {"theory": "Name the theorist first."},
    }
    train_cfg = DictDefault(
        {"base_model": str(tiny_model), "output_dir": str(out), "sequence_len": 512, **keys}
    )
    out.mkdir()
    PsychologyPlugin().post_trainer_create(train_cfg, None)

    row = {"instruction": "Explain attachment theory.", "input": "Bowlby", "output": "It..."}
    row["category"] = "theory"
    tokens = load(tiny_tokenizer, train_cfg).tokenize_prompt(
        {k: [row[k]] for k in ("instruction", "input", "output", "category")}
    )
    ids, labels = tokens["input_ids"][0], tokens["labels"][0]
    trained_prompt = tiny_tokenizer.decode(ids[: labels.index(next(t for t in labels if t >= 0))])
    assert "You teach psychology.\nName the theorist first." in trained_prompt

    # The YAML changed after training (another style): infer still uses the saved settings.
    yml = tmp_path / "c.yml"
    yml.write_text(
        yaml.safe_dump({"base_model": str(tiny_model), "output_dir": str(out)})
        + "psych_prompt_style: alpaca\n"
    )
    settings = prompt_settings(run_paths(yml), use_adapter=False)
    rebuilt = render_prompt(settings, tiny_tokenizer, row["instruction"], row["input"], "theory")
    assert rebuilt == trained_prompt


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


def test_from_cfg_reads_every_key():
    settings = PromptSettings.from_cfg(
        {
            "psych_prompt_style": "alpaca",
            "psych_system_prompt": "S",
            "psych_category_prompts": True,
            "psych_category_system_prompts": {"theory": "T"},
            "psych_alpaca_preamble": "P\n\n",
        }
    )
    assert settings.style == "alpaca" and settings.system_prompt == "S"
    assert settings.use_category_prompts is True and settings.alpaca_preamble == "P\n\n"
    assert settings.category_prompts["theory"] == "T"
    assert settings.category_prompts["definition"].startswith("Give a precise definition")
    assert PromptSettings.from_cfg({}) == PromptSettings()


def test_settings_from_attribute_configs_and_readable_files(tmp_path, tiny_tokenizer):
    from types import SimpleNamespace

    # Axolotl's config objects may expose keys as attributes only.
    settings = PromptSettings.from_cfg(SimpleNamespace(psych_prompt_style="alpaca"))
    assert settings.style == "alpaca" and settings.system_prompt == PromptSettings().system_prompt
    # The saved file stays readable: non-ASCII text is written as is, not as \\u escapes.
    PromptSettings(system_prompt="Réponds en français.").save(tmp_path)
    assert "Réponds en français." in (tmp_path / "psych_prompt.json").read_text("utf-8")
    assert PsychologyPromptStrategy(tiny_tokenizer, PromptSettings()).sequence_len == 2048


def test_the_strategy_refuses_to_run_without_the_plugin(tiny_tokenizer):
    from psych_plugin.integration.prompt_strategy import PluginNotActiveError, load

    with pytest.raises(PluginNotActiveError) as e:
        load(tiny_tokenizer, {})
    assert str(e.value) == (
        "dataset type psych_plugin.prompt_strategy needs the plugin: add "
        "`plugins: [psych_plugin.PsychologyPlugin]` to the config (and check it imports)"
    )
