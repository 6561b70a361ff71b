"""`psych config | check-config | preset | preflight | tiny | trained`: from templates to a
checked Axolotl YAML, and the steps `make train` runs around Axolotl."""

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
    from ..configs.checks import model_config_for
    from ..configs.memory import estimate_memory

    model_config, where = model_config_for(str(cfg.get("base_model") or ""))
    if model_config is None:
        print("GPU memory estimate: architecture unknown offline; skipped")
        return
    estimate = estimate_memory(cfg, model_config)
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


def cmd_tiny(args: argparse.Namespace) -> int:
    require("torch", "transformers", "tokenizers", what="psych tiny")
    from ..model.tiny import ensure_tiny_model

    print(ensure_tiny_model())
    return EXIT_OK


def cmd_trained(args: argparse.Namespace) -> int:
    from ..configs.templates import read_yaml
    from ..paths import run_output_dir

    cfg = read_yaml(Path(args.config))
    out = run_output_dir(cfg)
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


def cmd_preflight(args: argparse.Namespace) -> int:
    from ..configs.preflight import preflight

    result = preflight(
        Path(args.config), force=args.force, node_rank=args.node_rank, world_size=args.world_size
    )
    if result.moved_aside:
        print(f"psych preflight: --force: removed the previous run in {result.output_dir}")
    if result.resume_from:
        print(f"psych preflight: resuming the interrupted run from {result.resume_from}")
    if result.changed:
        changes = "; ".join(result.changed)
        print(f"psych preflight: --force: resuming with a changed config: {changes}")
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
    p = sub.add_parser("trained", help="check a finished run's adapter and say where it is")
    p.add_argument("config", help="the generated Axolotl YAML that was trained")
    p.set_defaults(func=cmd_trained)

    p = sub.add_parser(
        "preflight",
        help="before training: writable output, disk space, finished-run protection, resume",
    )
    p.add_argument("config")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a finished run; resume an interrupted one although its config changed",
    )
    p.add_argument(
        "--node-rank",
        type=int,
        default=0,
        metavar="N",
        help="this machine's rank in a multi-node job (>0: only writability and disk checks)",
    )
    p.add_argument(
        "--world-size",
        type=int,
        metavar="N",
        help="processes the run will have; a resume with another number is refused",
    )
    p.set_defaults(func=cmd_preflight)
    p = sub.add_parser("tiny", help="build (or find cached) the embedded tiny Qwen3 model")
    p.set_defaults(func=cmd_tiny)
