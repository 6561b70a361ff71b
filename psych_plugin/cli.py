"""The `psych` command: argument parsing and printing only; the work is in the modules.

Exit codes everywhere: 0 ok, 1 the input has problems, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .problems import UsageError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _emit(lines: Sequence[str] | object) -> None:
    for line in lines:  # type: ignore[attr-defined]
        print(line)


# ---------------------------------------------------------------- validate
def _validate_with_progress(path: Path, max_errors: int | None):
    from .validate import SPAN_BYTES, check_readable, validate_file

    check_readable(path)
    size = path.stat().st_size
    if not sys.stderr.isatty() or size < SPAN_BYTES:
        return validate_file(path, max_errors=max_errors)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"validating {path.name}", total=size)
        return validate_file(path, max_errors=max_errors, progress=lambda n: bar.advance(task, n))


def cmd_validate(args: argparse.Namespace) -> int:
    from .report import render

    problems, rows, errors, warnings, files = [], 0, 0, 0, 0
    budget = args.max_errors
    for name in args.paths:
        report = _validate_with_progress(Path(name), budget)
        files += 1
        rows += report.rows
        errors += report.errors
        warnings += report.warnings
        problems.extend(report.problems)
        if budget is not None:
            budget -= report.errors
            if budget <= 0:
                break
    verdict = "FAILED" if errors else "ok"
    summary = f"{verdict}: {files} file(s), {rows} row(s), {errors} error(s), {warnings} warning(s)"
    extra = {"files": files, "rows": rows, "errors": errors, "warnings": warnings}
    _emit(render(problems, args.format, summary, extra))
    return EXIT_PROBLEMS if errors else EXIT_OK


# ---------------------------------------------------------------- fix
def cmd_fix(args: argparse.Namespace) -> int:
    from .fix import fix_file
    from .report import render

    result = fix_file(Path(args.input), Path(args.output), force=args.force)
    if result.problems:
        summary = (
            f"FAILED: {len(result.problems)} row(s) still invalid after normalising; "
            f"nothing written to {args.output}"
        )
        _emit(render(result.problems, "text", summary))
        return EXIT_PROBLEMS
    done = ", ".join(f"{what} ({n})" for what, n in result.changes.items()) or "no changes"
    print(f"wrote {result.rows} row(s) to {args.output}: {done}")
    return EXIT_OK


# ---------------------------------------------------------------- lint
def _stats_tables(stats: dict) -> list:
    from rich.table import Table

    rows = stats["rows"] or 1
    cats = Table(title="Rows per category")
    cats.add_column("category")
    cats.add_column("rows", justify="right")
    cats.add_column("share", justify="right")
    for name, count in stats["categories"].items():
        cats.add_row(name, str(count), f"{count / rows:.1%}")
    cats.add_row("total", str(stats["rows"]), f"input used: {stats['with_input_share']:.1%}")
    lengths = Table(title="Lengths")
    lengths.add_column("field")
    for col in ("min", "median", "mean", "max"):
        lengths.add_column(col, justify="right")
    measures = {f"{k} (chars)": v for k, v in stats["chars"].items()}
    if "tokens" in stats:
        measures["row (tokens)"] = stats["tokens"]
    for name, d in measures.items():
        lengths.add_row(name, *(f"{d[c]:g}" for c in ("min", "median", "mean", "max")))
    return [cats, lengths]


def cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint
    from .problems import Problem
    from .report import render

    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        except (OSError, ValueError) as e:
            raise UsageError(f"--tokenizer {args.tokenizer}: cannot load a tokenizer ({e})") from e
    if args.sequence_len and tokenizer is None:
        raise UsageError("--sequence-len needs --tokenizer DIR to count tokens")
    for name in [*args.paths, *([args.eval] if args.eval else [])]:
        from .validate import check_readable

        check_readable(Path(name))
    report = lint(
        [Path(p) for p in args.paths],
        Path(args.eval) if args.eval else None,
        tokenizer,
        args.sequence_len,
    )
    problems = report.problems
    if args.strict:
        problems = [Problem(p.path, p.line, p.field, p.message, "error") for p in problems]
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    verdict = "FAILED" if errors else "ok"
    summary = (
        f"{verdict}: {report.stats.get('rows', 0)} row(s), {errors} error(s), {warnings} warning(s)"
    )
    if args.format == "text" and report.stats.get("rows"):
        from rich.console import Console

        console = Console()
        for table in _stats_tables(report.stats):
            console.print(table)
    _emit(render(problems, args.format, summary, {"stats": report.stats}))
    return EXIT_PROBLEMS if errors else EXIT_OK


# ---------------------------------------------------------------- stats
def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import stats_markdown, update_card
    from .validate import check_readable

    paths = [Path(p) for p in args.paths]
    for path in paths:
        check_readable(path)
    body = stats_markdown(paths)
    if not args.update:
        print(body)
        return EXIT_OK
    changed = update_card(Path(args.update), body, check_only=args.check)
    if args.check and changed:
        print(
            f"{args.update}: figures are out of date; run psych stats --update {args.update}",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    print(f"{'updated' if changed else 'up to date'}: {args.update}")
    return EXIT_OK


# ---------------------------------------------------------------- config
def cmd_config(args: argparse.Namespace) -> int:
    from .configs import default_output, default_preset, resolve_preset, write_config

    preset = args.preset
    if preset is None:
        preset = default_preset()
        print(f"psych config: no preset given; chose {preset} for this hardware", file=sys.stderr)
    resolved = resolve_preset(preset, args.set)
    out = Path(args.output) if args.output else default_output(preset)
    changed = write_config(resolved, out, force=args.force)
    print(f"{'wrote' if changed else 'unchanged'}: {out}")
    if args.no_check:
        return EXIT_OK
    code = _check_and_print(out, "text")
    _print_memory_estimate(resolved.config)
    return code


def _print_memory_estimate(cfg: dict) -> None:
    from .checks import model_config_for
    from .memory import estimate_memory

    model_config, where = model_config_for(str(cfg.get("base_model") or ""))
    if model_config is None:
        print("GPU memory estimate: architecture unknown offline; skipped")
        return
    estimate = estimate_memory(cfg, model_config)
    print(f"GPU memory estimate for this run (architecture from {where}):")
    _emit(estimate.lines())


def _check_and_print(path: Path, fmt: str) -> int:
    from .checks import check_config
    from .report import render

    problems = check_config(path)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    summary = (
        f"{'FAILED' if errors else 'ok'}: check-config {path}: {errors} error(s), "
        f"{warnings} warning(s)"
    )
    _emit(render(problems, fmt, summary))
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    return _check_and_print(Path(args.config), args.format)


def cmd_preset(args: argparse.Namespace) -> int:
    from .configs import default_preset

    print(default_preset())
    return EXIT_OK


# ---------------------------------------------------------------- tiny
def cmd_tiny(args: argparse.Namespace) -> int:
    from .tiny import ensure_tiny_model

    print(ensure_tiny_model())
    return EXIT_OK


# ---------------------------------------------------------------- trained
def cmd_trained(args: argparse.Namespace) -> int:
    from .configs import read_yaml
    from .paths import resolve

    cfg = read_yaml(Path(args.config))
    out = resolve(cfg.get("output_dir", "outputs"))
    missing = [
        n for n in ("adapter_model.safetensors", "adapter_config.json") if not (out / n).is_file()
    ]
    if missing:
        print(
            f"psych trained: error: {out}: no {', '.join(missing)}: training did not finish",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    bar = "=" * 78
    print(bar)
    print(f"Adapter written to: {out}/ (adapter_model.safetensors, adapter_config.json, README.md)")
    base = str(cfg.get("base_model", ""))
    if "tiny-qwen3" in base:
        print("This was the CPU DEMO: the embedded tiny Qwen3 (random weights, ~0.2M parameters)")
        print("went through the real pipeline (validation, Axolotl, QLoRA, the plugin's template).")
        print("It proves the pipeline works; it says nothing about answer quality.")
        print("For the real job (QLoRA on Qwen/Qwen3-1.7B) run `make train` on a machine with a")
        print("CUDA GPU, or: make train PRESET=qwen3-1.7b-qlora")
    else:
        print(f"Base model: {base}")
    print(bar)
    return EXIT_OK


# ---------------------------------------------------------------- infer / eval / merge
def _training_config(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    from .configs import default_output, default_preset

    return default_output(default_preset())


def cmd_infer(args: argparse.Namespace) -> int:
    from transformers import TextStreamer

    from .inference import generate_answers, load_model, run_paths

    if not args.interactive and not args.question:
        raise UsageError("give a QUESTION, or --interactive")
    paths = run_paths(_training_config(args))
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
    import json

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .configs import read_yaml
    from .evaluate import evaluate, machine, write_report
    from .inference import load_model, run_paths
    from .lint import load_rows
    from .paths import EVAL_DATA, OUTPUTS_DIR

    paths = run_paths(_training_config(args))
    eval_file = Path(args.eval_file or EVAL_DATA)
    loaded, errors = load_rows(eval_file)
    if errors:
        from .report import format_problem

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
    out_dir = Path(args.output) if args.output else OUTPUTS_DIR / "eval" / paths.adapter_dir.name
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
    from .inference import run_paths
    from .merge import merge

    paths = run_paths(_training_config(args))
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


# ---------------------------------------------------------------- preflight
def cmd_preflight(args: argparse.Namespace) -> int:
    from .preflight import preflight

    result = preflight(Path(args.config), force=args.force)
    if result.moved_aside:
        print(f"psych preflight: --force: removed the previous run in {result.output_dir}")
    if result.resume_from:
        print(f"psych preflight: resuming the interrupted run from {result.resume_from}")
    return EXIT_OK


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="psych",
        description="Fine-tune Qwen3 on psychology knowledge (Alpaca rows) through Axolotl.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("validate", help="check JSONL rows against schemas/alpaca.schema.json")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--max-errors", type=int, default=None, metavar="N")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "fix", help="normalise a dataset (BOM, CRLF, JSON array, spaces) into a new file"
    )
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=cmd_fix)

    p = sub.add_parser("lint", help="duplicates, eval leakage, over-length rows, balance")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--eval", metavar="EVAL", help="held-out file to check for leakage")
    p.add_argument("--tokenizer", metavar="DIR", help="count tokens with this tokenizer")
    p.add_argument("--sequence-len", type=int, metavar="N", help="flag rows longer than N")
    p.add_argument("--strict", action="store_true", help="warnings are errors (exit 1)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("stats", help="dataset figures as Markdown (for the dataset card)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--update", metavar="CARD", help="write them into CARD between the markers")
    p.add_argument("--check", action="store_true", help="with --update: exit 1 if out of date")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("config", help="generate a complete Axolotl YAML from a preset")
    p.add_argument("preset", nargs="?", help="preset name (default: chosen by hardware)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key (typed as YAML; dotted keys reach into mappings)",
    )
    p.add_argument("-o", "--output", help="output path (default: axolotl_configs/generated/)")
    p.add_argument("--force", action="store_true", help="overwrite a hand-edited output")
    p.add_argument("--no-check", action="store_true", help="skip check-config on the output")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("check-config", help="find what Axolotl would silently ignore in a YAML")
    p.add_argument("config", metavar="FILE")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("preset", help="print the preset this hardware gets by default")
    p.set_defaults(func=cmd_preset)

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

    p = sub.add_parser("trained", help="check a finished run's adapter and say where it is")
    p.add_argument("config", help="the generated Axolotl YAML that was trained")
    p.set_defaults(func=cmd_trained)

    p = sub.add_parser(
        "preflight",
        help="before training: writable output, disk space, finished-run protection, resume",
    )
    p.add_argument("config")
    p.add_argument("--force", action="store_true", help="replace a finished run")
    p.set_defaults(func=cmd_preflight)

    # `psych build-dataset` (psych_plugin/dataset_builder.py) registers its own arguments.
    from .dataset_builder import add_parser as add_build_dataset_parser

    add_build_dataset_parser(sub)

    p = sub.add_parser("tiny", help="build (or find cached) the embedded tiny Qwen3 model")
    p.set_defaults(func=cmd_tiny)
    return parser


def _quiet_third_party_import_noise() -> None:
    # Importing Axolotl imports torchao, which logs missing CUDA kernels on every CPU start.
    import logging

    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_third_party_import_noise()
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"psych {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"psych {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
