"""A first-order estimate of peak GPU memory for a config, from the base model's architecture
(built on the meta device, no weights). Good to a rough factor, to pick a GPU and batch size;
docs/benchmarks.md sets it next to the measured peak of a real run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .architecture import meta_model

GiB = 1024**3
CUDA_CONTEXT = 0.6 * GiB  # CUDA context, cuBLAS workspaces, allocator slack


@dataclass
class MemoryEstimate:
    parts: dict[str, float]  # bytes

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def lines(self) -> list[str]:
        width = max(len(k) for k in self.parts)
        out = [f"  {name:<{width}}  {b / GiB:6.2f} GiB" for name, b in self.parts.items()]
        out.append(f"  {'total (estimate)':<{width}}  {self.total / GiB:6.2f} GiB")
        return out


def estimate_memory(
    cfg: dict[str, Any], model_config: dict[str, Any], where: str = "the model config"
) -> MemoryEstimate:
    """Raises ArchitectureError when the architecture cannot be built from `model_config`."""
    import torch

    config, model = meta_model(model_config, where)
    hidden = config.hidden_size
    layers = config.num_hidden_layers
    inter = getattr(config, "intermediate_size", 4 * hidden)
    vocab = config.vocab_size

    total = sum(p.numel() for p in model.parameters())
    linear = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")
    }
    linear_params = sum(m.weight.numel() for m in linear.values())
    other = total - linear_params
    half = 2 if (cfg.get("bf16") or cfg.get("fp16")) else 4
    if cfg.get("load_in_4bit"):
        weights = linear_params * 0.5 * 1.03 + other * 2  # NF4 + double-quantised absmax
        precision = "4-bit (NF4)"
    elif cfg.get("load_in_8bit"):
        weights = linear_params * 1.02 + other * 2
        precision = "8-bit"
    else:
        weights = total * half
        precision = "16-bit" if half == 2 else "32-bit"

    r = int(cfg.get("lora_r") or 8)
    targets = cfg.get("lora_target_modules") or []
    # lora_target_linear: every Linear layer but the output head (PEFT's "all-linear").
    every = bool(cfg.get("lora_target_linear"))
    lora = (
        sum(
            r * (m.in_features + m.out_features)
            for n, m in linear.items()
            if every or any(n == t or n.endswith("." + t) for t in targets)
        )
        if cfg.get("adapter")
        else total
    )
    optimizer = str(cfg.get("optimizer") or "adamw_torch")
    opt_bytes = 2 if "8bit" in optimizer else 8

    tokens = int(cfg.get("micro_batch_size") or 1) * int(cfg.get("sequence_len") or 2048)
    per_layer = tokens * (10 * hidden + 3 * inter) * 2  # attention + MLP intermediates, bf16
    if cfg.get("gradient_checkpointing"):
        activations = layers * tokens * hidden * 2 + per_layer
    else:
        activations = layers * per_layer
    logits = tokens * vocab * 8  # fp32 logits and their gradient

    # Rounded counts for the labels (no mutants: a divisor of 1e9 + 1 prints the same digits).
    billions = f"{total / 1e9:.2f}B"  # pragma: no mutate
    millions = f"{lora / 1e6:.1f}M"  # pragma: no mutate
    return MemoryEstimate(
        {
            f"base weights, {precision} ({billions} params)": weights,
            f"LoRA weights + grads, fp32 ({millions} params)": lora * 8,
            f"optimizer state ({optimizer})": lora * opt_bytes,
            f"activations ({tokens} tokens/micro-batch)": activations,
            "logits + grad (fp32)": logits,
            "CUDA context and allocator slack": CUDA_CONTEXT,
        }
    )
