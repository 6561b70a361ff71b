"""`psych review ROWS.jsonl [-o REVIEWED.jsonl]`: keep, drop or edit each row in a local page.

The work is in psych_plugin/review/: the decisions journal and output (store.py), the book
passages (sources.py) and the page's server (app.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..problems import UsageError
from .common import EXIT_OK, EXIT_PROBLEMS, emit


def cmd_review(args: argparse.Namespace) -> int:
    from ..report import render
    from ..review.app import bind, create_app, open_browser, serve
    from ..review.sources import Sources
    from ..review.store import ReviewStore, default_output, read_rows

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0 (a free port) to 65535")
    rows_path = Path(args.rows)
    rows, problems = read_rows(rows_path)
    if problems:
        summary = f"FAILED: {len(problems)} line(s) of {rows_path} are not rows; nothing to review"
        emit(render(problems, "text", summary))
        return EXIT_PROBLEMS
    output = Path(args.output) if args.output else default_output(rows_path)
    store = ReviewStore(rows_path, rows, output, force=args.force, restart=args.restart)
    book = Path(args.book) if args.book else None
    sources = Sources.load(rows_path, book)
    sock = bind(args.port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"

    c = store.counts()
    print(f"psych review: {len(rows)} row(s) of {rows_path}; {c['reviewed']} already reviewed")
    if store.replay.stale:
        print(
            f"psych review: {store.replay.stale} earlier decision(s) were on rows that have "
            f"changed in {rows_path} since: those rows are unreviewed again"
        )
    if store.replay.torn:
        print("psych review: the last decision was cut short by a kill and is not recorded")
    print(f"psych review: book passages: {sources.describe()}")
    print(f"psych review: decisions are saved as you make them to {output}")
    opened = not args.no_browser and open_browser(url)
    how = "opened in your browser" if opened else "open it in a browser"
    print(f"psych review: serving {url} ({how}; Ctrl-C to stop)", flush=True)
    serve(create_app(store, sources), sock)

    c = store.counts()
    kept = c["kept"] + c["edited"]
    print(
        f"psych review: {c['reviewed']} of {c['total']} reviewed (kept {c['kept']}, "
        f"edited {c['edited']}, dropped {c['dropped']}); {output} holds {kept} row(s)",
        file=sys.stderr,
    )
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "review",
        help="keep, drop or edit each row in a local page (resumable)",
        description="Serve a page on 127.0.0.1 showing one row at a time with the book passage "
        "it came from: keep, drop or edit it. Every decision is saved as it is made (a journal "
        "next to the output), so a stopped review resumes; the output holds the kept and "
        "edited rows in input order. The input is never modified.",
    )
    p.add_argument("rows", metavar="ROWS", help="the JSONL rows to review")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="the reviewed rows (default: ROWS with .reviewed before the extension)",
    )
    p.add_argument(
        "--book",
        metavar="BOOK",
        help="the book the rows came from: shows the passage under each row's source section "
        "(without it, passages come from ROWS.sources.jsonl when build-dataset wrote one)",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address, open nothing")
    p.add_argument(
        "--force", action="store_true", help="overwrite OUT even if psych review did not write it"
    )
    p.add_argument(
        "--restart", action="store_true", help="discard the decisions made so far and start over"
    )
    p.set_defaults(func=cmd_review)
