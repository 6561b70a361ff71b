"""`psych build-dataset BOOK -o OUT.jsonl`: the command's arguments and entry point.

The work is done in psych_plugin/book/ (see its package docstring): reading the book, the rules,
the LLM client, the resume sidecars and the build itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..problems import UsageError


def cmd_build_dataset(args: argparse.Namespace) -> int:
    from ..book.build import build

    try:
        return build(args)
    except OSError as e:
        raise UsageError(f"{e.filename or args.output}: {e.strerror or e}") from e


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
        help="cap on each reply's length (default: the server's)",
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
