"""`type: psych_plugin.prompt_strategy` in an Axolotl YAML imports this module and calls `load`.
The strategy lives in `integration/prompt_strategy.py`; this name is the stable dotted path."""

from .integration.prompt_strategy import (  # noqa: F401
    IGNORE_INDEX,
    PluginNotActiveError,
    PsychologyPromptStrategy,
    load,
)
