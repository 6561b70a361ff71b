"""`psych validate | fix | lint | stats`: dataset commands (core install: no Axolotl, no torch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..problems import UsageError
from .common import EXIT_OK, EXIT_PROBLEMS, emit, require


def _validate_with_progress(path: Path, max_errors: int | None):
    from ..dataset.validate import SPAN_BYTES, check_readable, validate_file

    check_readable(path)
    size = path.stat().st_size
    if not sys.stderr.isatty() or size < SPAN_BYTES:
        return validate_file(path, max_errors=max_errors)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"validating {path.name}", total=size)
        return validate_file(path, max_errors=max_errors, progress=lambda n: bar.advance(task, n))


def cmd_validate(args: argparse.Namespace) -> int:
    from ..report import render

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
    emit(render(problems, args.format, summary, extra))
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_fix(args: argparse.Namespace) -> int:
    from ..dataset.fix import fix_file
    from ..report import render

    result = fix_file(Path(args.input), Path(args.output), force=args.force)
    if result.problems:
        summary = (
            f"FAILED: {len(result.problems)} row(s) still invalid after normalising; "
            f"nothing written to {args.output}"
        )
        emit(render(result.problems, "text", summary))
        return EXIT_PROBLEMS
    done = ", ".join(f"{what} ({n})" for what, n in result.changes.items()) or "no changes"
    print(f"wrote {result.rows} row(s) to {args.output}: {done}")
    return EXIT_OK


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
    from ..dataset.lint import lint
    from ..problems import Problem
    from ..report import render

    tokenizer = None
    if args.tokenizer:
        require("transformers", what="psych lint --tokenizer")
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        except (OSError, ValueError) as e:
            raise UsageError(f"--tokenizer {args.tokenizer}: cannot load a tokenizer ({e})") from e
    if args.sequence_len and tokenizer is None:
        raise UsageError("--sequence-len needs --tokenizer DIR to count tokens")
    from ..dataset.validate import check_readable

    for name in [*args.paths, *args.eval, *args.unseen]:
        check_readable(Path(name))
    report = lint(
        [Path(p) for p in args.paths],
        [Path(p) for p in args.eval],
        tokenizer,
        args.sequence_len,
        unseen=[Path(p) for p in args.unseen],
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
    emit(render(problems, args.format, summary, {"stats": report.stats}))
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from ..dataset.stats import stats_markdown, update_card
    from ..dataset.validate import check_readable

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


def add_parsers(sub: Any) -> None:
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
    p.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="EVAL",
        help="held-out file to check for leakage (repeatable)",
    )
    p.add_argument(
        "--unseen",
        action="append",
        default=[],
        metavar="FILE",
        help="held-out file of concepts absent from PATH: leakage plus no shared named study, "
        "case or key term (repeatable)",
    )
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
