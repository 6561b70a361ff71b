"""Axolotl dataset type `psych_plugin.prompt_strategy`: Alpaca rows -> tokens and labels.

Axolotl's strategy loader calls `load(tokenizer, cfg, ds_cfg)`. Rows are rendered with
`prompts.render_row` (the same templates inference uses), tokenized in batches, and the labels of
the prompt are masked (-100) unless `train_on_inputs: true`. EOS closes every answer.
"""

from __future__ import annotations

import logging
from typing import Any

from ..prompts import PromptSettings, render_row

IGNORE_INDEX = -100
LOG = logging.getLogger("psych_plugin.prompt_strategy")
REQUIRED_KEY = "psych_prompt_style"


class PluginNotActiveError(RuntimeError):
    pass


class PsychologyPromptStrategy:
    """Duck-types Axolotl's PromptTokenizingStrategy (tokenize_prompt, supports_batched)."""

    filter_rows = None

    def __init__(
        self,
        tokenizer: Any,
        settings: PromptSettings,
        train_on_inputs: bool = False,
        sequence_len: int = 2048,
    ) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.train_on_inputs = train_on_inputs
        self.sequence_len = sequence_len
        self.max_length = sequence_len
        self.over_length = 0  # rows longer than sequence_len seen by this process
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token: answers could never end")

    @property
    def supports_batched(self) -> bool:
        return True

    def tokenize_prompt(self, batch: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
        n = len(batch["instruction"])
        rows = [
            {
                "instruction": batch["instruction"][i],
                "input": (batch.get("input") or [""] * n)[i] or "",
                "output": batch["output"][i],
                "category": (batch.get("category") or [None] * n)[i],
            }
            for i in range(n)
        ]
        pairs = [render_row(self.settings, self.tokenizer, row) for row in rows]
        encode = self.tokenizer
        prompts = encode([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
        answers = encode([a for _, a in pairs], add_special_tokens=False)["input_ids"]
        eos = self.tokenizer.eos_token_id
        out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
        over = 0
        # (no mutate: one tokenizer call each over the same rows, so the lengths are equal)
        encoded = zip(prompts, answers, strict=True)  # pragma: no mutate
        for prompt_ids, answer_ids in encoded:
            ids = prompt_ids + answer_ids + [eos]
            if self.train_on_inputs:
                labels = list(ids)
            else:
                labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids + [eos]
            over += len(ids) > self.sequence_len
            out["input_ids"].append(ids)
            out["attention_mask"].append([1] * len(ids))
            out["labels"].append(labels)
        if over:
            self.over_length += over
            # Axolotl's length filter then drops or truncates them (excess_length_strategy).
            LOG.warning(
                "psych_plugin: %d of %d rows are longer than sequence_len=%d tokens; Axolotl will "
                "drop or truncate them (excess_length_strategy)",
                over,
                n,
                self.sequence_len,
            )
        return out


def load(
    tokenizer: Any, cfg: Any, ds_cfg: dict[str, Any] | None = None
) -> PsychologyPromptStrategy:
    # Axolotl's plugin manager logs a failed plugin import and trains on without it; refuse to
    # run with silently defaulted settings instead.
    if cfg.get(REQUIRED_KEY) is None:
        raise PluginNotActiveError(
            "dataset type psych_plugin.prompt_strategy needs the plugin: add "
            "`plugins: [psych_plugin.PsychologyPlugin]` to the config (and check it imports)"
        )
    return PsychologyPromptStrategy(
        tokenizer,
        PromptSettings.from_cfg(cfg),
        train_on_inputs=bool(cfg.get("train_on_inputs")),
        sequence_len=int(cfg.get("sequence_len") or 2048),
    )
