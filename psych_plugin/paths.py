"""Where things live. Paths in configs are relative to the repo root and resolved here only."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SCHEMA_PATH = REPO_ROOT / "schemas" / "alpaca.schema.json"
CONFIGS_DIR = REPO_ROOT / "axolotl_configs"
MODEL_CONFIGS_DIR = PACKAGE_DIR / "model_configs"
DATA_DIR = REPO_ROOT / "data"
TRAIN_DATA = DATA_DIR / "psychology_alpaca.jsonl"
EVAL_DATA = DATA_DIR / "psychology_eval.jsonl"
OUTPUTS_DIR = REPO_ROOT / "outputs"


def cache_dir() -> Path:
    """The embedded tiny model lives here; PSYCH_CACHE_DIR moves it (tests use a temp dir)."""
    return Path(os.environ.get("PSYCH_CACHE_DIR", REPO_ROOT / ".cache"))


def resolve(path: str | os.PathLike[str], base: Path = REPO_ROOT) -> Path:
    """A config path: absolute as is, relative to the repo root otherwise."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p
