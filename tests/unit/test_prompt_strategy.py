"""psych_plugin/prompt_strategy.py: the stable dotted path a YAML names reaches the strategy."""

from __future__ import annotations

import pytest


def test_strategy_refuses_to_run_without_the_plugin(tiny_tokenizer):
    from psych_plugin.prompt_strategy import PluginNotActiveError, load

    with pytest.raises(PluginNotActiveError, match="plugins: \\[psych_plugin.PsychologyPlugin\\]"):
        load(tiny_tokenizer, {"sequence_len": 512})
