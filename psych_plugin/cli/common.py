"""What every command module shares: exit codes, the parser class, printing, and the one-line
error for a missing optional install."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

from ..problems import UsageError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def emit(lines: Iterable[str]) -> None:
    for line in lines:
        print(line)


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require(*modules: str, what: str) -> None:
    """A one-line error (exit 2) naming the extra to install when `what` needs a package the
    core install does not have."""
    missing = [m for m in modules if not has_module(m)]
    if missing:
        raise UsageError(
            f"{what} needs {', '.join(missing)}, which the core install lacks: "
            "pip install 'psych-plugin[train]'"
        )


def training_config(args: argparse.Namespace) -> Path:
    """--config, else the generated YAML of the preset this hardware gets."""
    if args.config:
        return Path(args.config)
    from ..configs.templates import default_output, default_preset

    return default_output(default_preset())
