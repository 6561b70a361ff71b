"""THE prompt templates: the single source of truth for training, inference and evaluation.

A row becomes (prompt, completion). Training masks the prompt's labels and learns the completion
plus EOS; inference sends exactly the prompt and generates. Nothing else in the package builds a
prompt, so train and inference cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .atomic import write_text_if_changed
from .paths import PROMPT_SETTINGS_FILE
from .problems import UsageError, read_json_object

Style = Literal["chat", "alpaca"]
STYLES: tuple[str, ...] = ("chat", "alpaca")
# The Axolotl dataset `type:` values that render rows with these templates: every importable path
# of the prompt strategy module (a test walks the package to keep this complete).
STRATEGY_TYPES = frozenset(
    {"psych_plugin.prompt_strategy", "psych_plugin.integration.prompt_strategy"}
)
SETTINGS_FILE = PROMPT_SETTINGS_FILE  # written next to the adapter; read by infer/eval

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert psychologist and educator. Answer accurately and clearly, using "
    "established findings, theories and terminology from mainstream psychology."
)
# What each kind of book knowledge asks of an answer (used when category prompts are on).
DEFAULT_CATEGORY_PROMPTS: dict[str, str] = {
    "definition": "Give a precise definition and, where useful, a short example.",
    "theory": "Name who proposed the theory and state its main claims and evidence.",
    "experiment": "Describe the procedure, the key findings and why the study matters.",
    "case_study": "Relate the case to the psychological concepts it illustrates.",
    "comparison": "State what the concepts share and how they differ.",
    "how_to": "Explain the process step by step, in order.",
}
DEFAULT_ALPACA_PREAMBLE = "You are answering questions about psychology.\n\n"

# Axolotl's own `alpaca` prompts (axolotl.prompters.AlpacaPrompter), byte for byte, so that
# style `alpaca` with an empty preamble tokenizes exactly like Axolotl's built-in type.
ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


@dataclass(frozen=True)
class PromptSettings:
    style: Style = "chat"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    use_category_prompts: bool = False
    category_prompts: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORY_PROMPTS))
    alpaca_preamble: str = DEFAULT_ALPACA_PREAMBLE

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"psych_prompt_style must be one of {STYLES}, got {self.style!r}")

    @classmethod
    def from_cfg(cls, cfg: Any) -> PromptSettings:
        """From an Axolotl config (DictDefault or dict) holding the plugin's psych_* keys."""

        def get(key: str, default: Any) -> Any:
            value = cfg.get(key) if hasattr(cfg, "get") else getattr(cfg, key, None)
            return default if value is None else value

        d = cls()
        return cls(
            style=get("psych_prompt_style", d.style),
            system_prompt=get("psych_system_prompt", d.system_prompt),
            use_category_prompts=bool(get("psych_category_prompts", d.use_category_prompts)),
            category_prompts={**d.category_prompts, **get("psych_category_system_prompts", {})},
            alpaca_preamble=get("psych_alpaca_preamble", d.alpaca_preamble),
        )

    def save(self, folder: Path) -> Path:
        path = folder / SETTINGS_FILE
        # A uniquely named temporary file, and no write at all when nothing changed.
        write_text_if_changed(path, json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> PromptSettings:
        path = folder / SETTINGS_FILE
        data = read_json_object(path, "prompt settings file")
        unknown = ", ".join(sorted(set(data) - {f.name for f in fields(cls)}))
        if unknown:
            raise UsageError(
                f"{path}: not a prompt settings file of this version (unknown keys: {unknown})"
            )
        return cls(**data)


def system_message(settings: PromptSettings, category: str | None = None) -> str:
    if settings.use_category_prompts and category in settings.category_prompts:
        return f"{settings.system_prompt}\n{settings.category_prompts[category]}"
    return settings.system_prompt


def user_message(instruction: str, input_text: str = "") -> str:
    """The instruction, then the input (when present) after a clear delimiter."""
    if input_text.strip():
        return f"{instruction}\n\nInput:\n{input_text}"
    return instruction


def render_prompt(
    settings: PromptSettings,
    tokenizer: Any,
    instruction: str,
    input_text: str = "",
    category: str | None = None,
) -> str:
    """Everything the model sees before its answer, ending where the answer starts."""
    if settings.style == "alpaca":
        template = ALPACA_WITH_INPUT if input_text else ALPACA_NO_INPUT
        body = template.format(instruction=instruction, input=input_text)
        return settings.alpaca_preamble + body
    messages = [
        {"role": "system", "content": system_message(settings, category)},
        {"role": "user", "content": user_message(instruction, input_text)},
    ]
    # enable_thinking=False: Qwen3's template then opens the answer with an empty think block,
    # exactly as Qwen3 is prompted in non-thinking mode at inference.
    # (no mutate on tokenize: transformers reads tokenize=None as False, text either way)
    return tokenizer.apply_chat_template(
        messages,
        tokenize=False,  # pragma: no mutate
        add_generation_prompt=True,
        enable_thinking=False,
    )


def render_row(settings: PromptSettings, tokenizer: Any, row: dict[str, Any]) -> tuple[str, str]:
    """(prompt, completion) for one Alpaca row; the completion excludes EOS."""
    prompt = render_prompt(
        settings, tokenizer, row["instruction"], row.get("input") or "", row.get("category")
    )
    return prompt, row["output"]
