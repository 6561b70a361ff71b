"""PsychologyPlugin: wiring only. Keys come from args.py, prompts from prompts.py, row checks
from dataset/validate.py, the model card from model_card.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from axolotl.integrations.base import BasePlugin

from ..dataset.validate import validate_file
from ..report import format_problem
from .model_card import write_model_card
from .prompts import PromptSettings

STRATEGY = "psych_plugin.prompt_strategy"


def _local_dataset_files(cfg: Any) -> list[Path]:
    files = []
    for ds in cfg.get("datasets") or []:
        ds_type = ds.get("type") if isinstance(ds, dict) else getattr(ds, "type", None)
        path = ds.get("path") if isinstance(ds, dict) else getattr(ds, "path", None)
        if ds_type == STRATEGY and path and Path(path).is_file():
            files.append(Path(path))
    return files


class PsychologyPlugin(BasePlugin):
    def __init__(self) -> None:
        super().__init__()
        self._trainer: Any = None

    def get_input_args(self) -> str:
        return "psych_plugin.integration.args.PsychologyArgs"

    def register(self, cfg: dict) -> None:
        """Check our datasets' rows before anything heavy happens; stop with the report."""
        if cfg.get("psych_validate_datasets") is False:
            return
        failed = False
        for path in _local_dataset_files(cfg):
            report = validate_file(path, max_errors=50)
            for problem in report.problems:
                if problem.severity == "error":
                    print(format_problem(problem), file=sys.stderr)
            failed |= report.errors > 0
        if failed:
            print(
                "psych_plugin: dataset validation failed; fix the rows above "
                "(psych validate PATH shows them all)",
                file=sys.stderr,
            )
            raise SystemExit(1)

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        self._trainer = trainer
        # Saved before training, so even a killed run's folder can rebuild the prompt.
        out = Path(cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        PromptSettings.from_cfg(cfg).save(out)

    def post_train(self, cfg: Any, model: Any) -> None:
        out = Path(cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        settings = PromptSettings.from_cfg(cfg)
        settings.save(out)
        write_model_card(out, cfg, settings, self._trainer)
