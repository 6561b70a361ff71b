"""`psych preflight CONFIG`: what must hold before a training run starts, checked in seconds.

- The output folder is writable and its disk has room.
- A finished run (an adapter in output_dir) is never overwritten without --force; with --force
  the old run is moved aside first (and deleted only once the move succeeded).
- A run that was killed after a checkpoint is resumed: Axolotl's `auto_resume_from_checkpoints`
  picks the last checkpoint, and this says so. A resume with a changed config (another learning
  rate, other data) is refused without --force: the plugin keeps the YAML a run trains with in
  output_dir/psych_run_config.yml, and the difference is named in one line.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import RUN_CONFIG_FILE, WORLD_SIZE_KEY, has_finished_run, is_tiny_model, run_output_dir
from ..problems import UsageError
from .templates import read_yaml

# Keys that change how a run is logged, evaluated, saved or cached, not what it learns: a resumed
# run may change them freely. Anything else changed means the checkpoint and the config disagree.
RESUME_SAFE_KEYS = frozenset(
    {
        "output_dir",
        "dataset_prepared_path",
        "logging_steps",
        "save_steps",
        "saves_per_epoch",
        "save_total_limit",
        "save_strategy",
        "eval_steps",
        "evals_per_epoch",
        "eval_strategy",
        "test_datasets",
        "eval_batch_size",
        "dataloader_num_workers",
        "dataloader_prefetch_factor",
        "dataloader_pin_memory",
        "auto_resume_from_checkpoints",
        "psych_validate_datasets",
        "wandb_project",
        "wandb_entity",
        "wandb_name",
        "wandb_mode",
    }
)
MIN_FREE_BYTES = {"tiny": 200 << 20, "default": 5 << 30}  # checkpoints, merged weights, caches


@dataclass
class Preflight:
    output_dir: Path
    resume_from: Path | None
    moved_aside: Path | None
    changed: list[str] = field(default_factory=list)  # accepted with --force on a resume


def last_checkpoint(output_dir: Path) -> Path | None:
    ckpts = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}.{i}"))
        return out
    return {prefix: value}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`key: old -> new` for every setting that differs, except RESUME_SAFE_KEYS (and their
    sub-keys); `(unset)` marks a key only one side has."""
    a = {k: v for k, v in _flatten(old).items() if k.split(".")[0] not in RESUME_SAFE_KEYS}
    b = {k: v for k, v in _flatten(new).items() if k.split(".")[0] not in RESUME_SAFE_KEYS}
    missing = object()
    changes = []
    for key in sorted(a.keys() | b.keys()):
        before, after = a.get(key, missing), b.get(key, missing)
        if before != after:
            shown = ["(unset)" if v is missing else repr(v) for v in (before, after)]
            changes.append(f"{key}: {shown[0]} -> {shown[1]}")
    return changes


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def preflight(
    config: Path, force: bool = False, node_rank: int = 0, world_size: int | None = None
) -> Preflight:
    """node_rank > 0 (another machine of a multi-node job) checks only what its own processes
    need; finished-run protection and resume are node 0's, which writes the run's files.
    world_size: the processes the coming run will have (a resume with another count trains
    with another global batch: refused like a changed key)."""
    cfg = read_yaml(config)
    out = run_output_dir(cfg)
    base = _existing_ancestor(out)
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(
            f"{out}: output folder is not writable ({base} is read-only); "
            "set output_dir to a writable folder"
        )
    need = MIN_FREE_BYTES["tiny" if is_tiny_model(cfg.get("base_model")) else "default"]
    free = shutil.disk_usage(base).free
    if free < need:
        raise UsageError(
            f"{out}: only {free / 2**20:.0f} MiB free on its disk; a run needs at "
            f"least {need / 2**20:.0f} MiB (checkpoints, adapter)"
        )
    if node_rank > 0:
        return Preflight(out, None, None)
    moved = None
    if has_finished_run(out):
        if not force:
            raise UsageError(
                f"{out}: holds a finished run's adapter; not overwriting it "
                "(use FORCE=1 / --force to retrain, or change output_dir)"
            )
        moved = out.with_name(f"{out.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(out, moved)
        shutil.rmtree(moved)
    resume = last_checkpoint(out) if out.is_dir() else None
    changed: list[str] = []
    if resume is not None and (out / RUN_CONFIG_FILE).is_file():
        before = read_yaml(out / RUN_CONFIG_FILE)
        trained_with = before.pop(WORLD_SIZE_KEY, None)
        changed = config_changes(before, cfg)
        if world_size is not None and trained_with is not None and trained_with != world_size:
            changed.append(f"processes (world size): {trained_with} -> {world_size}")
        if changed and not force:
            more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
            raise UsageError(
                f"{config}: changed since the interrupted run in {out} ({resume.name}): "
                f"{'; '.join(changed[:3])}{more}; not resuming with another config "
                "(FORCE=1 / --force resumes anyway; or change output_dir to start afresh)"
            )
    return Preflight(out, resume, moved, changed)
