"""psych_plugin/configs/checks.py: each check of `psych check-config` on its own, with exact
verdicts (field, line, severity and the whole message), then check_config() as a whole on the
guide's config, the shipped presets and the patterns of Axolotl's own example configs. A wrong
condition, key or word turns a test red."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from axolotl.utils.schemas import datasets as ds_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psych_plugin.cli import main
from psych_plugin.configs import checks, hardware
from psych_plugin.configs.checks import _Collector, check_config
from psych_plugin.configs.hardware import Hardware
from psych_plugin.configs.templates import deep_merge, list_presets, render, resolve_preset
from psych_plugin.problems import UsageError
from tests.conftest import FIXTURES

CPU = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
GPU = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)
GPU_NO_FLASH = Hardware(cuda=True, flash_attn=False, bitsandbytes=True)
# What check-config says when the base model's tokenizer is not on the machine (a hub id never
# downloaded): the over-length check is skipped, and the report says so.
NOT_COUNTED = "rows were not checked against sequence_len"


@pytest.fixture
def hub_tokenizers_absent(monkeypatch):
    """The machine has never downloaded a hub model's tokenizer (as on a fresh GPU machine, or
    offline): a hub id fails to load, as transformers fails it; local folders still load."""
    import transformers

    real = transformers.AutoTokenizer.from_pretrained

    def from_pretrained(name, **kwargs):
        if not Path(name).is_dir():
            raise OSError(f"{name} is not a local folder and is not cached")
        return real(name, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)


QWEN = "Qwen/Qwen3-1.7B"
GOOD_ROW = {"instruction": "What is a schema?", "input": "", "output": "A mental framework."}


def collector(cfg: dict[str, Any]) -> _Collector:
    return _Collector(Path("c.yml"), yaml.safe_dump(cfg, sort_keys=False))


def verdicts(out: _Collector) -> list[tuple[int, str, str, str]]:
    return [(p.line, p.field, p.severity, p.message) for p in out.problems]


def run(check, cfg: dict[str, Any], *args: Any) -> list[tuple[int, str, str, str]]:
    out = collector(cfg)
    check(cfg, *args, out)
    return verdicts(out)


# --- evaluation settings that defeat each other --------------------------------------------

HOLDS_OUT = (
    "{key} turns evaluation off while {what} holds data out: the eval split is never evaluated "
    "(and val_set_size data is never trained on)"
)


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (
            {"val_set_size": 0.05, "evals_per_epoch": 0},
            [
                (
                    2,
                    "evals_per_epoch",
                    "error",
                    HOLDS_OUT.format(key="evals_per_epoch", what="val_set_size"),
                )
            ],
        ),
        (
            {"test_datasets": [{"path": "e.jsonl"}], "eval_strategy": "no"},
            [
                (
                    3,
                    "eval_strategy",
                    "error",
                    HOLDS_OUT.format(key="eval_strategy", what="test_datasets"),
                )
            ],
        ),
        # both hold out: val_set_size is named; evals_per_epoch 0 wins over eval_strategy
        (
            {
                "test_datasets": [{"path": "e"}],
                "val_set_size": 2,
                "eval_strategy": "no",
                "evals_per_epoch": 0,
            },
            [
                (
                    5,
                    "evals_per_epoch",
                    "error",
                    HOLDS_OUT.format(key="evals_per_epoch", what="val_set_size"),
                )
            ],
        ),
        ({"val_set_size": 0.05, "evals_per_epoch": 1}, []),
        ({"val_set_size": 0.05, "eval_strategy": "steps"}, []),
        ({"val_set_size": 0.05}, []),
        ({"val_set_size": 0, "evals_per_epoch": 0}, []),
        ({"val_set_size": True, "evals_per_epoch": 0}, []),  # a bool is no size
        ({"val_set_size": "0.1", "evals_per_epoch": 0}, []),  # wrong type: the validator's
        ({"test_datasets": [], "eval_strategy": "no"}, []),
        ({"test_datasets": "e.jsonl", "eval_strategy": "no"}, []),
    ],
)
def test_conflicts(cfg, expected):
    assert run(checks._check_conflicts, cfg) == expected


@pytest.mark.parametrize(
    ("cfg", "warned"),
    [
        ({"adapter": "qlora", "load_in_4bit": True}, "load_in_4bit"),
        ({"adapter": "qlora"}, "adapter"),
        ({"load_in_4bit": True, "bnb_config_kwargs": {"blocksize": 64}}, "load_in_4bit"),
        ({"load_in_4bit": True, "bnb_config_kwargs": "oops"}, "load_in_4bit"),
        ({"adapter": "qlora", "bnb_config_kwargs": {"bnb_4bit_use_double_quant": True}}, None),
        ({"adapter": "qlora", "bnb_config_kwargs": {"bnb_4bit_use_double_quant": False}}, None),
        ({"adapter": "lora"}, None),
        ({"adapter": "lora", "load_in_4bit": False}, None),
    ],
)
def test_qlora_merge_double_quantization(cfg, warned):
    got = run(checks._check_qlora_merge, cfg)
    if warned is None:
        assert got == []
    else:
        ((_, field, severity, message),) = got
        assert (field, severity) == (warned, "warning")
        assert "bnb_config_kwargs: {bnb_4bit_use_double_quant: true}" in message


# --- sample packing ---------------------------------------------------------------------------

NO_BACKEND = (
    "sample_packing without attn_implementation: Axolotl keeps the padding mask, so packed "
    "samples attend to each other; set attn_implementation: sdpa (any machine) or "
    "flash_attention_2"
)


def unlisted(impl: str) -> str:
    return (
        f"Axolotl 0.19 does not list attn_implementation {impl!r} among the backends that "
        "isolate packed samples (it keeps the padding mask and warns that samples may attend "
        "across each other); sdpa and flash_attention_2 are known to isolate them"
    )


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"sample_packing": False}, []),
        ({"attn_implementation": "kernels-community/x"}, []),
        ({"sample_packing": True}, [(1, "sample_packing", "error", NO_BACKEND)]),
        (
            {"sample_packing": True, "flash_attention": False},
            [(1, "sample_packing", "error", NO_BACKEND)],
        ),
        ({"sample_packing": True, "attn_implementation": "sdpa"}, []),
        ({"sample_packing": True, "attn_implementation": "eager"}, []),
        ({"sample_packing": True, "attn_implementation": "flash_attention_2"}, []),
        # a hub kernel with a revision is matched on its base name
        ({"sample_packing": True, "attn_implementation": "kernels-community/flash-attn3@v2"}, []),
        ({"sample_packing": True, "flash_attention": True}, []),
        ({"sample_packing": True, "sdp_attention": True}, []),
        (
            {"sample_packing": True, "attn_implementation": "kernels-community/other"},
            [(1, "sample_packing", "warning", unlisted("kernels-community/other"))],
        ),
    ],
)
def test_packing_on_the_raw_keys_when_axolotl_did_not_validate(cfg, expected):
    assert run(checks._check_packing, cfg, None) == expected


def test_packing_follows_axolotls_validated_verdict():
    cfg = {"sample_packing": True, "attn_implementation": "sdpa"}
    # Axolotl's normalised config is the authority when there is one
    refused = {"attn_implementation": "sdpa", "attn_decontaminates_packing": False}
    assert run(checks._check_packing, cfg, refused) == [
        (1, "sample_packing", "warning", unlisted("sdpa"))
    ]
    accepted = {"attn_implementation": "xformers", "attn_decontaminates_packing": True}
    assert run(checks._check_packing, {"sample_packing": True}, accepted) == []
    unset = {"attn_implementation": None}
    assert run(checks._check_packing, {"sample_packing": True}, unset) == [
        (1, "sample_packing", "error", NO_BACKEND)
    ]


# --- hardware -------------------------------------------------------------------------------


def test_hardware_warnings_each_exact():
    cfg = {
        "bf16": True,
        "load_in_4bit": True,
        "load_in_8bit": True,
        "optimizer": "paged_adamw_8bit",
        "deepspeed": "ds.json",
        "fsdp_config": {"fsdp_version": 2},
    }
    no_bnb = Hardware(cuda=False, flash_attn=False, bitsandbytes=False)
    assert run(checks._check_hardware, cfg, no_bnb) == [
        (
            1,
            "bf16",
            "warning",
            "bf16: true needs a CUDA GPU with bf16 support; none detected (use bf16: auto)",
        ),
        (2, "load_in_4bit", "warning", "load_in_4bit needs bitsandbytes, which is not installed"),
        (3, "load_in_8bit", "warning", "load_in_8bit needs bitsandbytes, which is not installed"),
        (4, "optimizer", "warning", "paged optimizers page to CUDA memory; none detected"),
        (
            5,
            "deepspeed",
            "warning",
            "DeepSpeed runs on CUDA GPUs (install it there: pip install deepspeed); none detected",
        ),
        (
            6,
            "fsdp_config",
            "warning",
            "FSDP needs a GPU in Axolotl 0.19 (FSDP2 builds a CUDA device mesh, FSDP1 asks "
            "accelerate for an accelerator); none detected",
        ),
    ]
    gpu_no_bnb = Hardware(cuda=True, flash_attn=True, bitsandbytes=False)
    assert [f for _, f, _, _ in run(checks._check_hardware, cfg, gpu_no_bnb)] == [
        "load_in_4bit",
        "load_in_8bit",
    ]
    assert run(checks._check_hardware, cfg, GPU) == []


@pytest.mark.parametrize(
    "cfg",
    [
        {"bf16": "auto"},
        {"bf16": False, "optimizer": "adamw_torch"},
        {"load_in_4bit": False, "load_in_8bit": False, "deepspeed": None, "fsdp_config": {}},
        {"optimizer": None},
    ],
)
def test_hardware_settings_a_cpu_runs_are_not_warned(cfg):
    no_bnb = Hardware(cuda=False, flash_attn=False, bitsandbytes=False)
    assert run(checks._check_hardware, cfg, no_bnb) == []


def test_legacy_fsdp_key_and_torch_problem():
    broken = Hardware(cuda=True, flash_attn=False, bitsandbytes=True, torch_cuda_problem="no cuda")
    assert run(checks._check_hardware, {"fsdp": ["full_shard"]}, broken) == [
        (0, "-", "error", "no cuda")
    ]
    assert run(checks._check_hardware, {"fsdp": ["full_shard"]}, CPU) == [
        (
            0,
            "fsdp_config",
            "warning",
            "FSDP needs a GPU in Axolotl 0.19 (FSDP2 builds a CUDA device mesh, FSDP1 asks "
            "accelerate for an accelerator); none detected",
        )
    ]


def missing(impl: str, module: str, fix: str) -> str:
    return (
        f"{impl} needs the `{module}` package, which is not installed: {fix}; "
        "or use attn_implementation: sdpa (no extra package, isolates packed rows)"
    )


@pytest.mark.parametrize(
    ("cfg", "hw", "expected"),
    [
        ({}, CPU, []),
        ({"attn_implementation": "sdpa"}, CPU, []),
        ({"attn_implementation": "eager"}, CPU, []),
        ({"attn_implementation": "flex_attention"}, CPU, []),
        ({"attn_implementation": 3}, CPU, []),
        ({"flash_attention": False}, CPU, []),
        ({"sdp_attention": True}, CPU, []),
        (
            {"attn_implementation": "flash_attention_2"},
            CPU,
            [
                (
                    1,
                    "attn_implementation",
                    "warning",
                    "flash_attention_2 needs a CUDA GPU; none detected",
                )
            ],
        ),
        (
            {"attn_implementation": "kernels-community/flash-attn3"},
            CPU,
            [
                (
                    1,
                    "attn_implementation",
                    "warning",
                    "kernels-community/flash-attn3 needs a CUDA GPU; none detected",
                )
            ],
        ),
        (
            {"attn_implementation": "sage"},
            CPU,
            [(1, "attn_implementation", "warning", "sage needs a CUDA GPU; none detected")],
        ),
        (
            {"flash_attention": True},
            CPU,
            [
                (
                    1,
                    "flash_attention",
                    "warning",
                    "flash_attention_2 needs a CUDA GPU; none detected",
                )
            ],
        ),
        ({"attn_implementation": "flash_attention_2"}, GPU, []),
        (
            {"flash_attention": True},
            GPU_NO_FLASH,
            [
                (
                    1,
                    "flash_attention",
                    "error",
                    missing("flash_attention_2", "flash_attn", hardware.ATTN_INSTALL["flash_attn"]),
                )
            ],
        ),
        (
            {"attn_implementation": "flash_attention_3"},
            GPU,
            [
                (
                    1,
                    "attn_implementation",
                    "error",
                    missing(
                        "flash_attention_3",
                        "flash_attn_interface",
                        hardware.ATTN_INSTALL["flash_attn_interface"],
                    ),
                )
            ],
        ),
        ({"attn_implementation": "my_own_impl"}, GPU, []),  # no known package to look for
    ],
)
def test_attention_package(cfg, hw, expected):
    assert run(checks._check_attention_package, cfg, hw) == expected


def test_attention_package_fix_for_a_package_without_a_recipe(monkeypatch):
    monkeypatch.setattr(hardware, "module_importable", lambda name: False)
    # xformers runs without a GPU, so on a CPU too the missing package is the error
    assert run(checks._check_attention_package, {"attn_implementation": "xformers"}, CPU) == [
        (1, "attn_implementation", "error", missing("xformers", "xformers", "pip install xformers"))
    ]
    cfg = {"attn_implementation": "kernels-community/flash-attn3"}
    assert run(checks._check_attention_package, cfg, GPU) == [
        (
            1,
            "attn_implementation",
            "error",
            missing(cfg["attn_implementation"], "kernels", "pip install kernels"),
        )
    ]


# --- LoRA target modules --------------------------------------------------------------------

QWEN_LINEARS = "down_proj, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"


def no_match(target: str) -> str:
    return (
        f"{target!r} matches no module of Qwen3ForCausalLM (from shipped Qwen--Qwen3-1.7B.json): "
        f"PEFT ignores it, so that part is never adapted. Linear modules: {QWEN_LINEARS}"
    )


def test_lora_targets_named_exactly():
    cfg = {
        "base_model": QWEN,
        "adapter": "lora",
        "lora_target_modules": ["q_proj", "c_proj", "proj", "self_attn.k_proj"],
    }
    assert run(checks._check_lora_targets, cfg) == [
        (5, "lora_target_modules.1", "error", no_match("c_proj")),
        (6, "lora_target_modules.2", "error", no_match("proj")),  # a suffix is not a name
    ]


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (
            {"base_model": QWEN, "adapter": "lora", "lora_target_modules": "c_attn"},
            [(3, "lora_target_modules.0", "error", no_match("c_attn"))],
        ),
        ({"base_model": QWEN, "adapter": "lora", "lora_target_modules": "v_proj"}, []),
        ({"base_model": QWEN, "lora_target_modules": ["c_proj"]}, []),  # a full fine-tune
        ({"base_model": QWEN, "adapter": "lora", "lora_target_modules": []}, []),
        ({"base_model": QWEN, "adapter": "lora", "lora_target_modules": 3}, []),
    ],
)
def test_lora_targets_shapes(cfg, expected):
    assert run(checks._check_lora_targets, cfg) == expected


def test_lora_targets_of_an_unknown_or_broken_architecture(tmp_path):
    cfg = {"base_model": "someone/unknown", "adapter": "lora", "lora_target_modules": ["x"]}
    assert run(checks._check_lora_targets, cfg) == [
        (
            3,
            "lora_target_modules",
            "warning",
            "cannot check: the architecture of 'someone/unknown' is unknown offline (no local "
            "config.json, none shipped in psych_plugin/resources/model_configs/)",
        )
    ]
    cfg = {"adapter": "lora", "lora_target_modules": ["x"]}  # no base_model at all
    assert run(checks._check_lora_targets, cfg)[0][3].startswith(
        "cannot check: the architecture of '' is unknown offline"
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no_such_architecture"}))
    cfg = {"base_model": str(broken), "adapter": "lora", "lora_target_modules": ["x"]}
    [(line, field, severity, message)] = run(checks._check_lora_targets, cfg)
    assert (line, field, severity) == (1, "base_model", "warning")
    assert message.startswith(f"cannot build the architecture from {broken / 'config.json'}: ")
    assert "no_such_architecture" in message


# --- dataset files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("rows.jsonl", True),
        ("rows.json", True),
        ("rows.csv", True),
        ("rows.parquet", True),
        ("rows.arrow", True),
        ("rows.txt", True),
        ("./rows", True),
        ("/abs/rows", True),
        ("../rows", True),
        ("~/rows", True),
        ("org/dataset", False),
        ("dataset", False),
        ("rows.jsonl.gz", False),
    ],
)
def test_is_local(path, local):
    assert checks._is_local(path) is local


def write_rows(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_dataset_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_rows(tmp_path / "bad.jsonl", [GOOD_ROW, {**GOOD_ROW, "output": ""}, "", "{nope"])
    write_rows(tmp_path / "good.jsonl", [GOOD_ROW, ""])  # a blank line is only a warning
    cfg = {
        "datasets": [
            {"path": "bad.jsonl", "type": "alpaca"},
            {"path": "data/missing.jsonl", "type": "alpaca"},
            {"path": "org/hub-dataset", "type": "alpaca"},  # not local: Axolotl fetches it
            "not a mapping",
            {"path": 3},
            {"path": "good.jsonl", "type": "psych_plugin.prompt_strategy"},
            {"path": "bad.jsonl", "type": "chat_template"},  # not Alpaca rows: not ours to read
        ],
        "test_datasets": [{"path": "bad.jsonl", "type": "psych_plugin.prompt_strategy"}],
    }
    got = run(checks._check_datasets, cfg)
    first = "bad.jsonl:2: output: must not be empty or whitespace-only (got empty text)"
    assert [(line, field, severity) for line, field, severity, _ in got] == [
        (2, "datasets.0.path", "error"),
        (2, "datasets.0.path", "error"),
        (4, "datasets.1.path", "error"),
        (15, "test_datasets.0.path", "error"),
        (15, "test_datasets.0.path", "error"),
    ]
    assert got[0][3] == first
    assert got[1][3].startswith("bad.jsonl:4: -: ")
    assert got[2][3] == "dataset file not found: data/missing.jsonl"
    assert [m for *_, m in got[3:]] == [m for *_, m in got[:2]]


def test_dataset_errors_are_capped(tmp_path):
    bad = write_rows(tmp_path / "bad.jsonl", [{**GOOD_ROW, "output": ""}] * 25)
    cfg = {"datasets": [{"path": str(bad), "type": "alpaca"}]}
    got = run(checks._check_datasets, cfg)
    assert len(got) == 20 and got[-1][3].startswith(f"{bad}:20: output:")


@pytest.mark.parametrize(
    ("cfg", "entry", "model"),
    [
        ({}, {"path": "x", "type": "alpaca"}, ds_models.SFTDataset),
        ({"rl": "dpo"}, {"path": "x"}, ds_models.DPODataset),
        ({"rl": "ipo"}, {"path": "x"}, ds_models.DPODataset),
        ({"rl": "simpo"}, {"path": "x"}, ds_models.DPODataset),
        ({"rl": "kto"}, {"path": "x"}, ds_models.KTODataset),
        ({"rl": "grpo"}, {"path": "x"}, ds_models.SFTDataset),
        ({}, {"type": "_synthetic"}, ds_models.SyntheticDataset),
    ],
)
def test_dataset_model_for_datasets(cfg, entry, model):
    assert checks.dataset_model(cfg, "datasets", entry) is model


def test_dataset_model_for_test_datasets_is_the_unions_pick():
    assert (
        checks.dataset_model({}, "test_datasets", {"path": "x", "type": "alpaca"})
        is ds_models.SFTDataset
    )
    assert (
        checks.dataset_model({"rl": "dpo"}, "test_datasets", {"path": "x", "type": "alpaca"})
        is ds_models.SFTDataset
    )
    assert checks.dataset_model({}, "test_datasets", {"path": 3}) is None  # the validator's


def test_dataset_keys():
    cfg = {
        "datasets": [
            {"path": "x", "type": "alpaca", "pth": "y", "zzzzzz": 1, "step_separator": "\n"},
            "not a mapping",
        ],
        "test_datasets": [{"path": 3, "field_chosen": "a", "qqqqqq": 1}],
    }
    stepwise = (
        "a StepwiseSupervisedDataset key, but Axolotl 0.19 reads this entry as SFTDataset "
        "(no rl) and drops it: the prompt strategy never sees it and uses its default "
        "(harmless only if that is the value here)"
    )
    assert run(checks._check_dataset_keys, cfg) == [
        (4, "datasets.0.pth", "error", "unknown dataset key: ignored; did you mean `path`?"),
        (5, "datasets.0.zzzzzz", "error", "unknown dataset key: ignored"),
        (6, "datasets.0.step_separator", "warning", stepwise),
        # an entry no model accepts: only keys of no dataset type at all are reported
        (13, "test_datasets.0.qqqqqq", "error", "unknown dataset key: ignored"),
    ]
    dpo = {"rl": "dpo", "datasets": [{"path": "x", "roles": {}}]}
    assert run(checks._check_dataset_keys, dpo) == [
        (
            4,
            "datasets.0.roles",
            "warning",
            "a SFTDataset key, but Axolotl 0.19 reads this entry as DPODataset (rl: dpo) and "
            "drops it: the prompt strategy never sees it and uses its default (harmless only if "
            "that is the value here)",
        )
    ]
    assert run(checks._check_dataset_keys, {"datasets": "x", "test_datasets": None}) == []


# --- top-level keys and Axolotl's validator ---------------------------------------------------


@pytest.fixture(scope="module")
def schema_fields():
    return checks._schema_fields()


def keys(cfg, fields, plugin_failed=False):
    out = collector(cfg)
    checks._check_keys(cfg, fields, out, plugin_failed)
    return verdicts(out)


def test_keys(schema_fields):
    cfg = {
        "num_epoch": 3,
        "zzzzzz": 1,
        "lora_alpah": None,
        "flash_attention": True,
        "learning_rate": 1e-4,
    }
    assert keys(cfg, schema_fields) == [
        (
            1,
            "num_epoch",
            "error",
            "unknown key: Axolotl ignores it silently; did you mean `num_epochs`?",
        ),
        (2, "zzzzzz", "error", "unknown key: Axolotl ignores it silently"),
        (
            3,
            "lora_alpah",
            "warning",
            "unknown key: Axolotl ignores it silently (it is empty); did you mean `lora_alpha`?",
        ),
        (
            4,
            "flash_attention",
            "warning",
            "deprecated: use `attn_implementation: flash_attention_2`",
        ),
    ]
    # a deprecated key's replacement is suggested for a typo of it
    assert keys({"flash_attentio": True}, schema_fields) == [
        (
            1,
            "flash_attentio",
            "error",
            "unknown key: Axolotl ignores it silently; "
            "did you mean `attn_implementation: flash_attention_2`?",
        )
    ]
    # with a plugin that did not import, its keys are unknown too: a warning that says why
    assert keys({"zzzzzz": 1}, schema_fields, True) == [
        (
            1,
            "zzzzzz",
            "warning",
            "unknown key: Axolotl ignores it silently "
            "(or it belongs to the plugin that did not import)",
        )
    ]
    # every alias is known: Axolotl reads them
    aliases = [n for n, info in schema_fields.items() if info.alias == n]
    assert aliases and keys(dict.fromkeys(aliases[:1], 1), schema_fields) == []


def test_replacement_reads_pydantics_deprecation_text():
    class Info:
        deprecated = "Use `attn_implementation: sdpa` instead."

    assert checks._replacement(Info) == "attn_implementation: sdpa"
    Info.deprecated = None
    assert checks._replacement(Info) == ""


def test_plugins_that_do_not_import():
    cfg = {"plugins": ["psych_plugin.PsychologyPlugin", "no_such_module.Plugin"]}
    [(line, field, severity, message)] = run(checks._load_plugins, cfg)
    assert (line, field, severity) == (3, "plugins.1", "error")
    assert message.startswith("plugin 'no_such_module.Plugin' does not import (")
    assert message.endswith("); Axolotl would log this and train without it")
    assert run(checks._load_plugins, {"plugins": "psych_plugin.PsychologyPlugin"}) == []


def test_axolotl_validation_reports_and_returns():
    cfg = {"base_model": QWEN, "datasets": [{"path": "x", "type": "alpaca"}], "micro_batch_size": 1}
    cfg |= {"num_epochs": 1, "learning_rate": 1e-4, "gradient_accumulation_steps": 1}
    out = collector(cfg)
    validated = checks._check_axolotl_validation(cfg, out)
    assert out.problems == [] and validated is not None
    assert validated["base_model"] == QWEN and validated["micro_batch_size"] == 1
    bad = {**cfg, "micro_batch_size": "many"}
    out = collector(bad)
    assert checks._check_axolotl_validation(bad, out) is None
    assert [(p.field, p.severity) for p in out.problems] == [("micro_batch_size", "error")]
    assert out.problems[0].message.startswith("Axolotl: ")
    # a ValueError of Axolotl's own validators loses pydantic's "Value error, " prefix
    bad = {**cfg, "learning_rate": "fast"}
    out = collector(bad)
    checks._check_axolotl_validation(bad, out)
    assert verdicts(out) == [
        (7, "learning_rate", "error", "Axolotl: could not convert string to float: 'fast'")
    ]
    # Axolotl validates each dataset entry on its own: the key is named in the message
    bad = {**cfg, "datasets": [{"path": "x", "type": "alpaca", "split": 3}]}
    out = collector(bad)
    checks._check_axolotl_validation(bad, out)
    assert verdicts(out) == [(0, "-", "error", "Axolotl: split: Input should be a valid string")]


def test_dataset_entries_that_are_not_mappings_are_named():
    # Axolotl 0.19's validator crashes on these (TypeError); the entries themselves are named
    cfg = {"datasets": [[451], {"path": "x"}, None], "test_datasets": ["e.jsonl"]}
    out = collector(cfg)
    assert checks._check_axolotl_validation(cfg, out) is None
    assert verdicts(out) == [
        (2, "datasets.0", "error", "expected a mapping (path:, type:, ...), got a list"),
        (4, "datasets.2", "error", "expected a mapping (path:, type:, ...), got nothing"),
        (6, "test_datasets.0", "error", "expected a mapping (path:, type:, ...), got a str"),
    ]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("boom"), "Axolotl's validator failed on this config (RuntimeError: boom)"),
        (
            ImportError("No module named 'ring_flash_attn'\nhint"),
            "needs a package that is not installed here: No module named 'ring_flash_attn'",
        ),
    ],
)
def test_axolotl_validator_failures_are_one_problem(monkeypatch, error, message):
    import axolotl.utils.config

    def fail(cfg):
        raise error

    monkeypatch.setattr(axolotl.utils.config, "validate_config", fail)
    cfg = {"datasets": [{"path": "x"}]}
    out = collector(cfg)
    assert checks._check_axolotl_validation(cfg, out) is None
    assert verdicts(out) == [(0, "-", "error", message)]


def test_load_config_file_wants_a_mapping(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("- a\n- b\n")
    with pytest.raises(
        UsageError, match=r"c\.yml:1: -: expected a mapping of Axolotl config keys$"
    ):
        checks.load_config_file(path)
    path.write_text("")
    with pytest.raises(UsageError, match="expected a mapping"):
        checks.load_config_file(path)


def test_check_config_orders_by_line_and_survives_wrong_types(tmp_path, monkeypatch):
    path = tmp_path / "c.yml"
    path.write_text("zzzzzz: 1\nsample_packing: true\nnum_epoch: 1\n")
    got = [(p.line, p.field) for p in checks.check_config(path, CPU)]
    # Axolotl's own verdict (no datasets) concerns the whole file: line 0, first
    assert got == [(0, "-"), (1, "zzzzzz"), (2, "sample_packing"), (3, "num_epoch")]
    first = checks.check_config(path, CPU)[0]
    assert first.message == "Axolotl: either datasets or pretraining_dataset is required"

    def broken(cfg, out):
        raise TypeError("boom")

    monkeypatch.setattr(checks, "_check_conflicts", broken)
    problems = checks.check_config(path, CPU)
    assert ("-", "the conflicts check was skipped: a value has the wrong type (boom)") in [
        (p.field, p.message) for p in problems
    ]
    # the checks after the broken one still ran
    assert "num_epoch" in [p.field for p in problems]
    # A config Axolotl accepts: the same fault is the checker's, and says so (no traceback).
    path.write_text(
        "base_model: x\nlearning_rate: 0.001\nmicro_batch_size: 1\n"
        "gradient_accumulation_steps: 1\ndatasets:\n- path: d.jsonl\n  type: alpaca\n"
    )
    problems = checks.check_config(path, CPU)
    [bug] = [p for p in problems if p.field == "-"]
    assert bug.message == (
        "the conflicts check failed (TypeError: boom); this is a bug in psych_plugin's checker, "
        "not in the config: please report it"
    )


# --- rows longer than sequence_len ----------------------------------------------------------

LONG_ROW = {**GOOD_ROW, "output": "word " * 3000}


def over_length(cfg: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    return run(checks._check_over_length, cfg)


def test_over_length_lists_ten_lines_then_dots(tmp_path, tiny_model):
    data = write_rows(tmp_path / "d.jsonl", [LONG_ROW] * 11 + [GOOD_ROW])
    cfg = {"base_model": str(tiny_model), "sequence_len": 512}
    cfg["datasets"] = [{"path": str(data), "type": "alpaca"}]
    assert over_length(cfg) == [
        (
            4,
            "datasets.0.path",
            "warning",
            "11 of 12 rows are longer than sequence_len=512 tokens; Axolotl will drop them "
            "(excess_length_strategy: drop); lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ...",
        )
    ]
    data = write_rows(tmp_path / "d.jsonl", [LONG_ROW] * 10 + [GOOD_ROW])
    assert over_length(cfg)[0][3].endswith("lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10")
    cfg["excess_length_strategy"] = "truncate"
    assert over_length(cfg)[0][3].startswith(
        "10 of 11 rows are longer than sequence_len=512 tokens; Axolotl will truncate them "
        "(excess_length_strategy: truncate); lines 1, "
    )
    del cfg["sequence_len"]  # Axolotl's default, 2048: 3,000 words are still too long
    assert "longer than sequence_len=2048 tokens" in over_length(cfg)[0][3]
    assert over_length({**cfg, "sequence_len": "512"}) == []  # wrong type: the validator's


def test_over_length_counts_with_the_tokenizer_axolotl_uses(tmp_path, tiny_model):
    data = write_rows(tmp_path / "d.jsonl", [LONG_ROW])
    datasets = [{"path": str(data), "type": "alpaca"}]
    found = {"base_model": "nobody/none", "tokenizer_config": str(tiny_model), "datasets": datasets}
    assert [f for _, f, _, _ in over_length(found)] == ["datasets.0.path"]
    # no tokenizer on this machine: nothing to count with, and the report says so
    assert over_length({"base_model": "nobody/none", "datasets": datasets}) == [
        (
            1,
            "base_model",
            "warning",
            "rows were not checked against sequence_len 2048: the tokenizer of nobody/none is "
            "not on this machine (psych lint --tokenizer DIR --sequence-len N counts them with "
            "a local copy)",
        )
    ]
    # a tokenizer folder transformers cannot read: named, with its reason
    broken = tmp_path / "broken-tokenizer"
    broken.mkdir()
    (broken / "tokenizer_config.json").write_text('{"tokenizer_class": "NoSuchTokenizer"}')
    [(_, field, severity, message)] = over_length({"base_model": str(broken), "datasets": datasets})
    assert (field, severity) == ("base_model", "warning")
    assert f"the tokenizer of {broken} does not load (" in message


def test_over_length_reads_only_alpaca_rows_on_disk(tmp_path, tiny_model):
    long = write_rows(tmp_path / "long.jsonl", [LONG_ROW])
    short = write_rows(tmp_path / "short.jsonl", [GOOD_ROW])
    cfg = {"base_model": str(tiny_model), "sequence_len": 512}
    cfg["datasets"] = [
        {"path": str(long), "type": "chat_template"},  # another format: not ours to count
        "not a mapping",
        {"path": str(tmp_path / "missing.jsonl"), "type": "alpaca"},
        {"path": str(short), "type": "alpaca"},
        {"path": str(write_rows(tmp_path / "bad.jsonl", ["{nope", LONG_ROW])), "type": "alpaca"},
    ]
    assert over_length(cfg) == []


def test_over_length_renders_rows_as_training_does(tmp_path, tiny_model):
    """Our strategy renders with the config's prompt settings (a long system prompt makes
    every row too long); Axolotl's own `alpaca` type never sees them."""
    data = write_rows(tmp_path / "d.jsonl", [GOOD_ROW])
    cfg = {"base_model": str(tiny_model), "sequence_len": 512, "psych_system_prompt": "be " * 600}
    cfg["datasets"] = [{"path": str(data), "type": "psych_plugin.prompt_strategy"}]
    [(_, field, _, message)] = over_length(cfg)
    assert field == "datasets.0.path" and message.startswith("1 of 1 rows are longer")
    cfg["datasets"][0]["type"] = "alpaca"
    assert over_length(cfg) == []


def test_a_key_with_a_newline_is_reported_on_one_line(tmp_path, capsys):
    from psych_plugin.cli import main

    path = tmp_path / "c.yml"
    path.write_text('datasets:\n- path: x\n  type: alpaca\n  ? "a\\nb\\tc"\n  : 1\n')
    assert main(["check-config", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{path}:4: datasets.0.a\\nb\\tc: unknown dataset key: ignored" in lines
    assert lines[-1] == f"FAILED: check-config {path}: {len(lines) - 1} error(s), 0 warning(s)"


def test_over_length_goes_on_after_a_file_with_errors(tmp_path, tiny_model):
    bad = write_rows(tmp_path / "bad.jsonl", ["{nope"])
    long = write_rows(tmp_path / "long.jsonl", [LONG_ROW])
    cfg = {"base_model": str(tiny_model), "sequence_len": 512}
    cfg["datasets"] = [{"path": str(bad), "type": "alpaca"}, {"path": str(long), "type": "alpaca"}]
    assert [f for _, f, _, _ in over_length(cfg)] == ["datasets.1.path"]


def test_over_length_counts_tokens_exactly(tmp_path, tiny_model, tiny_tokenizer):
    """Axolotl's `alpaca` type: our alpaca style with an empty preamble, + EOS; a row of
    exactly sequence_len tokens fits, one more does not."""
    from psych_plugin.dataset.lint import load_rows, token_lengths
    from psych_plugin.prompts import PromptSettings

    data = write_rows(tmp_path / "d.jsonl", [GOOD_ROW])
    rows, _ = load_rows(data)
    alpaca = PromptSettings(style="alpaca", alpaca_preamble="")
    [n] = token_lengths(rows, tiny_tokenizer, alpaca)
    cfg = {"base_model": str(tiny_model), "sequence_len": n}
    cfg["datasets"] = [{"path": str(data), "type": "alpaca"}]
    assert over_length(cfg) == []
    assert over_length({**cfg, "sequence_len": n - 1})[0][3].startswith(
        f"1 of 1 rows are longer than sequence_len={n - 1} tokens"
    )


def test_tokenizer_is_looked_up_offline_only(monkeypatch):
    import transformers

    calls = []

    def record(name, **kwargs):
        calls.append((name, kwargs))
        return "tokenizer"

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record)
    assert checks._offline_tokenizer({"base_model": "org/model"}) == ("tokenizer", "")
    assert calls == [("org/model", {"local_files_only": True})]


def test_keys_of_a_plugin_that_did_not_import_are_warnings(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("plugins:\n- no_such_module.Plugin\nzzzzzz: 1\n")
    verdict = {p.field: p.severity for p in checks.check_config(path, CPU)}
    assert verdict["plugins.0"] == "error" and verdict["zzzzzz"] == "warning"


def test_dataset_keys_go_on_past_skipped_entries_and_keys():
    cfg = {"datasets": ["not a mapping", {"path": "x", "step_separator": "|", "zzzzzz": 1}]}
    assert [(f, s) for _, f, s, _ in run(checks._check_dataset_keys, cfg)] == [
        ("datasets.1.step_separator", "warning"),
        ("datasets.1.zzzzzz", "error"),
    ]


def test_a_nested_dataset_error_names_the_whole_key():
    cfg = {"base_model": QWEN, "micro_batch_size": 1, "num_epochs": 1, "learning_rate": 1e-4}
    cfg["datasets"] = [{"path": "x", "type": "alpaca", "roles": {"user": 3}}]
    out = collector(cfg)
    assert checks._check_axolotl_validation(cfg, out) is None
    assert verdicts(out) == [(0, "-", "error", "Axolotl: roles.user: Input should be a valid list")]


def test_every_plugin_that_does_not_import_is_reported():
    cfg = {"plugins": ["no_such_module.Plugin", "other_missing.P"]}
    assert run(checks._load_plugins, cfg) == [
        (
            2,
            "plugins.0",
            "error",
            "plugin 'no_such_module.Plugin' does not import (ModuleNotFoundError: No module named "
            "'no_such_module'); Axolotl would log this and train without it",
        ),
        (
            3,
            "plugins.1",
            "error",
            "plugin 'other_missing.P' does not import (ModuleNotFoundError: No module named "
            "'other_missing'); Axolotl would log this and train without it",
        ),
    ]


def test_replacement_keeps_the_name_whole():
    class Info:
        deprecated = "Use `Xformers_key` instead."

    assert checks._replacement(Info) == "Xformers_key"


def test_only_close_names_are_suggested(schema_fields):
    # `micro_bs` is 0.6 like micro_batch_size: too far to be sure it was meant
    assert keys({"micro_bs": 1}, schema_fields) == [
        (1, "micro_bs", "error", "unknown key: Axolotl ignores it silently")
    ]
    cfg = {"datasets": [{"path": "x", "type": "alpaca", "dataset_type": "y"}]}
    assert run(checks._check_dataset_keys, cfg) == [
        (4, "datasets.0.dataset_type", "error", "unknown dataset key: ignored")
    ]


def test_dataset_files_go_on_past_skipped_entries(tmp_path):
    cfg = {
        "datasets": [
            "not a mapping",
            {"path": str(tmp_path / "a.jsonl")},
            {"path": str(tmp_path / "b.jsonl")},
        ]
    }
    assert [f for _, f, _, _ in run(checks._check_datasets, cfg)] == [
        "datasets.1.path",
        "datasets.2.path",
    ]


def test_check_config_uses_axolotls_packing_verdict(tmp_path, monkeypatch):
    import axolotl.utils.config

    def validated(cfg):
        return {**cfg, "attn_decontaminates_packing": False}

    monkeypatch.setattr(axolotl.utils.config, "validate_config", validated)
    path = tmp_path / "c.yml"
    path.write_text("sample_packing: true\nattn_implementation: sdpa\n")
    problems = checks.check_config(path, CPU)
    assert [(p.field, p.severity) for p in problems] == [("sample_packing", "warning")]


# --- check_config as a whole: the guide's config, the shipped presets ------------------------

GUIDE = FIXTURES / "guide_config.yml"


def fields(problems, severity="error"):
    return sorted((p.field, p.line) for p in problems if p.severity == severity)


def test_guide_config_flags_exactly_its_two_bugs(hub_tokenizers_absent):
    problems = check_config(GUIDE, GPU)
    assert fields(problems) == [("lora_target_modules.0", 16), ("use_flash_attention", 12)]
    by_field = {p.field: p.message for p in problems}
    assert (
        "did you mean `attn_implementation: flash_attention_2`?" in by_field["use_flash_attention"]
    )
    assert "'c_proj' matches no module of Qwen3ForCausalLM" in by_field["lora_target_modules.0"]
    # Not the guide's bug but Axolotl's: its merge would round the base without the double
    # quantization its training uses.
    assert fields(problems, "warning") == [("base_model", 2), ("load_in_4bit", 11)]
    assert by_field["base_model"].startswith(NOT_COUNTED)
    assert "bnb_4bit_use_double_quant" in by_field["load_in_4bit"]


def test_guide_config_with_val_set_size_also_flags_evals_per_epoch(tmp_path):
    cfg = yaml.safe_load(GUIDE.read_text())
    cfg["val_set_size"] = 0.05
    path = tmp_path / "guide.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    got = [f for f, _ in fields(check_config(path, GPU))]
    assert got == ["evals_per_epoch", "lora_target_modules.0", "use_flash_attention"]


@pytest.mark.parametrize("preset", list_presets())
def test_every_shipped_preset_checks_clean(preset, tmp_path, tiny_model, hub_tokenizers_absent):
    sets = [f"base_model={tiny_model}"] if "tiny" in preset else []
    out = tmp_path / f"{preset}.yml"
    out.write_text(render(resolve_preset(preset, sets)))
    hardware = CPU if preset.endswith("-cpu") else GPU
    problems = check_config(out, hardware)
    from psych_plugin.model.base import is_built

    # The tiny model's tokenizer is local, and SmolLM2's once `psych base smollm2` converted it.
    if "tiny" in preset or (preset.startswith("smollm2") and is_built()):  # every check ran
        assert problems == [], problems
    else:  # no error; only the note that the hub tokenizer was not there to count with
        [note] = problems
        assert (note.field, note.severity) == ("base_model", "warning"), problems
        assert note.message.startswith(NOT_COUNTED)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("num_epoch", 3, "did you mean `num_epochs`?"),
        ("lora_alpah", 16, "did you mean `lora_alpha`?"),
        ("flash_attention", True, "deprecated: use `attn_implementation: flash_attention_2`"),
    ],
)
def test_unknown_and_deprecated_keys(tmp_path, key, value, expected):
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    cfg.pop("attn_implementation")
    cfg[key] = value
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, GPU) if p.field == key]
    assert expected in problem.message
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1].startswith(f"{key}:")


def test_plugin_typo_and_conflicts(tmp_path):
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    cfg["plugins"] = ["psych_plugin.PsychologyPlugn"]
    cfg.pop("attn_implementation")  # packing with the mask kept: rows leak (test_packing.py)
    cfg["datasets"][0]["pth"] = "x"
    cfg["datasets"].append({"path": "data/missing.jsonl", "type": "alpaca"})
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    messages = {p.field: p.message for p in check_config(path, GPU)}
    assert "does not import" in messages["plugins.0"]
    assert "packed samples attend to each other" in messages["sample_packing"]
    assert "did you mean `path`?" in messages["datasets.0.pth"]
    assert "dataset file not found: data/missing.jsonl" in messages["datasets.1.path"]


def test_invalid_dataset_rows_are_reported(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "input": "", "output": ""}\n')
    cfg = resolve_preset("qwen3-1.7b-qlora", [f"datasets.0.path={bad}"]).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, GPU) if p.field == "datasets.0.path"]
    assert f"{bad}:1: output: must not be empty" in problem.message


def test_hardware_warnings_on_cpu(tmp_path):
    sets = ["bf16=true", "attn_implementation=flash_attention_2"]
    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    warned = {p.field for p in check_config(path, CPU) if p.severity == "warning"}
    assert warned - {"base_model"} == {"bf16", "attn_implementation", "optimizer"}


def test_over_length_rows_are_counted(tmp_path, tiny_model):
    data = tmp_path / "d.jsonl"
    short = {"instruction": "What is a schema?", "input": "", "output": "A framework."}
    long = {**short, "instruction": "Explain memory.", "output": "word " * 3000}
    data.write_text("\n".join(json.dumps(r) for r in (short, long, short | {"input": "x"})) + "\n")
    cfg = resolve_preset("tiny-cpu", [f"base_model={tiny_model}", f"datasets.0.path={data}"]).config
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    [problem] = [p for p in check_config(path, CPU) if p.field == "datasets.0.path"]
    assert problem.severity == "warning"
    assert "1 of 3 rows are longer than sequence_len=512 tokens; Axolotl will drop them" in (
        problem.message
    )
    assert problem.message.endswith("lines 2")


# --- the patterns of Axolotl's own example configs -------------------------------------------

CHECKER = FIXTURES / "checker"


def write_fixture(tmp: Path, name: str) -> Path:
    base = yaml.safe_load((CHECKER / "base.yml").read_text())
    cfg = deep_merge(base, yaml.safe_load((CHECKER / name).read_text()))
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def fields_by_severity(problems):
    errors = sorted(p.field for p in problems if p.severity == "error")
    warnings = sorted(p.field for p in problems if p.severity == "warning")
    return errors, warnings


@pytest.mark.parametrize(
    ("name", "errors", "warnings"),
    [
        ("base.yml", [], []),
        ("sdpa_packing.yml", [], []),
        ("dpo_dataset.yml", [], []),
        ("hub_kernel_packing.yml", [], ["sample_packing"]),
        ("unset_attention_packing.yml", ["sample_packing"], []),
        (
            "stepwise_dataset.yml",
            [],
            [
                "datasets.0.max_completion_length",
                "datasets.0.step_separator",
                "datasets.0.train_on_last_step_only",
            ],
        ),
        ("flash_attention.yml", [], []),
    ],
)
def test_checker_patterns_from_axolotl_examples(tmp_path, name, errors, warnings):
    problems = check_config(write_fixture(tmp_path, name), GPU)
    assert fields_by_severity(problems) == (errors, warnings), problems


def test_axolotl_really_drops_stepwise_keys_without_rl():
    """Why the stepwise keys are warned about: Axolotl 0.19's own validator drops them."""
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    cfg = deep_merge(
        yaml.safe_load((CHECKER / "base.yml").read_text()),
        yaml.safe_load((CHECKER / "stepwise_dataset.yml").read_text()),
    )
    [entry] = validate_config(DictDefault(cfg))["datasets"]
    assert entry["type"] == "stepwise_supervised"
    assert "step_separator" not in entry and "max_completion_length" not in entry


def test_missing_attention_package_is_an_error_with_the_fix(tmp_path):
    path = write_fixture(tmp_path, "flash_attention.yml")
    [problem] = [p for p in check_config(path, GPU_NO_FLASH) if p.severity == "error"]
    assert problem.field == "attn_implementation" and problem.line > 0
    assert "make setup FLASH_ATTN=1" in problem.message
    assert "attn_implementation: sdpa" in problem.message
    # On a machine without a GPU the same config only warns (it may be meant for another).
    cpu = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
    assert fields_by_severity(check_config(path, cpu)) == ([], ["attn_implementation"])


def test_a_package_axolotl_imports_while_validating_is_named(tmp_path):
    problems = check_config(write_fixture(tmp_path, "ring_attention.yml"), GPU)
    [error] = [p for p in problems if p.severity == "error"]
    assert error.message.startswith("needs a package that is not installed here")
    assert "ring_flash_attn" in error.message


@pytest.mark.parametrize("preset", ["qwen3-1.7b-qlora", "qwen3-1.7b-lora"])
def test_gpu_presets_check_clean_without_flash_attn(tmp_path, preset):
    out = tmp_path / f"{preset}.yml"
    out.write_text(render(resolve_preset(preset)))
    cfg = yaml.safe_load(out.read_text())
    assert cfg["attn_implementation"] == "sdpa" and cfg["sample_packing"] is True
    problems = check_config(out, GPU_NO_FLASH)
    assert [p for p in problems if not p.message.startswith(NOT_COUNTED)] == []


@pytest.mark.parametrize(
    ("preset", "field"),
    [("qwen3-1.7b-qlora-ds2", "deepspeed"), ("qwen3-1.7b-lora-fsdp", "fsdp_config")],
)
def test_engines_that_need_a_gpu_warn_on_a_cpu(preset, field, tmp_path):
    from psych_plugin.configs.checks import check_config
    from psych_plugin.configs.hardware import Hardware
    from psych_plugin.configs.templates import render, resolve_preset

    path = tmp_path / f"{preset}.yml"
    path.write_text(render(resolve_preset(preset, [])))
    cpu = Hardware(cuda=False, flash_attn=False, bitsandbytes=True)
    gpu = Hardware(cuda=True, flash_attn=True, bitsandbytes=True)
    assert field in {p.field for p in check_config(path, cpu) if p.severity == "warning"}
    assert field not in {p.field for p in check_config(path, gpu)}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(max_size=200)
    | st.builds(
        yaml.safe_dump,
        st.dictionaries(
            st.sampled_from(
                ["base_model", "adapter", "lora_r", "datasets", "sequence_len", "plugins", "x"]
            ),
            json_values,
            max_size=4,
        ),
    )
)
def test_check_config_arbitrary_yaml(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("c") / "c.yml"
    path.write_text(text)
    try:
        code = main(["check-config", str(path)])
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    if code == 2:  # unreadable or not a mapping: one line on stderr, nothing else
        assert out.out == ""
        assert out.err.startswith(f"psych check-config: error: {path}") and out.err.count("\n") == 1
        return
    # One problem per printed line: split on "\n" only (a YAML key may hold \x1e or \x85, which
    # str.splitlines() would also split on), and a key may hold spaces.
    lines = out.out.rstrip("\n").split("\n")
    errors = sum(": warning: " not in line for line in lines[:-1])
    assert lines[-1] == (
        f"{'FAILED' if errors else 'ok'}: check-config {path}: {errors} error(s), "
        f"{len(lines) - 1 - errors} warning(s)"
    )
    assert code == (1 if errors else 0)
    for line in lines[:-1]:
        assert re.match(rf"^{re.escape(str(path))}:\d+: .+: .+", line, re.S), line
