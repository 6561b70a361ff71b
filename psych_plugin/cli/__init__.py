"""The `psych` command. Each module here owns a command group: its arguments (`add_parsers`)
and its printing; the work is in the package's other folders. Nothing heavy is imported until a
command runs, so `psych --help` and the dataset commands start fast.

Exit codes everywhere: 0 ok, 1 the input has problems, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..logs import silence_noisy_loggers
from ..problems import UsageError
from . import book, config, data, export, model, review, run
from .common import EXIT_OK, EXIT_USAGE, Parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="psych",
        description="Fine-tune Qwen3 on psychology knowledge (Alpaca rows) through Axolotl.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (data, config, run, model, export, book, review):
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    silence_noisy_loggers()
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
    except OSError as e:
        # An I/O failure no command foresaw (an unwritable folder, a full disk): one line.
        where = f"{e.filename}: " if e.filename else ""
        print(f"psych {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as e:
        # `require()` names the extra up front; this catches a package an import reached later.
        print(
            f"psych {args.command}: error: needs the {e.name!r} package, which this install "
            "lacks: pip install 'psych-plugin[train]'",
            file=sys.stderr,
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
