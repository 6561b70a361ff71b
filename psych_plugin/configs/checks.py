"""`psych check-config FILE`: what Axolotl would silently ignore or get wrong, found offline.

Axolotl's own validator runs first (with the plugins' fields merged in, as Axolotl does). Then:
unknown keys (Axolotl 0.19 drops them silently) with did-you-mean suggestions drawn from
Axolotl's schema, deprecated keys, plugins that do not import, settings that defeat each other,
LoRA target modules that match nothing in the base model's architecture, dataset files that are
missing or invalid, and settings the detected hardware cannot run (warnings).
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from ..logs import quiet_logs
from ..paths import resolve
from ..problems import Problem, UsageError
from ..prompts import STRATEGY_TYPES, PromptSettings
from .architecture import ArchitectureError, linear_module_names, model_config_for
from .hardware import Hardware
from .yaml_lines import key_lines, line_of

LOCAL_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".arrow", ".txt")
ALPACA_TYPES = {"alpaca", *STRATEGY_TYPES}


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
    return text.removeprefix("Use ").removesuffix(" instead.").strip("` ")


def _check_keys(
    cfg: dict[str, Any], fields: dict[str, Any], out: _Collector, plugin_failed: bool
) -> None:
    names = sorted(fields)
    # A plugin that did not import never merged its keys into the schema: its keys look unknown.
    severity = "warning" if plugin_failed else "error"
    maybe = " (or it belongs to the plugin that did not import)" if plugin_failed else ""
    for key in cfg:
        info = fields.get(key)
        if info is None:
            guess = difflib.get_close_matches(key, names, cutoff=0.75)
            hint = ""
            if guess:
                target = fields[guess[0]]
                hint = f"; did you mean `{_replacement(target) or guess[0]}`?"
            level, why = severity, maybe
            if cfg[key] is None:  # an empty key sets nothing either way
                level, why = "warning", " (it is empty)"
            out.add((key,), f"unknown key: Axolotl ignores it silently{why}{hint}", level)
        elif info.deprecated:
            out.add((key,), f"deprecated: use `{_replacement(info)}`", "warning")


def _known_keys(model: Any) -> set[str]:
    return set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}


def dataset_model(cfg: dict[str, Any], section: str, entry: dict[str, Any]) -> Any:
    """The pydantic model Axolotl 0.19 reads a dataset entry with; its dump (what the prompt
    strategies see) drops every other key. `validate_config` forces it for `datasets` (by `rl`
    and `type`); `test_datasets` go through the schema's union, which picks the best match."""
    from axolotl.utils.schemas import datasets as m

    if section == "datasets":
        if cfg.get("rl") in ("dpo", "ipo", "simpo"):
            return m.DPODataset
        if cfg.get("rl") == "kto":
            return m.KTODataset
        if entry.get("type") == "_synthetic":
            return m.SyntheticDataset
        return m.SFTDataset
    from axolotl.utils.schemas.config import AxolotlInputConfig
    from pydantic import TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(AxolotlInputConfig.model_fields[section].annotation)
        return type(adapter.validate_python([entry])[0])
    except ValidationError:
        return None  # invalid: Axolotl's validator reports it


def _check_dataset_keys(cfg: dict[str, Any], out: _Collector) -> None:
    from axolotl.utils.schemas import datasets as m

    models = (m.SFTDataset, m.DPODataset, m.KTODataset, m.StepwiseSupervisedDataset)
    anywhere = set().union(*(_known_keys(model) for model in models))
    for section in ("datasets", "test_datasets"):
        for i, ds in enumerate(_list(cfg, section)):
            if not isinstance(ds, dict):
                continue
            model = dataset_model(cfg, section, ds)
            known = _known_keys(model) if model else anywhere
            for key in ds:
                if key in known:
                    continue
                if key in anywhere:
                    # A real key of another dataset type, dropped by the model Axolotl picked.
                    owner = next(x.__name__ for x in models if key in _known_keys(x))
                    rl = f"rl: {cfg.get('rl')}" if cfg.get("rl") else "no rl"
                    out.add(
                        (section, i, key),
                        f"a {owner} key, but Axolotl 0.19 reads this entry as "
                        f"{model.__name__} ({rl}) and drops it: the prompt strategy never "
                        "sees it and uses its default (harmless only if that is the value here)",
                        "warning",
                    )
                    continue
                guess = difflib.get_close_matches(key, sorted(known), cutoff=0.75)
                hint = f"; did you mean `{guess[0]}`?" if guess else ""
                out.add((section, i, key), f"unknown dataset key: ignored{hint}")


def _check_axolotl_validation(cfg: dict[str, Any], out: _Collector) -> dict[str, Any] | None:
    """Run Axolotl's validator; its result (normalised keys, computed attention flags) or None."""
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault
    from pydantic import ValidationError

    try:
        with quiet_logs():
            # (no mutate: DictDefault copies nested mappings and lists too; the deep copy only
            # makes sure Axolotl's normalisation never reaches the user's config)
            return dict(validate_config(DictDefault(copy.deepcopy(cfg))))  # pragma: no mutate
    except ValidationError as e:
        for err in e.errors():
            loc, msg = tuple(err["loc"]), err["msg"].removeprefix("Value error, ")
            if loc and loc[0] in cfg:
                out.add(loc, f"Axolotl: {msg}")
            else:  # e.g. a dataset entry, which Axolotl validates on its own: ("split",)
                where = ".".join(map(str, loc))
                out.add((), f"Axolotl: {where}: {msg}" if where else f"Axolotl: {msg}")
    except ImportError as e:
        # The config is valid; this machine lacks a package it needs (Axolotl stops here too).
        first = str(e).splitlines()[0]
        out.add((), f"needs a package that is not installed here: {first}")
    except Exception as e:  # noqa: BLE001 - Axolotl's own validators crash on some bad types
        if not _report_entries_not_mappings(cfg, out):
            out.add((), f"Axolotl's validator failed on this config ({type(e).__name__}: {e})")
    return None


def _report_entries_not_mappings(cfg: dict[str, Any], out: _Collector) -> bool:
    """Dataset entries that are not mappings (Axolotl's validator crashes on them): one error
    each, where it is. True when there were any."""
    entries = [
        (section, i, ds)
        for section in ("datasets", "test_datasets")
        for i, ds in enumerate(_list(cfg, section))
        if not isinstance(ds, dict)
    ]
    for section, i, ds in entries:
        got = "nothing" if ds is None else f"a {type(ds).__name__}"
        out.add((section, i), f"expected a mapping (path:, type:, ...), got {got}")
    return bool(entries)


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


def _check_qlora_merge(cfg: dict[str, Any], out: _Collector) -> None:
    """Axolotl 0.19 trains QLoRA with NF4 double quantization, but its merge rounds the base
    without it unless bnb_config_kwargs says so (its own fallback never applies): the merged
    model then starts from a base training never saw."""
    if not (cfg.get("load_in_4bit") is True or cfg.get("adapter") == "qlora"):
        return
    kwargs = cfg.get("bnb_config_kwargs")
    if isinstance(kwargs, dict) and "bnb_4bit_use_double_quant" in kwargs:
        return
    key = "load_in_4bit" if "load_in_4bit" in cfg else "adapter"
    out.add(
        (key,),
        "QLoRA without bnb_config_kwargs.bnb_4bit_use_double_quant: Axolotl trains with NF4 "
        "double quantization but its merge (merge_lora) rounds the base without it; add "
        "`bnb_config_kwargs: {bnb_4bit_use_double_quant: true}` so the merged model starts "
        "from the base training used",
        "warning",
    )


def _check_packing(cfg: dict[str, Any], validated: dict[str, Any] | None, out: _Collector) -> None:
    """Packed rows must not attend to each other. Axolotl 0.19 decides by
    `attn_decontaminates_packing`: varlen backends (flash, flex, ...) read the row boundaries
    from position_ids; with sdpa/eager it drops the padding mask so transformers builds a
    block-diagonal mask from position_ids (tests/e2e/test_packing.py measures both, and the
    leak of an unset backend). Any other backend keeps the mask: rows see each other."""
    from axolotl.utils.schemas.enums import (
        ATTN_IMPLS_SUPPORTING_PACKING,
        LEGACY_ATTN_FLAG_TO_IMPL,
        attn_impl_base,
    )

    if not cfg.get("sample_packing"):
        return
    if validated is not None:
        impl = validated.get("attn_implementation")
        isolated = bool(validated.get("attn_decontaminates_packing"))
    else:  # Axolotl's validator failed (reported): the same rule on the raw keys
        impl = cfg.get("attn_implementation") or next(
            (v for k, v in LEGACY_ATTN_FLAG_TO_IMPL.items() if cfg.get(k)), None
        )
        isolated = bool(impl) and (
            attn_impl_base(str(impl)) in ATTN_IMPLS_SUPPORTING_PACKING or impl in ("sdpa", "eager")
        )
    if isolated:
        return
    if not impl:
        out.add(
            ("sample_packing",),
            "sample_packing without attn_implementation: Axolotl keeps the padding mask, so "
            "packed samples attend to each other; set attn_implementation: sdpa (any machine) "
            "or flash_attention_2",
        )
        return
    out.add(
        ("sample_packing",),
        f"Axolotl 0.19 does not list attn_implementation {impl!r} among the backends that "
        "isolate packed samples (it keeps the padding mask and warns that samples may attend "
        "across each other); sdpa and flash_attention_2 are known to isolate them",
        "warning",
    )


def _offline_tokenizer(cfg: dict[str, Any]) -> tuple[Any, str]:
    """(the base model's tokenizer, "") if it is on this machine (a local folder or the HF
    cache), else (None, why not)."""
    name = cfg.get("tokenizer_config") or cfg.get("base_model")
    if not name:
        return None, "no base_model"
    local = resolve(str(name))
    from transformers import AutoTokenizer

    try:
        with quiet_logs():
            # A hub id resolves to itself; a local folder to its expanded path.
            return AutoTokenizer.from_pretrained(str(local), local_files_only=True), ""
    except OSError:  # transformers' "not found locally / not cached": offline, not an error
        return None, f"the tokenizer of {name} is not on this machine"
    except ValueError as e:  # a tokenizer folder transformers cannot read
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return None, f"the tokenizer of {name} does not load ({first[:160]})"


def _check_over_length(cfg: dict[str, Any], out: _Collector) -> None:
    """Rows Axolotl would drop (excess_length_strategy drop, the default) or truncate."""
    from ..dataset.rows import load_rows
    from ..dataset.stats import token_lengths

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
    if not datasets:
        return
    tokenizer, why_not = _offline_tokenizer(cfg)
    if tokenizer is None:
        out.add(
            ("base_model",),
            f"rows were not checked against sequence_len {seq_len}: {why_not} "
            "(psych lint --tokenizer DIR --sequence-len N counts them with a local copy)",
            "warning",
        )
        return
    strategy = cfg.get("excess_length_strategy") or "drop"
    for i, ds in datasets:
        rows, _ = load_rows(resolve(ds["path"]))
        if not rows:
            continue  # empty, or invalid (no rows then): reported by _check_datasets
        if ds["type"] == "alpaca":  # Axolotl's own prompt: our alpaca style, empty preamble
            settings = PromptSettings(style="alpaca", alpaca_preamble="")
        else:
            settings = PromptSettings.from_cfg(cfg)
        lengths = token_lengths(rows, tokenizer, settings)
        # (no mutate: token_lengths gives one length per row, so `strict` cannot matter)
        pairs = zip(rows, lengths, strict=True)  # pragma: no mutate
        over = [r.line for r, n in pairs if n > seq_len]
        if over:
            lines = ", ".join(map(str, over[:10])) + (" ..." if len(over) > 10 else "")
            out.add(
                ("datasets", i, "path"),
                f"{len(over)} of {len(rows)} rows are longer than "
                f"sequence_len={seq_len} tokens; Axolotl will {strategy} them "
                f"(excess_length_strategy: {strategy}); lines {lines}",
                "warning",
            )


def _check_lora_targets(cfg: dict[str, Any], out: _Collector) -> None:
    targets = cfg.get("lora_target_modules")
    if not cfg.get("adapter") or not targets:
        return
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list):
        return
    base = str(cfg.get("base_model") or "")
    try:
        config, where = model_config_for(base)
    except ArchitectureError as e:
        out.add(("base_model",), str(e), "warning")
        return
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
        arch, names = linear_module_names(config, where)
    except ArchitectureError as e:
        out.add(("base_model",), str(e), "warning")
        return
    leaves = sorted({n.rpartition(".")[2] for n in names if n})
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
    if hw.torch_cuda_problem:
        out.add((), hw.torch_cuda_problem)
    _check_attention_package(cfg, hw, out)
    for key in ("load_in_4bit", "load_in_8bit"):
        if cfg.get(key) and not hw.bitsandbytes:
            warn(key, f"{key} needs bitsandbytes, which is not installed")
    if str(cfg.get("optimizer")).startswith("paged_") and not hw.cuda:
        warn("optimizer", "paged optimizers page to CUDA memory; none detected")
    # Both tried on a 2-core CPU with 2 gloo processes (docs/distributed.md).
    if cfg.get("deepspeed") and not hw.cuda:
        warn(
            "deepspeed",
            "DeepSpeed runs on CUDA GPUs (install it there: pip install deepspeed); none detected",
        )
    if (cfg.get("fsdp_config") or cfg.get("fsdp")) and not hw.cuda:
        warn(
            "fsdp_config",
            "FSDP needs a GPU in Axolotl 0.19 (FSDP2 builds a CUDA device mesh, FSDP1 asks "
            "accelerate for an accelerator); none detected",
        )


def _check_attention_package(cfg: dict[str, Any], hw: Hardware, out: _Collector) -> None:
    """An attention backend whose package is missing makes Axolotl fail at model load: an
    error with the one-line fix. Backends that need a GPU only warn on a machine without one
    (the config may be meant for another machine)."""
    from axolotl.utils.schemas.enums import LEGACY_ATTN_FLAG_TO_IMPL

    from .hardware import ATTN_INSTALL, attention_module

    key = "attn_implementation"
    impl = cfg.get(key)
    if not impl:
        legacy = [k for k in LEGACY_ATTN_FLAG_TO_IMPL if cfg.get(k)]
        if not legacy:
            return
        key, impl = legacy[0], LEGACY_ATTN_FLAG_TO_IMPL[legacy[0]]
    if not isinstance(impl, str):
        return
    # sdpa, eager and flex_attention need no package and run anywhere: no module to look for
    gpu_only = impl.startswith(("flash_attention", "kernels-community/")) or impl == "sage"
    if gpu_only and not hw.cuda:
        out.add((key,), f"{impl} needs a CUDA GPU; none detected", "warning")
        return
    module = attention_module(impl)
    if module and not hw.has_module(module):
        fix = ATTN_INSTALL.get(module, f"pip install {module}")
        out.add(
            (key,),
            f"{impl} needs the `{module}` package, which is not installed: {fix}; "
            "or use attn_implementation: sdpa (no extra package, isolates packed rows)",
        )


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
    plugin_failed = any(p.field.startswith("plugins.") for p in out.problems)
    fields = _schema_fields()
    validated = _check_axolotl_validation(cfg, out)
    checks = [
        ("keys", lambda: _check_keys(cfg, fields, out, plugin_failed)),
        ("dataset keys", lambda: _check_dataset_keys(cfg, out)),
        ("conflicts", lambda: _check_conflicts(cfg, out)),
        ("QLoRA merge", lambda: _check_qlora_merge(cfg, out)),
        ("packing", lambda: _check_packing(cfg, validated, out)),
        ("LoRA targets", lambda: _check_lora_targets(cfg, out)),
        ("dataset files", lambda: _check_datasets(cfg, out)),
        ("over-length rows", lambda: _check_over_length(cfg, out)),
        ("hardware", lambda: _check_hardware(cfg, hw, out)),
    ]
    for name, check in checks:
        try:
            check()
        except (TypeError, AttributeError, ValueError) as e:
            if validated is None:
                # A value of the wrong type, which Axolotl's validator has reported above.
                out.add((), f"the {name} check was skipped: a value has the wrong type ({e})")
            else:  # the config passed Axolotl's validator: the fault is the checker's own
                out.add(
                    (),
                    f"the {name} check failed ({type(e).__name__}: {e}); this is a bug in "
                    "psych_plugin's checker, not in the config: please report it",
                )
    return sorted(out.problems, key=lambda p: p.line)
