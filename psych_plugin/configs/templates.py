"""YAML templates (axolotl_configs/) + overrides -> one complete Axolotl YAML.

A preset is `axolotl_configs/presets/NAME.yml`, merged over `axolotl_configs/defaults.yml`
(mappings merge key by key, lists and scalars replace). A preset may name another in `extends:`.
The output carries a header with its sources, overrides and a hash of its body, so a copy a
person edited afterwards is recognised and not overwritten without --force.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..atomic import write_text_atomic
from ..paths import (
    SMOLLM2_MODEL_DIRNAME,
    TINY_MODEL_DIRNAME,
    cache_dir,
    configs_dir,
    smollm2_model_dir,
    tiny_model_dir,
)
from ..problems import UsageError

GENERATED_DIR = Path("axolotl_configs") / "generated"
# What presets write for the embedded tiny model; the generated YAML gets the real folder.
TINY_BASE_MODEL = f".cache/{TINY_MODEL_DIRNAME}"
# Likewise for SmolLM2-135M-Instruct, converted into the cache by `psych base smollm2`.
CACHE_PREFIX = ".cache/"
SMOLLM2_BASE_MODEL = f"{CACHE_PREFIX}{SMOLLM2_MODEL_DIRNAME}"
GPU_PRESET = "qwen3-1.7b-qlora"
CPU_PRESET = "tiny-cpu"
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
HASH_RE = re.compile(r"^# psych-config-sha256: ([0-9a-f]{64})$", re.M)


def default_preset() -> str:
    from .hardware import has_cuda_gpu

    return GPU_PRESET if has_cuda_gpu() else CPU_PRESET


def list_presets(presets_dir: Path | None = None) -> list[str]:
    presets_dir = presets_dir or configs_dir() / "presets"
    return sorted(p.stem for p in presets_dir.glob("*.yml"))


def read_yaml_text(path: Path) -> tuple[str, Any]:
    """(text, safe-loaded value) of a YAML file; a one-line UsageError for unreadable files
    and invalid YAML (never a traceback, never code run by a tag)."""
    try:
        # (no mutate: the test machines' locale is UTF-8 too, so no test sees the default)
        text = path.read_text(encoding="utf-8")  # pragma: no mutate
    except FileNotFoundError as e:
        raise UsageError(f"{path}: no such file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from e
    try:
        return text, yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UsageError(f"{path}:{line}: -: invalid YAML: {problem}") from e


def read_yaml(path: Path) -> dict[str, Any]:
    """Safe-load one YAML mapping (an empty file is an empty mapping)."""
    _, data = read_yaml_text(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}:1: -: expected a YAML mapping of config keys")
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a","b"], typed value). Values are YAML: 3, 2e-4, true, [a, b]."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {text!r}: expected KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise UsageError(f"--set {text!r}: value is not valid YAML ({e.__class__.__name__})") from e
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        value = raw.strip()  # YAML 1.1 reads yes/no/on/off as booleans: `eval_strategy=no`
    if isinstance(value, str) and _FLOAT_RE.match(value):
        value = float(value)  # YAML 1.1 reads 1e-4 as text; on the command line it is a number
    return key.strip().split("."), value


def apply_override(cfg: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = cfg
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UsageError(f"--set {'.'.join(path)}: no list item {part}")
            node = node[int(part)]
            continue
        if part not in node or not isinstance(node[part], dict | list):
            node[part] = [] if nxt.isdigit() else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UsageError(f"--set {'.'.join(path)}: no list item {last}")
        node[int(last)] = value
    else:
        node[last] = value


@dataclass
class Resolved:
    preset: str
    config: dict[str, Any]
    sources: list[Path]
    overrides: list[str]


def resolve_preset(
    preset: str,
    overrides: list[str] | None = None,
    presets_dir: Path | None = None,
    defaults: Path | None = None,
) -> Resolved:
    """PRESET from `axolotl_configs/` in the working directory, else the shipped templates."""
    presets_dir = presets_dir or configs_dir() / "presets"
    defaults = defaults or presets_dir.parent / "defaults.yml"
    chain: list[Path] = []
    name: str | None = preset
    while name:
        path = presets_dir / f"{name}.yml"
        if not path.is_file():
            known = ", ".join(list_presets(presets_dir))
            raise UsageError(f"unknown preset {name!r} (known: {known})")
        if path in chain:
            raise UsageError(f"{path}: `extends` loops back to {name!r}")
        chain.append(path)
        name = read_yaml(path).get("extends")
    config = read_yaml(defaults) if defaults.is_file() else {}
    for path in reversed(chain):
        layer = read_yaml(path)
        layer.pop("extends", None)
        config = deep_merge(config, layer)
    for text in overrides or []:
        keys, value = parse_override(text)
        apply_override(config, keys, value)
    if config.get("base_model") == TINY_BASE_MODEL:
        config["base_model"] = _tiny_model_path()
    elif config.get("base_model") == SMOLLM2_BASE_MODEL:
        config["base_model"] = _rel(smollm2_model_dir())
    # A dataset a preset names under `.cache/` is derived data in the cache (written by `psych
    # base smollm2`): the same cache folder as the models.
    for ds in config.get("datasets") or []:
        if isinstance(ds, dict) and str(ds.get("path", "")).startswith(CACHE_PREFIX):
            ds["path"] = _rel(cache_dir() / str(ds["path"])[len(CACHE_PREFIX) :])
    sources = ([defaults] if defaults.is_file() else []) + list(reversed(chain))
    return Resolved(preset, config, sources, list(overrides or []))


def _tiny_model_path() -> str:
    # Relative to the working directory when the cache is under it (a checkout), as Axolotl
    # resolves paths; absolute otherwise (the user cache of an installed package).
    return _rel(tiny_model_dir())


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def render(resolved: Resolved) -> str:
    # (no mutate: PyYAML reads sort_keys=None as False, and a width one column wider gives
    # the same file but for a line of exactly that length; key order itself is tested)
    body = yaml.safe_dump(
        resolved.config,
        sort_keys=False,  # pragma: no mutate
        allow_unicode=True,
        width=100,  # pragma: no mutate
    )
    digest = hashlib.sha256(body.encode()).hexdigest()
    header = [
        f"# Generated by `psych config {resolved.preset}` from: "
        + " + ".join(_rel(p) for p in resolved.sources),
        f"# Overrides: {' '.join(resolved.overrides) if resolved.overrides else '(none)'}",
        "# Edit the templates (or pass --set) rather than this file: `psych config` will not",
        "# overwrite a hand-edited copy without --force.",
        f"# psych-config-sha256: {digest}",
    ]
    return "\n".join(header) + "\n" + body


def is_hand_edited(path: Path) -> bool:
    """True when `path` exists and its body no longer matches the hash it was generated with."""
    if not path.exists():
        return False
    # (no mutate: the encoding, as above; a bad byte still must not crash, which is tested)
    text = path.read_text(encoding="utf-8", errors="replace")  # pragma: no mutate
    match = HASH_RE.search(text)
    if not match:
        return True  # not ours, or the header was edited away
    body = text[text.index("\n", match.end()) + 1 :] if "\n" in text[match.end() :] else ""
    return hashlib.sha256(body.encode()).hexdigest() != match.group(1)


def default_output(preset: str) -> Path:
    return GENERATED_DIR / f"{preset}.yml"


def write_config(resolved: Resolved, out: Path, force: bool = False) -> bool:
    """Write atomically; False when the file already holds exactly this text."""
    text = render(resolved)
    if out.exists():
        if out.read_bytes() == text.encode():
            return False
        if is_hand_edited(out) and not force:
            raise UsageError(
                f"{out}: edited by hand since it was generated; not overwriting it "
                "(use --force, or move your edits into the templates or --set)"
            )
    write_text_atomic(out, text)
    return True
