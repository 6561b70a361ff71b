"""The plugin's config keys. Axolotl merges this model into its config schema, so these keys are
validated (and defaulted) like Axolotl's own, and a misspelled psych_* key is an error."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..prompts import DEFAULT_ALPACA_PREAMBLE, DEFAULT_CATEGORY_PROMPTS, DEFAULT_SYSTEM_PROMPT


class PsychologyArgs(BaseModel):
    """Config keys of psych_plugin.PsychologyPlugin (all prefixed psych_)."""

    psych_prompt_style: Literal["chat", "alpaca"] = Field(
        default="chat",
        json_schema_extra={
            "description": "chat: Qwen's ChatML via the tokenizer's chat "
            "template; alpaca: the classic Alpaca prompt with a preamble"
        },
    )
    psych_system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT)
    psych_category_prompts: bool = Field(
        default=False,
        json_schema_extra={
            "description": "append a per-category instruction to the system "
            "prompt, from the row's `category`"
        },
    )
    psych_category_system_prompts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_PROMPTS)
    )
    psych_alpaca_preamble: str = Field(default=DEFAULT_ALPACA_PREAMBLE)
    psych_validate_datasets: bool = Field(
        default=True,
        json_schema_extra={
            "description": "check dataset rows against schemas/alpaca.schema.json "
            "before the model loads"
        },
    )

    @model_validator(mode="before")
    @classmethod
    def reject_unknown_psych_keys(cls, data: Any) -> Any:
        # Axolotl ignores unknown keys; for our prefix a typo must not pass silently.
        if isinstance(data, dict):
            known = set(PsychologyArgs.model_fields)
            unknown = sorted(k for k in data if k.startswith("psych_") and k not in known)
            if unknown:
                import difflib

                hints = []
                for key in unknown:
                    close = difflib.get_close_matches(key, sorted(known), n=1)
                    hints.append(f"{key}" + (f" (did you mean {close[0]}?)" if close else ""))
                raise ValueError(f"unknown psych_plugin config key: {', '.join(hints)}")
        return data
