"""`psych eval`: base model vs base + adapter on held-out rows, in one run.

Teacher-forced loss and perplexity on the reference answers (answer tokens only, exactly as
training scores them) and ROUGE-L of greedy generations against the references; per category
and overall. Writes eval.json, report.md and chart.png.
"""

from __future__ import annotations

import json
import math
import platform
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..integration.prompt_strategy import IGNORE_INDEX, PsychologyPromptStrategy
from ..integration.prompts import PromptSettings
from .inference import generate_answers

MODELS = ("base", "tuned")


@dataclass
class RowResult:
    category: str
    loss_sum: float
    tokens: int
    rouge_l: float
    generation: str


def rouge_l(prediction: str, reference: str) -> float:
    from rouge_score import rouge_scorer

    scorer = _SCORER.get("r") or _SCORER.setdefault(
        "r", rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    )
    return float(scorer.score(reference, prediction)["rougeL"].fmeasure)


_SCORER: dict[str, Any] = {}


def answer_losses(
    model: Any, tokenizer: Any, settings: PromptSettings, rows: list[dict], sequence_len: int
) -> list[tuple[float, int]]:
    """(sum of token losses, answer tokens) per row, with the training tokenization."""
    import torch
    import torch.nn.functional as F

    strategy = PsychologyPromptStrategy(tokenizer, settings, False, sequence_len)
    batch = {k: [r.get(k) for r in rows] for k in ("instruction", "input", "output", "category")}
    enc = strategy.tokenize_prompt(batch)
    width = max(len(ids) for ids in enc["input_ids"])
    pad = tokenizer.pad_token_id
    ids = torch.tensor([x + [pad] * (width - len(x)) for x in enc["input_ids"]])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in enc["input_ids"]])
    labels = torch.tensor([x + [IGNORE_INDEX] * (width - len(x)) for x in enc["labels"]])
    with torch.no_grad():
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
    logits = logits[:, :-1].float().cpu()
    target = labels[:, 1:]
    loss = F.cross_entropy(
        logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none"
    )
    counted = target != IGNORE_INDEX
    return [(float(loss[i][counted[i]].sum()), int(counted[i].sum())) for i in range(len(rows))]


def summarise(results: list[RowResult]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[RowResult]] = defaultdict(list)
    for r in results:
        groups[r.category].append(r)
        groups["overall"].append(r)
    out = {}
    for name in sorted(groups, key=lambda n: (n == "overall", n)):
        rs = groups[name]
        loss = sum(r.loss_sum for r in rs) / max(1, sum(r.tokens for r in rs))
        out[name] = {
            "rows": len(rs),
            "loss": round(loss, 4),
            "perplexity": round(math.exp(min(loss, 50.0)), 3),
            "rouge_l": round(sum(r.rouge_l for r in rs) / len(rs), 4),
        }
    return out


def evaluate(
    model: Any,
    tokenizer: Any,
    settings: PromptSettings,
    rows: list[dict],
    *,
    use_adapter: bool,
    batch_size: int = 8,
    max_new_tokens: int = 128,
    sequence_len: int = 2048,
    progress: Any = None,
) -> dict[str, Any]:
    """{"base": {...}, "tuned": {...}, "samples": [...]}: both models in one pass per batch."""
    import contextlib

    per_model: dict[str, list[RowResult]] = {m: [] for m in MODELS}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        for name in MODELS if use_adapter else ("base",):
            ctx = (
                model.disable_adapter()
                if (use_adapter and name == "base")
                else contextlib.nullcontext()
            )
            with ctx:
                losses = answer_losses(model, tokenizer, settings, chunk, sequence_len)
                gens = generate_answers(model, tokenizer, settings, chunk, max_new_tokens)
            for row, (loss_sum, n), gen in zip(chunk, losses, gens, strict=True):
                per_model[name].append(
                    RowResult(
                        row.get("category") or "(none)",
                        loss_sum,
                        n,
                        rouge_l(gen, row["output"]),
                        gen,
                    )
                )
        if progress is not None:
            progress(len(chunk))
    result: dict[str, Any] = {name: summarise(rs) for name, rs in per_model.items() if rs}
    result["samples"] = [
        {
            "instruction": row["instruction"],
            "reference": row["output"],
            **{name: per_model[name][i].generation for name in MODELS if per_model[name]},
        }
        for i, row in enumerate(rows[:5])
    ]
    return result


def write_report(out_dir: Path, result: dict[str, Any], meta: dict[str, Any]) -> list[Path]:
    """eval.json, report.md and chart.png in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, **result}
    paths = [out_dir / "eval.json", out_dir / "report.md", out_dir / "chart.png"]
    write_text_atomic(paths[0], json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(paths[1], markdown_report(result, meta))
    plot(result, paths[2])
    return paths


def markdown_report(result: dict[str, Any], meta: dict[str, Any]) -> str:
    tuned = "tuned" in result
    lines = [
        "# Evaluation: base model vs base + adapter",
        "",
        f"- base model: `{meta['base_model']}`",
        f"- adapter: `{meta['adapter']}`" if tuned else "- adapter: (none)",
        f"- eval file: `{meta['eval_file']}` ({meta['rows']} rows)",
        f"- generation: greedy (do_sample=False), max_new_tokens={meta['max_new_tokens']}, "
        f"batch_size={meta['batch_size']}; loss: teacher forcing on answer tokens only",
        f"- machine: {meta['machine']}",
        "",
    ]
    if meta.get("tiny"):
        lines += [
            "> **This ran on the embedded tiny model (random weights, about 0.2M parameters).**",
            "> A lower loss shows the pipeline learns; the numbers say nothing about the quality",
            "> of answers, and its generations are not meaningful text.",
            "",
        ]
    header = "| category | rows | base loss | base ppl | base ROUGE-L |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if tuned:
        header += " tuned loss | tuned ppl | tuned ROUGE-L | loss change |"
        rule += " ---: | ---: | ---: | ---: |"
    lines += [header, rule]
    for cat, b in result["base"].items():
        row = (
            f"| {cat} | {b['rows']} | {b['loss']:.4f} | {b['perplexity']:.2f} "
            f"| {b['rouge_l']:.3f} |"
        )
        if tuned:
            t = result["tuned"][cat]
            row += (
                f" {t['loss']:.4f} | {t['perplexity']:.2f} | {t['rouge_l']:.3f} |"
                f" {t['loss'] - b['loss']:+.4f} |"
            )
        lines.append(row)
    lines += ["", "## Samples", ""]
    for s in result["samples"]:
        lines += [f"**Q:** {s['instruction']}", "", f"- reference: {s['reference']}"]
        lines += [f"- {name}: {s[name].strip()!r}" for name in MODELS if name in s]
        lines.append("")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = list(result["base"])
    models = [m for m in MODELS if m in result]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(models)
    for ax, metric, title in (
        (axes[0], "loss", "answer loss (lower is better)"),
        (axes[1], "rouge_l", "ROUGE-L F1 (higher is better)"),
    ):
        for i, m in enumerate(models):
            xs = [c + i * width for c in range(len(cats))]
            ax.bar(xs, [result[m][c][metric] for c in cats], width, label=m)
        ax.set_xticks([c + width * (len(models) - 1) / 2 for c in range(len(cats))])
        ax.set_xticklabels(cats, rotation=30, ha="right")
        ax.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncols=len(models))
    fig.suptitle("Before vs after fine-tuning, per category")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {gpu}, torch {torch.__version__}"
