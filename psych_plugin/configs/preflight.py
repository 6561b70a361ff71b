"""`psych preflight CONFIG`: what must hold before a training run starts, checked in seconds.

- The output folder is writable and its disk has room.
- A finished run (an adapter in output_dir) is never overwritten without --force; with --force
  the old run is moved aside first (and deleted only once the move succeeded).
- A run that was killed after a checkpoint is resumed: Axolotl's `auto_resume_from_checkpoints`
  picks the last checkpoint, and this says so.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..paths import resolve
from ..problems import UsageError
from .templates import read_yaml

MIN_FREE_BYTES = {"tiny": 200 << 20, "default": 5 << 30}  # checkpoints, merged weights, caches


@dataclass
class Preflight:
    output_dir: Path
    resume_from: Path | None
    moved_aside: Path | None


def last_checkpoint(output_dir: Path) -> Path | None:
    ckpts = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def preflight(config: Path, force: bool = False) -> Preflight:
    cfg = read_yaml(config)
    out = resolve(str(cfg.get("output_dir") or "outputs"))
    base = _existing_ancestor(out)
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(
            f"{out}: output folder is not writable ({base} is read-only); "
            "set output_dir to a writable folder"
        )
    need = MIN_FREE_BYTES["tiny" if "tiny" in str(cfg.get("base_model")) else "default"]
    free = shutil.disk_usage(base).free
    if free < need:
        raise UsageError(
            f"{out}: only {free / 2**20:.0f} MiB free on its disk; a run needs at "
            f"least {need / 2**20:.0f} MiB (checkpoints, adapter)"
        )
    moved = None
    if (out / "adapter_model.safetensors").is_file():
        if not force:
            raise UsageError(
                f"{out}: holds a finished run's adapter; not overwriting it "
                "(use FORCE=1 / --force to retrain, or change output_dir)"
            )
        moved = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(out, moved)
        shutil.rmtree(moved)
    resume = last_checkpoint(out) if out.is_dir() else None
    return Preflight(out, resume, moved)
