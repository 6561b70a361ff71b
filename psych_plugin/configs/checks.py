"""`psych check-config FILE`: what Axolotl would silently ignore or get wrong, found offline.

Axolotl's own validator runs first (with the plugins' fields merged in, as Axolotl does). Then:
unknown keys (Axolotl 0.19 drops them silently) with did-you-mean suggestions drawn from
Axolotl's schema, deprecated keys, plugins that do not import, settings that defeat each other,
LoRA target modules that match nothing in the base model's architecture, dataset files that are
missing or invalid, and settings the detected hardware cannot run (warnings).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..paths import MODEL_CONFIGS_DIR, resolve
from ..problems import Problem, UsageError
from .yaml_lines import key_lines, line_of

LOCAL_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".arrow", ".txt")
ALPACA_TYPES = {"alpaca", "psych_plugin.prompt_strategy"}


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    flash_attn: bool
    bitsandbytes: bool

    @classmethod
    def detect(cls) -> Hardware:
        from .hardware import has_cuda_gpu

        return cls(
            cuda=has_cuda_gpu(),
            flash_attn=importlib.util.find_spec("flash_attn") is not None,
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        )


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Axolotl logs freely while validating; the report is what the user reads."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


class _Collector:
    def __init__(self, path: Path, text: str) -> None:
        self.path = str(path)
        self.lines = key_lines(text)
        self.problems: list[Problem] = []

    def add(self, key: tuple[Any, ...], message: str, severity: str = "error") -> None:
        field = ".".join(str(k) for k in key) or "-"
        line = line_of(self.lines, key)
        self.problems.append(Problem(self.path, line, field, message, severity))  # type: ignore[arg-type]


def _list(cfg: dict[str, Any], key: str) -> list[Any]:
    """cfg[key] when it is a list; wrong types are Axolotl's validator's to report."""
    value = cfg.get(key)
    return value if isinstance(value, list) else []


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _load_plugins(cfg: dict[str, Any], out: _Collector) -> None:
    from axolotl.integrations.base import PluginManager, load_plugin

    manager = PluginManager.get_instance()
    for i, name in enumerate(_list(cfg, "plugins")):
        try:
            load_plugin(str(name))
        except Exception as e:  # noqa: BLE001 - any failure to import means "no plugin"
            out.add(
                ("plugins", i),
                f"plugin {name!r} does not import ({type(e).__name__}: {e}); "
                "Axolotl would log this and train without it",
            )
            continue
        with quiet_logs():
            manager.register(str(name))


def _schema_fields() -> dict[str, Any]:
    from axolotl.integrations.config import merge_input_args

    _, input_config = merge_input_args()
    fields: dict[str, Any] = {}
    for name, info in input_config.model_fields.items():
        fields[name] = info
        if info.alias:
            fields[info.alias] = info
    return fields


def _replacement(info: Any) -> str:
    text = str(info.deprecated or "")
    return text.removeprefix("Use ").removesuffix(" instead.").strip("` ") if text else ""


def _check_keys(cfg: dict[str, Any], fields: dict[str, Any], out: _Collector) -> None:
    names = sorted(fields)
    for key in cfg:
        info = fields.get(key)
        if info is None:
            guess = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
            hint = ""
            if guess:
                target = fields[guess[0]]
                hint = f"; did you mean `{_replacement(target) or guess[0]}`?"
            out.add((key,), f"unknown key: Axolotl ignores it silently{hint}")
        elif info.deprecated:
            out.add((key,), f"deprecated: use `{_replacement(info)}`", "warning")


def _check_dataset_keys(cfg: dict[str, Any], out: _Collector) -> None:
    from axolotl.utils.schemas.datasets import SFTDataset

    known = set(SFTDataset.model_fields) | {
        f.alias for f in SFTDataset.model_fields.values() if f.alias
    }
    for section in ("datasets", "test_datasets"):
        for i, ds in enumerate(_list(cfg, section)):
            if not isinstance(ds, dict):
                continue
            for key in ds:
                if key not in known:
                    guess = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
                    hint = f"; did you mean `{guess[0]}`?" if guess else ""
                    out.add((section, i, key), f"unknown dataset key: ignored{hint}")


def _check_axolotl_validation(cfg: dict[str, Any], out: _Collector) -> None:
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault
    from pydantic import ValidationError

    try:
        with quiet_logs():
            validate_config(DictDefault(copy.deepcopy(cfg)))
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
            msg = err["msg"].removeprefix("Value error, ")
            out.add(loc if loc and loc[0] in cfg else (), f"Axolotl: {msg}")
    except Exception as e:  # noqa: BLE001 - Axolotl's own validators crash on some bad types
        out.add((), f"Axolotl's validator failed on this config ({type(e).__name__}: {e})")


def _is_local(path: str) -> bool:
    return path.endswith(LOCAL_DATA_SUFFIXES) or path.startswith(("./", "/", "../", "~"))


def _check_datasets(cfg: dict[str, Any], out: _Collector) -> None:
    from ..dataset.validate import validate_file

    for section in ("datasets", "test_datasets"):
        for i, ds in enumerate(_list(cfg, section)):
            if not isinstance(ds, dict) or not isinstance(ds.get("path"), str):
                continue
            raw = ds["path"]
            path = resolve(raw)
            if not path.exists():
                if _is_local(raw):
                    out.add((section, i, "path"), f"dataset file not found: {raw}")
                continue
            if path.is_file() and path.suffix == ".jsonl" and ds.get("type") in ALPACA_TYPES:
                report = validate_file(path, max_errors=20)
                for problem in report.problems:
                    if problem.severity == "error":
                        out.add(
                            (section, i, "path"),
                            f"{problem.path}:{problem.line}: {problem.field}: {problem.message}",
                        )


def _check_conflicts(cfg: dict[str, Any], out: _Collector) -> None:
    from axolotl.utils.schemas.enums import ATTN_IMPLS_SUPPORTING_PACKING, attn_impl_base

    evals = cfg.get("evals_per_epoch")
    holds_out = _num(cfg.get("val_set_size")) > 0 or bool(_list(cfg, "test_datasets"))
    no_eval = evals == 0 or cfg.get("eval_strategy") == "no"
    if holds_out and no_eval:
        what = "val_set_size" if _num(cfg.get("val_set_size")) > 0 else "test_datasets"
        key = "evals_per_epoch" if evals == 0 else "eval_strategy"
        out.add(
            (key,),
            f"{key} turns evaluation off while {what} holds data out: the eval "
            "split is never evaluated (and val_set_size data is never trained on)",
        )
    if cfg.get("sample_packing"):
        impl = cfg.get("attn_implementation")
        if cfg.get("flash_attention") or cfg.get("flex_attention"):
            impl = impl or "flash_attention_2"
        if not impl or attn_impl_base(str(impl)) not in ATTN_IMPLS_SUPPORTING_PACKING:
            out.add(
                ("sample_packing",),
                "sample_packing without an attention backend that "
                f"isolates packed samples (attn_implementation: {impl}); samples would "
                "attend across each other. Use flash_attention_2 (GPU) or sdpa",
            )


def _offline_tokenizer(cfg: dict[str, Any]) -> Any:
    """The base model's tokenizer if it is on this machine (a local folder or the HF cache)."""
    name = str(cfg.get("tokenizer_config") or cfg.get("base_model") or "")
    local = resolve(name)
    try:
        from transformers import AutoTokenizer

        with quiet_logs():
            return AutoTokenizer.from_pretrained(
                str(local) if local.exists() else name, local_files_only=True
            )
    except Exception:  # noqa: BLE001 - not available offline: nothing to count with
        return None


def _check_over_length(cfg: dict[str, Any], out: _Collector) -> None:
    """Rows Axolotl would drop (excess_length_strategy drop, the default) or truncate."""
    from ..dataset.lint import load_rows, token_lengths
    from ..integration.prompts import PromptSettings

    seq_len = cfg.get("sequence_len") or 2048
    if not isinstance(seq_len, int):
        return
    datasets = [
        (i, ds)
        for i, ds in enumerate(_list(cfg, "datasets"))
        if isinstance(ds, dict)
        and ds.get("type") in ALPACA_TYPES
        and isinstance(ds.get("path"), str)
        and resolve(ds["path"]).is_file()
    ]
    tokenizer = _offline_tokenizer(cfg) if datasets else None
    if tokenizer is None:
        return
    strategy = cfg.get("excess_length_strategy") or "drop"
    for i, ds in datasets:
        rows, errors = load_rows(resolve(ds["path"]))
        if errors or not rows:
            continue  # reported by _check_datasets
        if ds["type"] == "alpaca":  # Axolotl's own prompt: our alpaca style, empty preamble
            settings = PromptSettings(style="alpaca", alpaca_preamble="")
        else:
            settings = PromptSettings.from_cfg(cfg)
        lengths = token_lengths(rows, tokenizer, settings)
        over = [r.line for r, n in zip(rows, lengths, strict=True) if n > seq_len]
        if over:
            lines = ", ".join(map(str, over[:10])) + (" ..." if len(over) > 10 else "")
            out.add(
                ("datasets", i, "path"),
                f"{len(over)} of {len(rows)} rows are longer than "
                f"sequence_len={seq_len} tokens; Axolotl will {strategy} them "
                f"(excess_length_strategy: {strategy}); lines {lines}",
                "warning",
            )


def model_config_for(base_model: str) -> tuple[dict[str, Any] | None, str]:
    local = resolve(base_model)
    if (local / "config.json").is_file():
        return json.loads((local / "config.json").read_text()), str(local / "config.json")
    shipped = MODEL_CONFIGS_DIR / f"{base_model.replace('/', '--')}.json"
    if shipped.is_file():
        return json.loads(shipped.read_text()), f"shipped {shipped.name}"
    return None, ""


def model_module_names(config: dict[str, Any]) -> tuple[str, list[str]]:
    """(architecture, names of its Linear modules), built on the meta device: no weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    return type(model).__name__, names


def _check_lora_targets(cfg: dict[str, Any], out: _Collector) -> None:
    targets = cfg.get("lora_target_modules")
    if not cfg.get("adapter") or not targets:
        return
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list):
        return
    base = str(cfg.get("base_model") or "")
    config, where = model_config_for(base)
    if config is None:
        out.add(
            ("lora_target_modules",),
            f"cannot check: the architecture of {base!r} is "
            "unknown offline (no local config.json, none shipped in "
            "psych_plugin/resources/model_configs/)",
            "warning",
        )
        return
    try:
        with quiet_logs():
            arch, names = model_module_names(config)
    except Exception as e:  # noqa: BLE001 - an unknown model_type, a broken config
        out.add(("base_model",), f"cannot build the architecture from {where}: {e}", "warning")
        return
    leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
    for i, target in enumerate(targets):
        if not any(n == target or n.endswith("." + target) for n in names):
            out.add(
                ("lora_target_modules", i),
                f"{target!r} matches no module of {arch} "
                f"(from {where}): PEFT ignores it, so that part is never adapted. "
                f"Linear modules: {', '.join(leaves)}",
            )


def _check_hardware(cfg: dict[str, Any], hw: Hardware, out: _Collector) -> None:
    def warn(key: str, message: str) -> None:
        out.add((key,), message, "warning")

    if cfg.get("bf16") is True and not hw.cuda:
        warn(
            "bf16", "bf16: true needs a CUDA GPU with bf16 support; none detected (use bf16: auto)"
        )
    impl = str(cfg.get("attn_implementation") or "")
    if impl.startswith("flash_attention") or cfg.get("flash_attention"):
        key = "attn_implementation" if impl else "flash_attention"
        if not hw.cuda:
            warn(key, "flash attention needs a CUDA GPU; none detected")
        elif not hw.flash_attn:
            warn(key, "flash attention needs the flash-attn package (pip install -e '.[gpu]')")
    for key in ("load_in_4bit", "load_in_8bit"):
        if cfg.get(key) and not hw.bitsandbytes:
            warn(key, f"{key} needs bitsandbytes, which is not installed")
    if str(cfg.get("optimizer") or "").startswith("paged_") and not hw.cuda:
        warn("optimizer", "paged optimizers page to CUDA memory; none detected")


def load_config_file(path: Path) -> tuple[str, dict[str, Any]]:
    from .templates import read_yaml_text

    text, cfg = read_yaml_text(path)
    if not isinstance(cfg, dict):  # an empty file too: there is nothing to check
        raise UsageError(f"{path}:1: -: expected a mapping of Axolotl config keys")
    return text, cfg


def check_config(path: Path, hardware: Hardware | None = None) -> list[Problem]:
    """Every problem found in the Axolotl YAML at `path`, in file order."""
    text, cfg = load_config_file(path)
    out = _Collector(path, text)
    hw = hardware or Hardware.detect()
    _load_plugins(cfg, out)
    fields = _schema_fields()
    checks = [
        lambda: _check_keys(cfg, fields, out),
        lambda: _check_dataset_keys(cfg, out),
        lambda: _check_axolotl_validation(cfg, out),
        lambda: _check_conflicts(cfg, out),
        lambda: _check_lora_targets(cfg, out),
        lambda: _check_datasets(cfg, out),
        lambda: _check_over_length(cfg, out),
        lambda: _check_hardware(cfg, hw, out),
    ]
    for check in checks:
        try:
            check()
        except (TypeError, AttributeError, ValueError) as e:
            # A value of the wrong type that Axolotl's validator has already reported.
            out.add((), f"cannot check further: a value has the wrong type ({e})")
    return sorted(out.problems, key=lambda p: p.line)
