"""psych_plugin/configs/memory.py: the GPU memory estimate, pinned to figures counted by hand
from Qwen3-1.7B's config.json."""

from __future__ import annotations

import json

import pytest

from psych_plugin.configs.memory import GiB, estimate_memory
from psych_plugin.configs.templates import resolve_preset
from psych_plugin.paths import MODEL_CONFIGS_DIR
from tests.conftest import REPO

QWEN3 = json.loads((MODEL_CONFIGS_DIR / "Qwen--Qwen3-1.7B.json").read_text())

# Qwen3-1.7B counted by hand from its config.json (hidden 2048, 28 layers, 16 query heads and
# 8 key/value heads of 128, MLP 6144, vocabulary 151,936, tied embeddings):
# per layer q 2048*2048 + k, v 2048*1024 + o 2048*2048 + gate, up, down 2048*6144.
LINEAR = 28 * (2 * 2048 * 2048 + 2 * 2048 * 1024 + 3 * 2048 * 6144)  # 1,409,286,144
# embeddings (the head is tied) + per-layer norms (2 of 2048, q/k norms of 128) + final norm
OTHER = 151936 * 2048 + 28 * (2 * 2048 + 2 * 128) + 2048  # 311,288,832
# LoRA r=16 on all seven projections: r * (in + out) each
LORA_16 = 28 * 16 * (2 * 4096 + 2 * 3072 + 3 * 8192)  # 17,432,576


def test_param_counts_match_the_architecture():
    assert LINEAR == 1_409_286_144 and OTHER == 311_288_832 and LORA_16 == 17_432_576


def test_memory_estimate_qlora_preset_exact():
    cfg = resolve_preset("qwen3-1.7b-qlora").config
    parts = estimate_memory(cfg, QWEN3).parts
    tokens = 2 * 2048  # micro_batch_size 2, sequence_len 2048
    assert parts == {
        "base weights, 4-bit (NF4) (1.72B params)": LINEAR * 0.5 * 1.03 + OTHER * 2,
        "LoRA weights + grads, fp32 (17.4M params)": LORA_16 * 8,
        "optimizer state (paged_adamw_8bit)": LORA_16 * 2,
        # gradient checkpointing: one hidden state per layer kept + one layer's intermediates
        "activations (4096 tokens/micro-batch)": 28 * tokens * 2048 * 2
        + tokens * (10 * 2048 + 3 * 6144) * 2,
        "logits + grad (fp32)": tokens * 151936 * 8,
        "CUDA context and allocator slack": 0.6 * GiB,
    }
    estimate = estimate_memory(cfg, QWEN3)
    assert estimate.total / GiB == pytest.approx(7.389, abs=0.001)  # the README's 7.4 GiB
    lines = estimate.lines()
    assert lines[-1].split() == ["total", "(estimate)", "7.39", "GiB"]
    assert lines[0].endswith("  1.26 GiB") and len(lines) == 7


@pytest.mark.parametrize(
    ("sets", "weights", "label"),
    [
        # 16-bit LoRA: every weight in bf16
        (["adapter=lora", "load_in_4bit=false", "bf16=true"], (LINEAR + OTHER) * 2, "16-bit"),
        # bf16 and fp16 both off: an fp32 base
        (["adapter=lora", "load_in_4bit=false", "bf16=false"], (LINEAR + OTHER) * 4, "32-bit"),
        (
            ["adapter=lora", "load_in_4bit=false", "load_in_8bit=true"],
            LINEAR * 1.02 + OTHER * 2,
            "8-bit",
        ),
    ],
)
def test_memory_estimate_base_precision(sets, weights, label):
    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    parts = estimate_memory(cfg, QWEN3).parts
    assert parts[f"base weights, {label} (1.72B params)"] == weights


def test_memory_estimate_full_finetune_and_options():
    cfg = resolve_preset(
        "qwen3-1.7b-qlora",
        [
            "adapter=null",
            "load_in_4bit=false",
            "optimizer=adamw_torch",
            "gradient_checkpointing=false",
            "micro_batch_size=1",
            "sequence_len=512",
        ],
    ).config
    parts = estimate_memory(cfg, QWEN3).parts
    total = LINEAR + OTHER
    assert parts[f"LoRA weights + grads, fp32 ({total / 1e6:.1f}M params)"] == total * 8
    assert parts["optimizer state (adamw_torch)"] == total * 8  # two fp32 moments
    # no checkpointing: every layer keeps its intermediates
    assert parts["activations (512 tokens/micro-batch)"] == 28 * 512 * (10 * 2048 + 3 * 6144) * 2
    assert parts["logits + grad (fp32)"] == 512 * 151936 * 8


def test_memory_estimate_lora_rank_and_targets():
    cfg = resolve_preset(
        "qwen3-1.7b-qlora", ["lora_r=8", "lora_target_modules=[q_proj, v_proj]"]
    ).config
    lora = 28 * 8 * ((2048 + 2048) + (2048 + 1024))
    assert estimate_memory(cfg, QWEN3).parts[
        f"LoRA weights + grads, fp32 ({lora / 1e6:.1f}M params)"
    ] == (lora * 8)
    # lora_target_linear: every Linear but the head, i.e. the seven projections at r=8
    cfg = resolve_preset(
        "qwen3-1.7b-qlora", ["lora_r=8", "lora_target_modules=null", "lora_target_linear=true"]
    ).config
    parts = estimate_memory(cfg, QWEN3).parts
    assert parts["LoRA weights + grads, fp32 (8.7M params)"] == LORA_16 // 2 * 8


def test_memory_estimate_without_intermediate_size():
    # GPT-2 names its MLP width n_inner (None: 4 x hidden); the estimate falls back to that.
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 2, "vocab_size": 100}
    gpt2.update(n_positions=128, bos_token_id=0, eos_token_id=0)
    cfg = {"micro_batch_size": 1, "sequence_len": 16, "adapter": "lora", "bf16": True}
    parts = estimate_memory(cfg, gpt2).parts
    assert parts["activations (16 tokens/micro-batch)"] == 2 * 16 * (10 * 64 + 3 * 256) * 2
    assert parts["logits + grad (fp32)"] == 16 * 100 * 8


def test_memory_estimate_defaults_for_unset_keys():
    """Keys a YAML may leave out get Axolotl's and PEFT's defaults: micro_batch_size 1,
    sequence_len 2048, lora_r 8, adamw_torch (fp32 moments), fp32 base without bf16/fp16."""
    cfg = {"adapter": "lora", "lora_target_modules": ["q_proj"]}
    parts = estimate_memory(cfg, QWEN3).parts
    lora = 28 * 8 * (2048 + 2048)
    assert parts == {
        "base weights, 32-bit (1.72B params)": (LINEAR + OTHER) * 4,
        "LoRA weights + grads, fp32 (0.9M params)": lora * 8,
        "optimizer state (adamw_torch)": lora * 8,
        "activations (2048 tokens/micro-batch)": 28 * 2048 * (10 * 2048 + 3 * 6144) * 2,
        "logits + grad (fp32)": 2048 * 151936 * 8,
        "CUDA context and allocator slack": 0.6 * GiB,
    }
    # fp16 halves the base like bf16 does
    fp16 = estimate_memory({**cfg, "fp16": True}, QWEN3).parts
    assert fp16["base weights, 16-bit (1.72B params)"] == (LINEAR + OTHER) * 2


def qwen3_params() -> dict[str, int]:
    """Qwen3-1.7B's parameter counts by hand from its published config.json (no model built)."""
    import json

    c = json.loads(
        (REPO / "psych_plugin/resources/model_configs/Qwen--Qwen3-1.7B.json").read_text()
    )
    h, inter, layers, hd = (
        c["hidden_size"],
        c["intermediate_size"],
        c["num_hidden_layers"],
        c["head_dim"],
    )
    q = h * c["num_attention_heads"] * hd
    kv = h * c["num_key_value_heads"] * hd
    linear = layers * (2 * q + 2 * kv + 3 * h * inter)
    embed = c["vocab_size"] * h  # tied with lm_head
    r = 16
    shapes = [
        (h, c["num_attention_heads"] * hd),
        (h, c["num_key_value_heads"] * hd),
        (h, c["num_key_value_heads"] * hd),
        (c["num_attention_heads"] * hd, h),
        (h, inter),
        (h, inter),
        (inter, h),
    ]
    lora = layers * sum(r * (a + b) for a, b in shapes)
    return {"linear": linear, "embed": embed, "lora": lora, "vocab": c["vocab_size"], "h": h}


@pytest.mark.parametrize("sets", [[], ["micro_batch_size=1", "sequence_len=1024"]])
def test_memory_estimate_within_2x_of_a_hand_derivation(sets):
    from psych_plugin.configs.architecture import model_config_for
    from psych_plugin.configs.memory import GiB, estimate_memory

    cfg = resolve_preset("qwen3-1.7b-qlora", sets).config
    model_config, _ = model_config_for(cfg["base_model"])
    estimate = estimate_memory(cfg, model_config)
    p = qwen3_params()
    tokens = cfg["micro_batch_size"] * cfg["sequence_len"]
    expected = (
        p["linear"] * 0.5  # NF4 weights
        + p["embed"] * 2  # bf16 embedding (never quantized)
        + p["lora"] * (4 + 4 + 2)  # fp32 LoRA weights and grads, 8-bit Adam (2 states)
        + tokens * p["vocab"] * 4 * 2  # fp32 logits and their gradient
        + 28 * tokens * p["h"] * 2  # checkpointed layer inputs, bf16
        + 0.5 * GiB  # CUDA context
    )
    ratio = estimate.total / expected
    assert 0.5 < ratio < 2, (estimate.lines(), expected / GiB)
    weights = next(v for k, v in estimate.parts.items() if k.startswith("base weights"))
    assert abs(weights / (p["linear"] * 0.5 + p["embed"] * 2) - 1) < 0.1
