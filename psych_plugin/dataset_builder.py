"""`psych build-dataset BOOK -o OUT.jsonl`: a psychology book -> candidate Alpaca rows.

(Being written; see the dataset issue.)"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("build-dataset", help="turn a book (text/Markdown) into Alpaca rows")
    p.add_argument("book")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_build_dataset)


def cmd_build_dataset(args: argparse.Namespace) -> int:
    raise NotImplementedError
