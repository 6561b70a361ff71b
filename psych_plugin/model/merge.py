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
from ..configs.templates import read_yaml
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
# QLoRA: Axolotl's merge adds the adapter to its own NF4 round trip of the base, in float32;
# the 4-bit layers that trained it dequantize to the checkpoint's dtype (bf16 for Qwen3 and the
# tiny model, even on a CPU). Against that 4-bit model, a correct merge of a short run's small
# adapter was off by 5% of the adapter's effect: noise of the base, not of the merge. So a
# QLoRA merge is checked in two parts, each tight: the merge's arithmetic against the merge's
# own base + the adapter (TOLERANCE of the adapter's effect), and that base against the
# trained 4-bit base, within this share of the logits' range. Measured on the tiny model (CPU):
# 1.25% (1.98% when the merge rounds without the double quantization training used); a merge
# on the full-precision base, which training never saw, is off by 17%.
BASE_TOLERANCE = 5e-2


@dataclass
class MergeCheck:
    merged_dir: Path
    max_abs_diff: float  # merged vs base + adapter (QLoRA: the merge's base + adapter)
    adapter_effect: float  # base + adapter vs base
    tolerance: float
    restored: list[str]
    # QLoRA only (None otherwise): the merge's base vs the trained 4-bit base, and the range of
    # the trained base's logits.
    base_diff: float | None = None
    logit_range: float | None = None
    base_tolerance: float = BASE_TOLERANCE

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.adapter_effect, 1e-12)

    @property
    def base_relative(self) -> float | None:
        if self.base_diff is None or self.logit_range is None:
            return None
        return self.base_diff / max(self.logit_range, 1e-12)

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def problem(self) -> str:
        """Why the merged model fails the check, in a few words; "" when it passes."""
        if not self.relative <= self.tolerance:  # NaN fails too
            return f"{self.relative:.3f} of the adapter's effect > {self.tolerance:g}"
        base = self.base_relative
        if base is not None and not base <= self.base_tolerance:
            return (
                f"the merge's base differs from the trained 4-bit base by {base:.4f} of the "
                f"logits' range > {self.base_tolerance:g}"
            )
        return ""


def run_axolotl_merge(config: Path) -> None:
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "axolotl.cli.merge_lora", str(config)],
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"axolotl.cli.merge_lora {config} failed (exit {done.returncode})")


def trained_base(paths: RunPaths) -> Any:
    """The base as training saw it: 4-bit when it was trained so."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if paths.load_in_4bit:
        kwargs["quantization_config"] = nf4_config(torch.float32)
    return AutoModelForCausalLM.from_pretrained(paths.base_model, **kwargs).eval()


def reference_model(paths: RunPaths) -> Any:
    """The model as trained: the base as training saw it plus the adapter."""
    from peft import PeftModel

    return PeftModel.from_pretrained(trained_base(paths), paths.adapter_dir).eval()


def nf4_round_trip(tensor: Any, blocksize: int | None, double_quant: bool, device: str) -> Any:
    """`tensor` quantized to NF4 and back, by bitsandbytes, exactly as Axolotl 0.19's merge
    does it (`axolotl.cli.utils.lora_merge._simulate_nf4_roundtrip`: flattened, float32, on
    `device`; tested bit for bit against it). Not imported from there: importing axolotl.cli
    wraps sys.stdout and sys.stderr for good (colorama), which a caller's streams should not
    suffer."""
    import bitsandbytes.functional as bnb_f
    import torch

    flat = tensor.reshape(-1).to(torch.float32).contiguous().to(device)
    kwargs: dict[str, Any] = {"quant_type": "nf4", "compress_statistics": double_quant}
    if blocksize is not None:
        kwargs["blocksize"] = blocksize
    quantized, state = bnb_f.quantize_4bit(flat, **kwargs)
    out = bnb_f.dequantize_4bit(quantized, state, quant_type="nf4")
    return out.reshape(tensor.shape).to(tensor.dtype).cpu()


def merge_base(paths: RunPaths) -> Any:
    """The base as Axolotl's QLoRA merge starts from it, in float32: every tensor of two or more
    dimensions through the NF4 round trip with the config's settings (as Axolotl's merge reads
    them), the full-precision tensors as `restore_full_precision` leaves them."""
    import torch
    from transformers import AutoModelForCausalLM

    cfg = read_yaml(paths.config)
    bnb = cfg.get("bnb_config_kwargs") or {}
    # As Axolotl 0.19's merge reads it: its fallback `getattr(cfg, ..., True)` never applies
    # (its config returns None for a missing key), so without bnb_config_kwargs it rounds
    # without the double quantization training used (see axolotl_configs: the presets set it).
    double = bool(bnb.get("bnb_4bit_use_double_quant", cfg.get("bnb_4bit_use_double_quant")))
    device = "cuda" if torch.cuda.is_available() else "cpu"  # as Axolotl's merge picks it
    model = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 and not name.endswith(FULL_PRECISION_SUFFIXES):
                p.copy_(nf4_round_trip(p.data, bnb.get("blocksize"), double, device))
    return model


def compare_logits(paths: RunPaths, merged_dir: Path, questions: list[str]) -> MergeCheck:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    settings = prompt_settings(paths, use_adapter=True)
    prompts = [
        tokenizer(
            render_prompt(settings, tokenizer, q), return_tensors="pt", add_special_tokens=False
        ).input_ids
        for q in questions
    ]
    trained_bases = []
    if paths.load_in_4bit:
        # The trained 4-bit base, alone (one model in memory at a time).
        model = trained_base(paths)
        with torch.no_grad():
            trained_bases = [model(input_ids=ids).logits.float() for ids in prompts]
        del model
        reference = PeftModel.from_pretrained(merge_base(paths), paths.adapter_dir).eval()
    else:
        reference = reference_model(paths)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    worst, effect, base_diff, span = 0.0, 0.0, 0.0, 0.0
    with torch.no_grad():
        for i, ids in enumerate(prompts):
            tuned = reference(input_ids=ids).logits.float()
            with reference.disable_adapter():
                base = reference(input_ids=ids).logits.float()
            out = merged(input_ids=ids).logits.float()
            worst = max(worst, float((tuned - out).abs().max()))
            effect = max(effect, float((tuned - base).abs().max()))
            if trained_bases:
                trained = trained_bases[i]
                base_diff = max(base_diff, float((base - trained).abs().max()))
                span = max(span, float(trained.max() - trained.min()))
    check = MergeCheck(merged_dir, worst, effect, TOLERANCE, [])
    if trained_bases:
        check.base_diff, check.logit_range = base_diff, span
    return check


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
