"""`psych eval`: base model vs base + adapter on held-out rows, in one run.

Teacher-forced loss and perplexity on the reference answers (answer tokens only, exactly as
training scores them) and ROUGE-L of greedy generations against the references; per category
and overall. `run_eval` runs the whole measurement; eval_report.py writes it down.
"""

from __future__ import annotations

import math
import platform
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dataset.rows import load_rows
from ..integration.prompt_strategy import IGNORE_INDEX, PsychologyPromptStrategy
from ..paths import is_tiny_model
from ..problems import Problem, UsageError
from ..prompts import PromptSettings
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


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {gpu}, torch {torch.__version__}"


@dataclass
class EvalOptions:
    """What one `psych eval` run measures; the CLI fills it from its flags."""

    config: Path
    eval_sets: dict[str, Path]
    use_adapter: bool = True
    limit: int | None = None
    batch_size: int = 8
    max_new_tokens: int = 128
    mmlu: bool = False
    mmlu_dir: Path | None = None
    mmlu_shots: int = 5
    mmlu_limit: int | None = None
    mmlu_batch_size: int | None = None
    output: Path | None = None


@dataclass
class EvalRun:
    result: dict[str, Any]
    meta: dict[str, Any]
    written: list[Path]


# Called once per held-out set with (set name, rows); returns the per-batch advance callback.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def load_eval_sets(
    sets: dict[str, Path], limit: int | None = None
) -> tuple[dict[str, tuple[Path, list[dict]]], list[Problem]]:
    """{name: (file, rows)} of valid rows, or the validation problems that stop the run."""
    rows_by_set: dict[str, tuple[Path, list[dict]]] = {}
    problems: list[Problem] = []
    for name, file in sets.items():
        if not file.is_file():
            raise UsageError(f"{file}: no such eval file")
        loaded, errors = load_rows(file)
        problems.extend(errors)
        rows = [r.data for r in loaded]
        rows_by_set[name] = (file, rows[:limit] if limit else rows)
    return rows_by_set, problems


def run_eval(
    opts: EvalOptions,
    rows_by_set: dict[str, tuple[Path, list[dict]]],
    progress: ProgressFactory | None = None,
) -> EvalRun:
    """Base vs base + adapter on each held-out set (and MMLU psychology when asked), written
    as eval.json, report.md and chart.png under `opts.output` (default outputs/eval/RUN)."""
    import time

    from ..configs.templates import read_yaml
    from ..paths import outputs_dir
    from .eval_report import write_report
    from .inference import has_cuda, load_model, run_paths

    paths = run_paths(opts.config)
    tasks = None
    if opts.mmlu or opts.mmlu_dir is not None:
        from .mmlu import SUBJECTS, build_tasks

        if opts.mmlu_dir is not None and not opts.mmlu_dir.is_dir():
            raise UsageError(f"--mmlu-dir {opts.mmlu_dir}: no such folder")
        # Before the model loads: a missing CSV or an offline hub stops the run at once.
        tasks = build_tasks(SUBJECTS, opts.mmlu_dir, opts.mmlu_shots)

    model, tokenizer, settings = load_model(paths, opts.use_adapter)
    sequence_len = int(read_yaml(paths.config).get("sequence_len") or 2048)
    result: dict[str, Any] = {"sets": {}}
    started = time.monotonic()
    for name, (file, rows) in rows_by_set.items():
        block = evaluate(
            model,
            tokenizer,
            settings,
            rows,
            use_adapter=opts.use_adapter,
            batch_size=opts.batch_size,
            max_new_tokens=opts.max_new_tokens,
            sequence_len=sequence_len,
            progress=progress(name, len(rows)) if progress else None,
        )
        result["sets"][name] = {"file": str(file), "rows": len(rows), **block}
    seconds = {"held_out": round(time.monotonic() - started, 1)}
    records = None
    if tasks is not None:
        import lm_eval

        from .mmlu import evaluate_mmlu

        started = time.monotonic()
        batch = opts.mmlu_batch_size or ("auto" if has_cuda() else opts.batch_size)
        summary, records = evaluate_mmlu(
            model,
            tokenizer,
            tasks,
            use_adapter=opts.use_adapter,
            shots=opts.mmlu_shots,
            batch_size=batch,
            limit=opts.mmlu_limit,
        )
        seconds["mmlu"] = round(time.monotonic() - started, 1)
        result["mmlu"] = {
            "harness_version": lm_eval.__version__,
            "tasks": list(tasks),
            "data": str(opts.mmlu_dir) if opts.mmlu_dir else "cais/mmlu (Hugging Face Hub)",
            "shots": opts.mmlu_shots,
            "limit": opts.mmlu_limit,
            "batch_size": batch,
            "chance": 0.25,
            "subjects": summary,
        }
    meta = {
        "base_model": paths.base_model,
        "adapter": str(paths.adapter_dir),
        "use_adapter": opts.use_adapter,
        "batch_size": opts.batch_size,
        "max_new_tokens": opts.max_new_tokens,
        "machine": machine(),
        "tiny": is_tiny_model(paths.base_model),
        "do_sample": False,
        "seconds": seconds,
    }
    out_dir = opts.output or outputs_dir() / "eval" / paths.adapter_dir.name
    written = write_report(out_dir, result, meta, records)
    return EvalRun(result, meta, written)
