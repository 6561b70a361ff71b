"""`psych infer | eval | merge`: the trained adapter, used, measured and merged."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..problems import UsageError
from .common import EXIT_OK, EXIT_PROBLEMS, require, training_config


def cmd_infer(args: argparse.Namespace) -> int:
    require("torch", "transformers", "peft", what="psych infer")
    from transformers import TextStreamer

    from ..model.inference import generate_answers, load_model, run_paths

    if not args.interactive and not args.question:
        raise UsageError("give a QUESTION, or --interactive")
    paths = run_paths(training_config(args))
    model, tokenizer, settings = load_model(paths, not args.no_adapter, args.load_in_4bit)
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

    def answer(question: str, input_text: str) -> None:
        row = {"instruction": question, "input": input_text, "category": args.category}
        generate_answers(
            model, tokenizer, settings, [row], args.max_new_tokens, args.temperature, streamer
        )

    if args.question:
        answer(args.question, args.input or "")
    if args.interactive:
        print("psych infer: interactive; an empty line or Ctrl-D ends", file=sys.stderr)
        while True:
            try:
                question = input("> ").strip()
            except EOFError:
                break
            if not question:
                break
            answer(question, "")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    require("torch", "transformers", "peft", "rouge_score", what="psych eval")
    import json

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ..configs.templates import read_yaml
    from ..dataset.rows import load_rows
    from ..model.evaluate import evaluate, machine, write_report
    from ..model.inference import load_model, run_paths
    from ..paths import data_file, outputs_dir

    paths = run_paths(training_config(args))
    eval_file = Path(args.eval_file) if args.eval_file else data_file("psychology_eval.jsonl")
    loaded, errors = load_rows(eval_file)
    if errors:
        from ..report import format_problem

        for problem in errors:
            print(format_problem(problem), file=sys.stderr)
        return EXIT_PROBLEMS
    rows = [r.data for r in loaded][: args.limit] if args.limit else [r.data for r in loaded]
    model, tokenizer, settings = load_model(paths, not args.no_adapter)
    cfg = read_yaml(paths.config)
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating rows", total=len(rows))
        result = evaluate(
            model,
            tokenizer,
            settings,
            rows,
            use_adapter=not args.no_adapter,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            sequence_len=int(cfg.get("sequence_len") or 2048),
            progress=lambda n: bar.advance(task, n),
        )
    meta = {
        "base_model": paths.base_model,
        "adapter": str(paths.adapter_dir),
        "eval_file": str(eval_file),
        "rows": len(rows),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "machine": machine(),
        "tiny": "tiny-qwen3" in paths.base_model,
        "do_sample": False,
    }
    out_dir = Path(args.output) if args.output else outputs_dir() / "eval" / paths.adapter_dir.name
    written = write_report(out_dir, result, meta)
    table = Table(title=f"{eval_file.name}: base vs base + adapter")
    for col in ("category", "rows", "base loss", "tuned loss", "base ROUGE-L", "tuned ROUGE-L"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for cat, b in result["base"].items():
        t = result.get("tuned", {}).get(cat, {})
        table.add_row(
            cat,
            str(b["rows"]),
            f"{b['loss']:.4f}",
            f"{t.get('loss', float('nan')):.4f}",
            f"{b['rouge_l']:.3f}",
            f"{t.get('rouge_l', float('nan')):.3f}",
        )
    Console().print(table)
    if meta["tiny"]:
        print(
            "Note: the tiny model has random weights: these figures show the pipeline learns, "
            "not answer quality."
        )
    print("wrote: " + ", ".join(str(p) for p in written))
    if args.format == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    require("axolotl", "torch", "peft", what="psych merge")
    from ..model.inference import run_paths
    from ..model.merge import merge

    paths = run_paths(training_config(args))
    questions = [
        "What is classical conditioning?",
        "Compare episodic and semantic memory.",
        "Describe Milgram's obedience study.",
    ]
    check = merge(paths, questions)
    print(f"merged model: {check.merged_dir}")
    if check.restored:
        print(
            "restored from the base (QLoRA never quantized them; Axolotl's merge had): "
            + ", ".join(check.restored)
        )
    print(
        f"logits vs base + adapter on {len(questions)} prompts: max |diff| = "
        f"{check.max_abs_diff:.3g}, {check.relative:.3f} of the adapter's own effect "
        f"({check.adapter_effect:.3g}); tolerance {check.tolerance:g}"
    )
    if not check.ok:
        print("psych merge: the merged model does not match base + adapter", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("infer", help="answer a question with the trained adapter")
    p.add_argument("question", nargs="?", metavar="QUESTION")
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.add_argument("--input", default="", help="the row's input field (context to use)")
    p.add_argument("--category", help="row category, for presets with psych_category_prompts")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument("--no-adapter", action="store_true", help="the base model alone")
    p.add_argument("--interactive", action="store_true", help="a question-and-answer loop")
    p.add_argument(
        "--load-in-4bit",
        action="store_true",
        default=None,
        help="load the base in 4-bit (CUDA only; default follows the training YAML)",
    )
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("eval", help="base vs base + adapter on the held-out rows")
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.add_argument("--eval-file", help="JSONL rows (default: data/psychology_eval.jsonl)")
    p.add_argument("--limit", type=int, help="only the first N rows")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--no-adapter", action="store_true", help="evaluate the base model only")
    p.add_argument("-o", "--output", help="report folder (default: outputs/eval/RUN)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("merge", help="merge the adapter with Axolotl, then check the logits")
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.set_defaults(func=cmd_merge)
