"""`psych preflight | trained`: the steps `make train` runs before and after Axolotl."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_OK, EXIT_PROBLEMS


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


def cmd_trained(args: argparse.Namespace) -> int:
    from ..configs.templates import read_yaml
    from ..paths import is_tiny_model, missing_adapter_files, run_output_dir

    cfg = read_yaml(Path(args.config))
    out = run_output_dir(cfg)
    missing = missing_adapter_files(out)
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
    if is_tiny_model(base):
        print("This was the CPU DEMO: the embedded tiny Qwen3 (random weights, ~0.2M parameters)")
        print("went through the real pipeline (validation, Axolotl, QLoRA, the plugin's template).")
        print("It proves the pipeline works; it says nothing about answer quality.")
        print("For the real job (QLoRA on Qwen/Qwen3-1.7B) run `make train` on a machine with a")
        print("CUDA GPU, or: make train PRESET=qwen3-1.7b-qlora")
    else:
        print(f"Base model: {base}")
    print(bar)
    return EXIT_OK


def add_parsers(sub: Any) -> None:
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
    p = sub.add_parser("trained", help="check a finished run's adapter and say where it is")
    p.add_argument("config", help="the generated Axolotl YAML that was trained")
    p.set_defaults(func=cmd_trained)
