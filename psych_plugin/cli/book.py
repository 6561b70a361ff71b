"""`psych build-dataset BOOK -o OUT.jsonl`: the command's arguments and entry point.

The work is done in psych_plugin/book/ (see its package docstring): reading the book, the rules,
the LLM client, the resume sidecars and the build itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..problems import UsageError

TICK_EVERY = 15.0  # seconds between progress lines in a log (stderr not a terminal)
COUNT_LABELS = {
    "duplicates": "exact duplicates dropped",
    "near_duplicates": "near-duplicates dropped",
    "in_eval": "dropped: also in --eval (leakage)",
    "invalid": "invalid rows dropped",
    "skipped": "LLM replies skipped",
}


def cmd_build_dataset(args: argparse.Namespace) -> int:
    from ..book.build import BuildOptions, Interrupted, build_dataset
    from ..book.llm import DEFAULT_MAX_TOKENS

    options = BuildOptions(
        book=Path(args.book),
        output=Path(args.output),
        name=args.name,
        eval_files=tuple(Path(p) for p in args.eval or ()),
        chunk_chars=args.chunk_chars,
        min_paragraph=args.min_paragraph,
        force=args.force,
        restart=args.restart,
        llm_url=args.llm_url,
        model=args.model,
        api_key_env=args.api_key_env,
        per_chunk=args.per_chunk,
        retries=args.retries,
        timeout=args.timeout,
        concurrency=args.concurrency,
        # Not given: the default cap; 0: none sent (the server's own default).
        max_tokens=DEFAULT_MAX_TOKENS if args.max_tokens is None else (args.max_tokens or None),
        json_schema=not args.no_json_schema,
    )
    if args.sample < 0:
        raise UsageError("--sample must be at least 0")
    shown = _Shown(bool(args.llm_url))
    try:
        with shown:
            result = build_dataset(options, shown.update)
    except Interrupted as e:
        print(f"psych build-dataset: {e.message}", file=sys.stderr)
        if e.abandoned:
            # Requests still in flight would hold the exit for up to --timeout seconds (the
            # pool's threads are joined at exit): leave now, everything kept is on disk.
            print("psych build-dataset: interrupted", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(130)
        raise
    except OSError as e:
        raise UsageError(f"{e.filename or args.output}: {e.strerror or e}") from e
    if result.rows == 0:
        print(
            f"psych build-dataset: no rows found in {args.book}; nothing written", file=sys.stderr
        )
        if args.explain_rejections:
            _explain(result.rejected)
        return 1
    _summary(result)
    if args.explain_rejections:
        _explain(result.rejected)
    if args.sample:
        import random

        from ..book.sample import print_sample

        seed = args.seed
        if seed is None:
            seed = random.SystemRandom().randrange(10_000)  # printed, so it can be repeated
        numbered = [(i + 1, json.loads(line)) for i, line in enumerate(result.lines)]
        print_sample(result.output, numbered, args.sample, seed)
    return 0


class _Shown:
    """Progress: a bar on a terminal; in a log (stderr not a terminal) on the LLM path, a line
    every TICK_EVERY seconds with chunks done, requests per second and the time left."""

    def __init__(self, llm: bool) -> None:
        self.llm = llm
        self.bar: Any = None
        self.last = time.monotonic()
        self.first_done: int | None = None

    def __enter__(self) -> _Shown:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, p: Any) -> None:
        if self.first_done is None:
            self.first_done = p.done - 1
        if sys.stderr.isatty():
            if self.bar is None:
                self.bar = _progress_bar(p.total, p.done - 1)
                self.bar.start()
            self.bar.update(self.bar.task_ids[0], completed=p.done)
            return
        now = time.monotonic()
        if not self.llm or (now - self.last < TICK_EVERY and p.done < p.total):
            return
        self.last = now
        rate = (p.done - self.first_done) / max(p.elapsed, 1e-9)
        left = (p.total - p.done) / rate if rate else 0.0
        print(
            f"build-dataset: {p.done}/{p.total} chunks, "
            f"{p.requests / max(p.elapsed, 1e-9):.1f} requests/s, about {_duration(left)} left",
            file=sys.stderr,
            flush=True,
        )


def _progress_bar(total: int, done: int) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.add_task("chunks", total=total, completed=done)
    return bar


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return (
        f"{minutes} min {seconds:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..book.build import REJECTED

    counts = result.counts
    table = Table(title="build-dataset: rows per category")
    table.add_column("category")
    table.add_column("rows", justify="right")
    for cat, n in result.categories.items():
        table.add_row(cat, str(n))
    table.add_row("total", str(result.rows), style="bold")
    table.add_section()
    for key, label in COUNT_LABELS.items():
        if key != "invalid" or counts.get(key):
            table.add_row(label, str(counts.get(key, 0)))
    reasons = sorted(
        ((k.removeprefix(REJECTED), n) for k, n in counts.items() if k.startswith(REJECTED)),
        key=lambda kv: (-kv[1], kv[0]),
    )
    if reasons:
        table.add_section()
        for reason, n in reasons:
            table.add_row(f"rejected: {reason}", str(n))
    Console().print(table)
    skips = sorted(
        (k.removeprefix("skipped: "), n) for k, n in counts.items() if k.startswith("skipped: ")
    )
    why = f" ({', '.join(f'{r}: {n}' for r, n in skips)})" if skips else ""
    rejected = sum(n for _, n in reasons)
    print(
        f"wrote {result.rows} row(s) to {result.output} from {result.chunks} chunk(s); dropped "
        f"{counts.get('duplicates', 0) + counts.get('near_duplicates', 0)} duplicate(s), "
        f"{counts.get('in_eval', 0)} in --eval; rejected {rejected} (see --explain-rejections); "
        f"skipped {counts.get('skipped', 0)} LLM "
        f"repl{'y' if counts.get('skipped', 0) == 1 else 'ies'}{why}"
    )
    print(f"sources of each row: {result.sources}")
    if result.structured is not None and result.llm_requests:
        took = result.llm_seconds
        # "sent", not "used": some servers accept the field and ignore it.
        fmt = (
            f"response_format ({result.response_format}) sent"
            if result.structured
            else "no response_format ("
            + ("--no-json-schema" if not result.json_schema else "the server rejected it")
            + ")"
        )
        print(
            f"LLM: {result.llm_requests} request(s) in {_duration(took)} "
            f"({result.llm_requests / max(took, 1e-9):.1f}/s, {result.concurrency} in flight), "
            f"{fmt}"
        )


def _explain(rejected: list[Any]) -> None:
    """Each row dropped in this run, with its reason, grouped by reason."""
    by_reason: dict[str, list[Any]] = {}
    for r in rejected:
        by_reason.setdefault(r.reason, []).append(r)
    for reason in sorted(by_reason, key=lambda k: (-len(by_reason[k]), k)):
        items = by_reason[reason]
        print(f"\n== rejected: {reason} ({len(items)})")
        for r in items:
            row = r.candidate.row
            detail = f" [{r.detail}]" if r.detail else ""
            print(f"- {r.candidate.section}{detail}")
            print(f"  Q: {row['instruction']}")
            print(f"  A: {row['output']}")


def cmd_sample(args: argparse.Namespace) -> int:
    from ..book.sample import sample_file

    if args.n < 1:
        raise UsageError("-n must be at least 1")
    return sample_file(Path(args.file), args.n, args.seed, args.category)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "build-dataset",
        help="turn a book (text/Markdown) into Alpaca rows (rules, optionally an LLM)",
        description="Split a psychology book into chapters, sections and chunks and turn it into "
        "schema-valid Alpaca rows. Rules always run; --llm-url adds an OpenAI-compatible model. "
        "Resumable: rerun the same command after an interruption.",
    )
    p.add_argument("book", metavar="BOOK", help="the book: UTF-8 plain text or Markdown")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="JSONL file to write")
    p.add_argument(
        "--name",
        help="book name used in each row's source (default: the Markdown "
        "title, else the file name)",
    )
    p.add_argument(
        "--eval",
        action="append",
        metavar="EVAL",
        help="drop rows whose prompt is in this held-out file (repeatable)",
    )
    p.add_argument(
        "--chunk-chars",
        type=int,
        default=3000,
        metavar="N",
        help="about N characters of a section per chunk (default 3000)",
    )
    p.add_argument(
        "--min-paragraph",
        type=int,
        default=200,
        metavar="N",
        help="paragraphs of N+ characters are read for a reported study or case (default 200)",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="after writing OUT, print N random rows as a table to review (see psych sample)",
    )
    p.add_argument("--seed", type=int, help="the --sample draw (default: random, printed)")
    p.add_argument(
        "--explain-rejections",
        action="store_true",
        help="after the summary, list every row the critic dropped, and why (a resumed run: "
        "the rows of the chunks it worked on)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard an interrupted run's progress and start over",
    )
    g = p.add_argument_group("LLM generation (any OpenAI-compatible chat-completions endpoint)")
    g.add_argument("--llm-url", metavar="URL", help="e.g. http://localhost:8000/v1")
    g.add_argument("--model", metavar="NAME", help="model name sent with each request")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the key")
    g.add_argument(
        "--per-chunk",
        type=int,
        default=3,
        metavar="N",
        help="rows asked for per category per chunk (default 3)",
    )
    g.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="retries of a failed or malformed reply before skipping it (default 2)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for one reply (default 60)",
    )
    g.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="requests in flight (default 4: a local vLLM or llama.cpp server batches them; "
        "raise it for a hosted API, 1 for a server that takes one at a time)",
    )
    g.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="cap on each reply's length in tokens (default: 2048, far more than --per-chunk "
        "rows need, so a model that runs away stops there rather than at the end of its "
        "context; 0: the server's default)",
    )
    g.add_argument(
        "--no-json-schema",
        action="store_true",
        help="do not send response_format (structured JSON output); it is sent by default and "
        "dropped by itself if the server rejects it",
    )
    p.set_defaults(func=cmd_build_dataset)

    s = sub.add_parser(
        "sample",
        help="print N random rows of a JSONL file as a table, to review before training",
        description="Print N random rows (category, source section, instruction, input, output) "
        "as a table. Exit 1 if the file has invalid rows.",
    )
    s.add_argument("file", metavar="FILE", help="JSONL rows, e.g. what build-dataset wrote")
    s.add_argument("-n", type=int, default=20, metavar="N", help="rows to show (default 20)")
    s.add_argument("--seed", type=int, help="the draw (default: random, printed in the title)")
    s.add_argument("--category", help="only rows of this category")
    s.set_defaults(func=cmd_sample)
