"""`psych merge`: Axolotl's own merge (`axolotl.cli.merge_lora`), then a check that the merged
weights compute what base + adapter computes, on a few real prompts."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import open_safetensors_to_umask
from ..problems import UsageError
from ..prompts import render_prompt
from .inference import RunPaths, check_adapter, nf4_config, prompt_settings

# The merged model must reproduce the adapter's effect: max |merged - (base + adapter)| over
# max |(base + adapter) - base|, on the logits of real prompts. Measured on the tiny model:
# 0.002 for QLoRA once the full-precision tensors are restored (0.13 before: Axolotl's merge had
# quantized the embeddings).
TOLERANCE = 1e-2
# QLoRA training keeps these in full precision (bitsandbytes quantizes Linear layers, never the
# embeddings or the output head), but Axolotl 0.19's merge puts every 2-D tensor through its NF4
# round trip. `restore_full_precision` puts the trained values back.
FULL_PRECISION_SUFFIXES = ("embed_tokens.weight", "lm_head.weight")


@dataclass
class MergeCheck:
    merged_dir: Path
    max_abs_diff: float  # merged vs base + adapter
    adapter_effect: float  # base + adapter vs base
    tolerance: float
    restored: list[str]

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.adapter_effect, 1e-12)

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance


def run_axolotl_merge(config: Path) -> None:
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "axolotl.cli.merge_lora", str(config)],
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"axolotl.cli.merge_lora {config} failed (exit {done.returncode})")


def reference_model(paths: RunPaths) -> Any:
    """The model as trained: the base (4-bit when it was trained so) plus the adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if paths.load_in_4bit:
        kwargs["quantization_config"] = nf4_config(torch.float32)
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, **kwargs)
    return PeftModel.from_pretrained(base, paths.adapter_dir).eval()


def compare_logits(paths: RunPaths, merged_dir: Path, questions: list[str]) -> MergeCheck:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    settings = prompt_settings(paths, use_adapter=True)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    reference = reference_model(paths)
    worst, effect = 0.0, 0.0
    with torch.no_grad():
        for q in questions:
            ids = tokenizer(
                render_prompt(settings, tokenizer, q), return_tensors="pt", add_special_tokens=False
            ).input_ids
            tuned = reference(input_ids=ids).logits.float()
            with reference.disable_adapter():
                base = reference(input_ids=ids).logits.float()
            out = merged(input_ids=ids).logits.float()
            worst = max(worst, float((tuned - out).abs().max()))
            effect = max(effect, float((tuned - base).abs().max()))
    return MergeCheck(merged_dir, worst, effect, TOLERANCE, [])


def _base_dir(base_model: str) -> Path:
    local = Path(base_model)
    if local.is_dir():
        return local
    from huggingface_hub import snapshot_download

    # Training downloaded it; offline here is fine and never fetches anything new.
    return Path(snapshot_download(base_model, local_files_only=True))


def restore_full_precision(base_dir: Path, merged_dir: Path) -> list[str]:
    """Put back the base's tensors that QLoRA training never quantized; the names restored."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    originals: dict[str, Any] = {}
    for f in sorted(base_dir.glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            for key in h.keys():  # noqa: SIM118 - safe_open handles are not mappings
                if key.endswith(FULL_PRECISION_SUFFIXES):
                    originals[key] = h.get_tensor(key)
    restored = []
    for f in sorted(merged_dir.glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            metadata = h.metadata()
        tensors = load_file(str(f))
        changed = [
            k
            for k in tensors
            if k in originals and not torch.equal(tensors[k], originals[k].to(tensors[k].dtype))
        ]
        if not changed:
            continue
        for key in changed:
            tensors[key] = originals[key].to(tensors[key].dtype).contiguous()
        tmp = f.with_name(f".{f.name}.tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, f)
        restored += changed
    return sorted(restored)


def merge(paths: RunPaths, questions: list[str]) -> MergeCheck:
    check_adapter(paths)
    run_axolotl_merge(paths.config)
    merged_dir = paths.adapter_dir / "merged"
    if not (merged_dir / "config.json").is_file():
        raise UsageError(f"{merged_dir}: Axolotl's merge wrote no model")
    restored = (
        restore_full_precision(_base_dir(paths.base_model), merged_dir)
        if paths.load_in_4bit
        else []
    )
    open_safetensors_to_umask(merged_dir)
    check = compare_logits(paths, merged_dir, questions)
    check.restored = restored
    return check
