"""A base model's architecture, offline: its config.json (a local folder, else one shipped for
the presets' models) and the model built from it on the meta device (shapes only, no weights).
The LoRA-target check and the memory estimate both read it from here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..logs import quiet_logs
from ..paths import MODEL_CONFIGS_DIR, resolve
from ..problems import UsageError, read_json_object


class ArchitectureError(UsageError):
    """The architecture cannot be built from the config (an unknown model_type, a broken file)."""


def model_config_for(base_model: str) -> tuple[dict[str, Any] | None, str]:
    """(config.json as a dict, where it came from), or (None, "") when unknown offline."""
    local = resolve(base_model)
    for path, where in (
        (local / "config.json", str(local / "config.json")),
        (MODEL_CONFIGS_DIR / f"{base_model.replace('/', '--')}.json", ""),
    ):
        if path.is_file():
            return _read_config(path), where or f"shipped {path.name}"
    return None, ""


def _read_config(path: Path) -> dict[str, Any]:
    return read_json_object(path, "JSON model config", ArchitectureError)


def meta_model(config: dict[str, Any], where: str = "the model config") -> tuple[Any, Any]:
    """(transformers config, model) built on the meta device: every shape, no memory."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with quiet_logs():
        try:
            cfg = AutoConfig.for_model(**config)
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(cfg)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            # transformers' own words: an unknown model_type, a missing or mistyped field
            raise ArchitectureError(
                f"cannot build the architecture from {where}: {_first_sentence(str(e))}"
            ) from e
    return cfg, model


def _first_sentence(text: str, limit: int = 200) -> str:
    """transformers' errors can run to pages (every known model_type): the first sentence."""
    first = (text.strip().splitlines() or [""])[0]
    if len(first) > limit:
        head, dot, _ = first.partition(". ")
        first = head + "." if dot and len(head) < limit else first[: limit - 3] + "..."
    return first


def linear_module_names(
    config: dict[str, Any], where: str = "the model config"
) -> tuple[str, list[str]]:
    """(architecture class name, names of its Linear modules)."""
    import torch

    _, model = meta_model(config, where)
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    return type(model).__name__, names
