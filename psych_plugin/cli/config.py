"""`psych config | check-config | preset`: from templates to a checked Axolotl YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_OK, EXIT_PROBLEMS, emit, has_module, require


def cmd_config(args: argparse.Namespace) -> int:
    from ..configs.templates import default_output, default_preset, resolve_preset, write_config

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
    if not has_module("axolotl"):
        print(
            "check-config and the memory estimate need Axolotl (pip install "
            "'psych-plugin[train]'); skipped"
        )
        return EXIT_OK
    code = _check_and_print(out, "text")
    _print_attention(resolved.config)
    _print_memory_estimate(resolved.config)
    return code


def _print_attention(cfg: dict) -> None:
    """Which attention backend the run uses on this machine, and why (make train shows it)."""
    from ..configs.hardware import describe_attention, has_cuda_gpu

    impl = cfg.get("attn_implementation")
    choice = describe_attention(impl, bool(cfg.get("sample_packing")), has_cuda_gpu())
    print(f"attention: {choice.impl}: {choice.reason}")


def _print_memory_estimate(cfg: dict) -> None:
    from ..configs.architecture import ArchitectureError, model_config_for
    from ..configs.memory import estimate_memory

    try:
        model_config, where = model_config_for(str(cfg.get("base_model") or ""))
        if model_config is None:
            print("GPU memory estimate: architecture unknown offline; skipped")
            return
        estimate = estimate_memory(cfg, model_config, where)
    except ArchitectureError as e:
        print(f"GPU memory estimate: skipped: {e}")
        return
    print(f"GPU memory estimate for this run (architecture from {where}):")
    emit(estimate.lines())


def _check_and_print(path: Path, fmt: str) -> int:
    from ..configs.checks import check_config
    from ..report import render

    problems = check_config(path)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    summary = (
        f"{'FAILED' if errors else 'ok'}: check-config {path}: {errors} error(s), "
        f"{warnings} warning(s)"
    )
    emit(render(problems, fmt, summary))
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    require("axolotl", what="psych check-config")
    return _check_and_print(Path(args.config), args.format)


def cmd_preset(args: argparse.Namespace) -> int:
    from ..configs.templates import default_preset

    print(default_preset())
    return EXIT_OK


def add_parsers(sub: Any) -> None:
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
