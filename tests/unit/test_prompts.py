"""psych_plugin/prompts.py, the prompt template: chat rendering is Qwen3's ChatML, the settings
round-trip through psych_prompt.json, and inference rebuilds exactly the prompt training used."""

from __future__ import annotations

import pytest

from psych_plugin.prompt_strategy import PsychologyPromptStrategy
from psych_plugin.prompts import PromptSettings, render_prompt, user_message


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
