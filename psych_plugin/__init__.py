"""psych_plugin: fine-tune Qwen3 on psychology knowledge (Alpaca rows) through Axolotl.

`plugins: [psych_plugin.PsychologyPlugin]` in an Axolotl config loads the plugin; the import is
lazy so that the light commands (validate, lint, config) work without Axolotl installed.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["PsychologyPlugin", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "PsychologyPlugin":
        from .integration.plugin import PsychologyPlugin

        return PsychologyPlugin
    raise AttributeError(name)
