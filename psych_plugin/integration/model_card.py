"""The model card written next to the adapter after training (README.md in output_dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import write_text_if_changed
from ..dataset.rows import load_rows
from ..dataset.stats import dataset_stats
from ..paths import resolve
from ..prompts import SETTINGS_FILE, PromptSettings, system_message


def training_figures(trainer: Any) -> dict[str, Any]:
    if trainer is None:
        return {}
    figures: dict[str, Any] = {"global_step": trainer.state.global_step}
    for entry in trainer.state.log_history:
        for key in ("train_loss", "train_runtime", "train_samples_per_second", "eval_loss"):
            if key in entry:
                figures[key] = entry[key]
        if "loss" in entry:
            figures.setdefault("first_logged_loss", entry["loss"])
            figures["last_logged_loss"] = entry["loss"]
    return figures


def write_model_card(out: Path, cfg: Any, settings: PromptSettings, trainer: Any) -> Path:
    # Axolotl reads a relative dataset path from the working directory of the training run; the
    # card records where that was, so it stays true wherever the adapter folder is read later.
    given = [str(d["path"]) for d in cfg.get("datasets") or []]
    resolved = [resolve(p, Path.cwd()) for p in given]
    paths = [p for p in resolved if p.is_file()]
    remote = [g for g, p in zip(given, resolved, strict=True) if not p.is_file()]
    # Valid rows only (validation has refused a run with invalid ones before the card is written).
    stats = dataset_stats([row for p in paths for row in load_rows(p)[0]])
    rows, categories = stats["rows"], stats["categories"]
    figures = training_figures(trainer)
    lines = [
        f"# {Path(cfg.output_dir).name}",
        "",
        "A LoRA adapter trained with Axolotl and psych_plugin on psychology instruction data "
        "(Alpaca format).",
        "",
        "## Base model",
        "",
        f"- base_model: `{cfg.base_model}`",
        f"- adapter: `{cfg.adapter}` (r={cfg.lora_r}, alpha={cfg.lora_alpha}, "
        f"load_in_4bit={bool(cfg.load_in_4bit)})",
        f"- target modules: {', '.join(cfg.lora_target_modules or []) or 'all linear'}",
        "",
        "## Prompt template",
        "",
        f"- style: `{settings.style}`; settings in `{SETTINGS_FILE}` (used by `psych infer`)",
        f"- category prompts: {'on' if settings.use_category_prompts else 'off'}",
        "",
        "System prompt:" if settings.style == "chat" else "Preamble:",
        "",
        "```",
        system_message(settings) if settings.style == "chat" else settings.alpaca_preamble,
        "```",
        "",
        "## Data",
        "",
        f"- files: {', '.join(f'`{p}`' for p in paths) or '(none local)'}",
        *(
            [f"- not local files (not counted): {', '.join(f'`{p}`' for p in remote)}"]
            if remote
            else []
        ),
        f"- rows: {rows}",
        "",
        "| category | rows |",
        "| --- | ---: |",
        *[f"| {name} | {count} |" for name, count in sorted(categories.items())],
        "",
        "## Training",
        "",
        f"- sequence_len={cfg.sequence_len}, micro_batch_size={cfg.micro_batch_size}, "
        f"gradient_accumulation_steps={cfg.gradient_accumulation_steps}, "
        f"num_epochs={cfg.num_epochs}, max_steps={cfg.max_steps}, "
        f"learning_rate={cfg.learning_rate}",
        *[f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in figures.items()],
        "",
    ]
    path = out / "README.md"
    write_text_if_changed(path, "\n".join(lines))
    return path
