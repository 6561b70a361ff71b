"""PsychologyPlugin: wiring only. Keys come from args.py, prompts from prompts.py, row checks
from dataset/validate.py, the model card from model_card.py."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path
from typing import Any

from axolotl.integrations.base import BasePlugin
from packaging.version import Version

from ..atomic import open_safetensors_to_umask, write_text_if_changed
from ..dataset.validate import validate_file
from ..paths import RUN_CONFIG_FILE, WORLD_SIZE_KEY
from ..prompts import STRATEGY_TYPES, PromptSettings
from ..report import format_problem
from .model_card import write_model_card

# The Axolotl releases whose plugin hooks and strategy loader this plugin is written against.
SUPPORTED_AXOLOTL = (Version("0.19"), Version("0.20"))  # [from, before)


def check_axolotl_version(version: str) -> None:
    """Refuse to load into an Axolotl whose internals this plugin was not written for: Axolotl
    logs a plugin that fails to import and trains without it, and check-config reports it."""
    low, high = SUPPORTED_AXOLOTL
    if not low <= Version(version) < high:
        raise ImportError(
            f"psych_plugin supports Axolotl >={low},<{high}; this environment has {version} "
            "(pip install 'axolotl>=0.19,<0.20', or a psych-plugin release for yours)"
        )


check_axolotl_version(importlib.metadata.version("axolotl"))


def _local_dataset_files(cfg: Any) -> list[Path]:
    files = []
    for ds in cfg.get("datasets") or []:
        ds_type = ds.get("type") if isinstance(ds, dict) else getattr(ds, "type", None)
        path = ds.get("path") if isinstance(ds, dict) else getattr(ds, "path", None)
        if ds_type in STRATEGY_TYPES and path and Path(path).is_file():
            files.append(Path(path))
    return files


def is_main_process() -> bool:
    """Global rank 0 (torchrun/accelerate set RANK; a single process has none). Only it writes
    files, like the Trainer, which saves the adapter on global rank 0 only."""
    return int(os.environ.get("RANK", "0")) == 0


def save_run_config(out: Path, cfg: Any) -> Path | None:
    """Keep the YAML this run trains with, and its number of processes, next to its checkpoints
    (RUN_CONFIG_FILE): `psych preflight` compares a resume with it."""
    source = cfg.get("axolotl_config_path")
    if not source or not Path(source).is_file():
        return None
    path = out / RUN_CONFIG_FILE
    text = Path(source).read_text(encoding="utf-8").rstrip("\n")
    world_size = int(cfg.get("world_size") or 1)
    write_text_if_changed(path, f"{text}\n{WORLD_SIZE_KEY}: {world_size}\n")
    return path


def multiprocess_on_cpu(cfg: Any) -> bool:
    """Several processes without an accelerator (gloo): make Axolotl and transformers agree.

    Three things stop a CPU run under `accelerate launch` in Axolotl 0.19, all fixed here and
    nowhere else (a GPU run is left untouched; returns whether anything changed):
    - normalize_config sets device_map = {"": LOCAL_RANK} whenever world_size > 1, which
      transformers reads as an accelerator index ("Cannot access accelerator device when none is
      available"): each rank's model goes to the CPU instead.
    - transformers' TrainingArguments picks gloo DDP (MULTI_CPU) only when ACCELERATE_USE_CPU is
      set; otherwise every rank trains on its own, unsynchronised ("parallel_mode !=
      ParallelMode.DISTRIBUTED").
    - a resumed run fails to load its optimizer state (see ACCELERATE_TORCH_DEVICE below).
    """
    if (cfg.get("world_size") or 1) <= 1 or cfg.get("device") != "cpu":
        return False
    device_map = cfg.get("device_map")
    if isinstance(device_map, dict) and all(isinstance(v, int) for v in device_map.values()):
        cfg["device_map"] = {"": "cpu"}
    os.environ["ACCELERATE_USE_CPU"] = "true"
    # accelerate names each rank's device "cpu:N"; transformers then resumes with
    # torch.load(map_location="cpu:N"), which torch rejects ("don't know how to restore data
    # location ... cpu:0"). A plain "cpu" device resumes.
    os.environ["ACCELERATE_TORCH_DEVICE"] = "cpu"
    return True


class PsychologyPlugin(BasePlugin):
    def __init__(self) -> None:
        super().__init__()
        self._trainer: Any = None
        self._trained = False

    def get_input_args(self) -> str:
        return "psych_plugin.integration.args.PsychologyArgs"

    def register(self, cfg: dict) -> None:
        """Check our datasets' rows before anything heavy happens; stop with the report."""
        if cfg.get("psych_validate_datasets") is False:
            return
        failed = False
        loud = is_main_process()  # every rank stops; one reports
        for path in _local_dataset_files(cfg):
            report = validate_file(path, max_errors=50)
            for problem in report.problems:
                if problem.severity == "error" and loud:
                    print(format_problem(problem), file=sys.stderr)
            failed |= report.errors > 0
        if failed:
            if loud:
                print(
                    "psych_plugin: dataset validation failed; fix the rows above "
                    "(psych validate PATH shows them all)",
                    file=sys.stderr,
                )
            raise SystemExit(1)

    def load_datasets(self, cfg: Any, preprocess: bool = False) -> None:
        # The first hook Axolotl calls after normalize_config and before the model loader reads
        # cfg.device_map (pre_model_load comes too late: the loader has copied it already).
        if multiprocess_on_cpu(cfg):
            rank, world = os.environ.get("RANK", "0"), cfg.get("world_size")
            print(f"psych_plugin: rank {rank} of {world} on the CPU (gloo DDP)", file=sys.stderr)
        return None  # Axolotl loads the datasets itself

    def pre_model_load(self, cfg: Any) -> None:
        # Axolotl 0.19 seeds only in the Trainer, after the model and the LoRA weights exist: the
        # random LoRA A matrices (and so every loss after the first step) changed from run to
        # run despite `seed`. Seeded here, the same config trains the same way again.
        if cfg.get("seed") is not None:
            from transformers import set_seed

            set_seed(int(cfg["seed"]))

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        self._trainer = trainer
        if not is_main_process():
            return
        # Saved before training, so even a killed run's folder can rebuild the prompt, and a
        # resumed run can be compared with the config it continues (psych preflight).
        out = Path(cfg.output_dir)
        PromptSettings.from_cfg(cfg).save(out)
        save_run_config(out, cfg)

    def post_train(self, cfg: Any, model: Any) -> None:
        # Axolotl 0.19 calls this twice (after trainer.train(), and after saving the model and
        # its own model card); the card is written once, in post_train_unload, after both.
        self._trained = True

    def post_train_unload(self, cfg: Any) -> None:
        if not self._trained or not is_main_process():
            return
        out = Path(cfg.output_dir)
        settings = PromptSettings.from_cfg(cfg)
        settings.save(out)
        write_model_card(out, cfg, settings, self._trainer)
        open_safetensors_to_umask(out)
