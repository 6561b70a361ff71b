"""The `psych` command. Each module here owns a command group: its arguments (`add_parsers`)
and its printing; the work is in the package's other folders. Nothing heavy is imported until a
command runs, so `psych --help` and the dataset commands start fast.

Exit codes everywhere: 0 ok, 1 the input has problems, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..problems import UsageError
from . import book, config, data, model
from .common import EXIT_OK, EXIT_USAGE, Parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="psych",
        description="Fine-tune Qwen3 on psychology knowledge (Alpaca rows) through Axolotl.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (data, config, model, book):
        group.add_parsers(sub)
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
