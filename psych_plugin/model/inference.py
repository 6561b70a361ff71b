"""Load a trained run for inference: base model (+ adapter), tokenizer and the prompt settings
saved next to the adapter, so every consumer sends exactly the training prompt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs.templates import read_yaml
from ..paths import ADAPTER_CONFIG, ADAPTER_FILES, missing_adapter_files, resolve, run_output_dir
from ..problems import UsageError, read_json_object
from ..prompts import SETTINGS_FILE, PromptSettings, render_prompt


@dataclass
class RunPaths:
    config: Path
    base_model: str
    adapter_dir: Path
    load_in_4bit: bool


def run_paths(config: Path) -> RunPaths:
    """Base model and adapter folder, read from the training YAML."""
    if not config.is_file():
        raise UsageError(f"{config}: no such training config (run `make train` or `psych config`)")
    cfg = read_yaml(config)
    base = str(cfg.get("base_model") or "")
    if not base:
        raise UsageError(f"{config}: no base_model")
    local = resolve(base)
    return RunPaths(
        config=config,
        base_model=str(local) if local.exists() else base,
        adapter_dir=run_output_dir(cfg),
        load_in_4bit=bool(cfg.get("load_in_4bit")),
    )


def check_adapter(paths: RunPaths) -> dict[str, Any]:
    """The adapter's config, after checking it exists and was trained on this base model."""
    if missing_adapter_files(paths.adapter_dir):
        raise UsageError(
            f"{paths.adapter_dir}: no trained adapter here "
            f"({', '.join(sorted(ADAPTER_FILES))}); run `make train` first"
        )
    adapter_cfg = paths.adapter_dir / ADAPTER_CONFIG
    data = read_json_object(adapter_cfg, "adapter config")
    trained_on = str(data.get("base_model_name_or_path") or "")
    if trained_on and not _same_model(trained_on, paths.base_model):
        raise UsageError(
            f"{paths.adapter_dir}: adapter was trained on {trained_on!r}, "
            f"not on {paths.base_model!r}"
        )
    return data


def _same_model(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a.rstrip("/") == b.rstrip("/")


def nf4_config(compute_dtype: Any) -> Any:
    """The 4-bit settings the QLoRA presets train with (NF4, double quantisation), so a model
    loaded for inference or a merge check is the model that was trained."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def has_cuda() -> bool:
    """The one hardware detector (configs.hardware, which the Makefile asks too)."""
    from ..configs.hardware import has_cuda_gpu

    return has_cuda_gpu()


def prompt_settings(paths: RunPaths, use_adapter: bool) -> PromptSettings:
    saved = paths.adapter_dir / SETTINGS_FILE
    if saved.is_file():
        return PromptSettings.load(paths.adapter_dir)
    if use_adapter:
        raise UsageError(f"{saved}: missing; this adapter was not trained with psych_plugin")
    return PromptSettings.from_cfg(read_yaml(paths.config))


def load_model(
    paths: RunPaths, use_adapter: bool = True, load_in_4bit: bool | None = None
) -> tuple[Any, Any, PromptSettings]:
    """(model, tokenizer, settings). 4-bit follows the training config unless told otherwise;
    it needs a GPU for inference speed and is refused on CPU when asked for explicitly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if use_adapter:
        check_adapter(paths)
    settings = prompt_settings(paths, use_adapter)
    from ..configs.hardware import torch_cuda_problem

    # The one detector (the Makefile's too); a driver torch cannot use is an error, not CPU.
    cuda = has_cuda()
    problem = torch_cuda_problem() if cuda else None
    if problem:
        raise UsageError(problem)
    if load_in_4bit and not cuda:
        raise UsageError("--load-in-4bit needs a CUDA GPU; none found (drop the flag on CPU)")
    four_bit = paths.load_in_4bit if load_in_4bit is None else load_in_4bit
    four_bit = four_bit and cuda
    kwargs: dict[str, Any] = {}
    if four_bit:
        kwargs["quantization_config"] = nf4_config(torch.bfloat16)
    if cuda:
        kwargs["device_map"] = "auto"
        kwargs["dtype"] = torch.bfloat16
    tokenizer_dir = (
        paths.adapter_dir
        if (paths.adapter_dir / "tokenizer_config.json").is_file()
        else paths.base_model
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        model = AutoModelForCausalLM.from_pretrained(paths.base_model, **kwargs)
    except OSError as e:
        raise UsageError(f"cannot load {paths.base_model}: {str(e).splitlines()[0]}") from e
    if use_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, paths.adapter_dir)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, settings


def generate_answers(
    model: Any,
    tokenizer: Any,
    settings: PromptSettings,
    rows: list[dict[str, Any]],
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    streamer: Any = None,
) -> list[str]:
    """Answers to Alpaca rows (instruction, input, category), each rendered with the training
    template; greedy unless temperature > 0. One batch, left-padded."""
    import torch

    prompts = [
        render_prompt(
            settings, tokenizer, r["instruction"], r.get("input") or "", r.get("category")
        )
        for r in rows
    ]
    tokenizer.padding_side = "left"  # generation continues from the right edge
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    enc = enc.to(model.device)
    sampling = (
        {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    )
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            streamer=streamer,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
