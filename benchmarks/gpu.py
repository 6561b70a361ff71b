"""`make bench-gpu`: the corrected preset vs the guide's literal config, trained through Axolotl
for the same steps on the same data, with `psych config`'s memory estimate beside the measure.

On a CUDA GPU the model is the full Qwen3-1.7B architecture, built from the shipped config.json
with random weights (no hub; throughput and memory do not depend on the weights). On a CPU the
same code runs at tiny scale (the same config.json, shrunk), so the test suite exercises it; its
figures then say "CPU, tiny model" and say nothing about a GPU.

Contenders (each in its own process, so memory peaks and Axolotl's patches do not mix):
- preset: qwen3-1.7b-qlora as generated (sdpa, packed rows, 7 LoRA targets, checkpointing);
- guide: tests/fixtures/guide_config.yml, the guide's YAML as written (base model and data
  pointed at the same ones);
- on a GPU only, when importable: the preset with Liger kernels, with Cut Cross Entropy (Qwen3's
  151,936-token vocabulary makes the logits the largest activation), with flash_attention_2.

Writes JSON (--out), the table as Markdown beside it (gpu.md), and, with --docs, the table
between the bench-gpu markers of that page (docs/benchmarks.md): generated figures never go
into the README.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GUIDE = ROOT / "tests" / "fixtures" / "guide_config.yml"
DATA = ROOT / "data" / "psychology_alpaca.jsonl"
MARK_START = "<!-- bench-gpu:start -->"
MARK_END = "<!-- bench-gpu:end -->"
GiB = 1024**3
# What a CPU cannot run, replaced for the tiny-scale run only (the tiny-cpu preset's choices).
CPU_OVERRIDES: dict[str, Any] = {
    "bf16": False,
    "fp16": False,
    "tf32": False,
    "optimizer": "adamw_torch",
    "lora_mlp_kernel": False,
    "lora_qkv_kernel": False,
    "lora_o_kernel": False,
    "sequence_len": 512,
    "micro_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "dataloader_num_workers": 0,
}


def on_gpu() -> bool:
    from psych_plugin.configs.hardware import has_cuda_gpu

    if not has_cuda_gpu():
        return False
    import torch

    return torch.cuda.is_available()


def build_model(cache: Path, gpu: bool) -> Path:
    """Qwen3-1.7B's architecture from the shipped config.json, random weights, saved with a
    tokenizer (the embedded tiny model's: token ids are all the benchmark needs)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from psych_plugin.configs.architecture import model_config_for
    from psych_plugin.model.tiny import MODEL_SHAPE, ensure_tiny_model

    name = "qwen3-1.7b-random" if gpu else "qwen3-tiny-random"
    out = cache / name
    if (out / "config.json").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model())
    spec, _ = model_config_for("Qwen/Qwen3-1.7B")
    assert spec is not None, "the shipped Qwen3-1.7B config.json is missing"
    # The tokenizer's special ids, so generation settings stay inside the vocabulary.
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    spec = {**spec, **ids, "pad_token_id": tokenizer.pad_token_id}
    if not gpu:
        # The shipped Qwen3-1.7B config.json shrunk to the embedded tiny model's shape.
        dims = {k: v for k, v in MODEL_SHAPE.items() if k != "max_position_embeddings"}
        spec = {**spec, **dims, "vocab_size": len(tokenizer)}
    config = AutoConfig.for_model(**spec)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if gpu else torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)  # atomic: a killed build leaves no half model behind
    return out


def contender_configs(model: Path, work: Path, steps: int, gpu: bool) -> dict[str, dict]:
    import yaml

    from psych_plugin.configs.hardware import module_importable
    from psych_plugin.configs.templates import resolve_preset

    common = {
        "base_model": str(model),
        "max_steps": steps,
        "save_strategy": "no",
        "num_epochs": 1,
        "logging_steps": 1,
        "seed": 0,
    }
    preset = resolve_preset("qwen3-1.7b-qlora").config
    preset.pop("test_datasets", None)  # evaluation is not what is measured
    preset.pop("auto_resume_from_checkpoints", None)
    preset.update(common, eval_strategy="no", saves_per_epoch=None, evals_per_epoch=None)
    preset["datasets"][0]["path"] = str(DATA)
    guide = yaml.safe_load(GUIDE.read_text())
    guide.update(common, save_steps=None, warmup_steps=min(guide["warmup_steps"], steps))
    guide["datasets"][0]["path"] = str(DATA)
    configs = {"preset": preset, "guide": guide}
    if gpu:
        if module_importable("liger_kernel"):
            configs["preset + Liger"] = {
                **preset,
                "plugins": [*preset["plugins"], "axolotl.integrations.liger.LigerPlugin"],
                "liger_rope": True,
                "liger_rms_norm": True,
                "liger_glu_activation": True,
                "liger_fused_linear_cross_entropy": True,
            }
        if module_importable("cut_cross_entropy"):
            configs["preset + Cut Cross Entropy"] = {
                **preset,
                "plugins": [
                    *preset["plugins"],
                    "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin",
                ],
                "cut_cross_entropy": True,
            }
        if module_importable("flash_attn"):
            configs["preset + flash_attention_2"] = {
                **preset,
                "attn_implementation": "flash_attention_2",
            }
    out = {}
    for i, (name, cfg) in enumerate(configs.items()):
        cfg = {k: v for k, v in cfg.items() if v is not None}
        if not gpu:
            cfg.update(CPU_OVERRIDES)
        cfg["output_dir"] = str(work / f"out{i}")
        cfg["dataset_prepared_path"] = str(work / f"prepared{i}")
        out[name] = cfg
    return out


# ---------------------------------------------------------------- worker (one contender)


def worker(config: Path, warmup: int) -> dict[str, Any]:
    """Train CONFIG through Axolotl's own functions; time the steps after `warmup`."""
    import resource

    import torch
    from axolotl.cli.args import TrainerCliArgs
    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets
    from axolotl.integrations.base import PluginManager
    from axolotl.train import setup_model_and_trainer
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()
    cfg = load_cfg(str(config))
    meta = PluginManager.get_instance().load_datasets(cfg, preprocess=False)
    meta = meta or load_datasets(cfg=cfg, cli_args=TrainerCliArgs())
    trainer, model, tokenizer, _, _ = setup_model_and_trainer(cfg, meta)
    pad = tokenizer.pad_token_id
    counter = {"tokens": 0}

    def count_tokens(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        if ids is None:
            return
        real = mask.bool() if mask is not None and mask.dim() == 2 else ids != pad
        counter["tokens"] += int(real.sum())

    model.register_forward_pre_hook(count_tokens, with_kwargs=True)

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[tuple[float, int]] = []
            self.start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            if cuda:
                torch.cuda.synchronize()
            counter["tokens"] = 0
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if cuda:
                torch.cuda.synchronize()
            self.steps.append((time.perf_counter() - self.start, counter["tokens"]))

    timer = Timer()
    trainer.add_callback(timer)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    measured = timer.steps[warmup:] or timer.steps
    seconds = sum(s for s, _ in measured)
    tokens = sum(t for _, t in measured)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "steps": len(timer.steps),
        "measured_steps": len(measured),
        "step_time_s": statistics.median(s for s, _ in measured),
        "tokens_per_step": tokens / len(measured),
        "tokens_per_s": tokens / seconds,
        "peak_allocated_gib": torch.cuda.max_memory_allocated() / GiB if cuda else None,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / GiB if cuda else None,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


# ---------------------------------------------------------------- orchestration


def run_contender(name: str, cfg: dict, work: Path, warmup: int, timeout: int) -> dict:
    import yaml

    from psych_plugin.configs.architecture import model_config_for
    from psych_plugin.configs.memory import estimate_memory

    path = work / f"{name.replace(' ', '_').replace('+', 'plus')}.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {
        **os.environ,
        "AXOLOTL_DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, __file__, "--worker", str(path), "--warmup", str(warmup)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [x for x in done.stdout.splitlines() if x.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{name}: the training run failed:\n" + "\n".join(tail))
    result = json.loads(lines[-1].removeprefix("BENCH "))
    model_config, _ = model_config_for(str(cfg["base_model"]))
    estimate = estimate_memory(cfg, model_config) if model_config else None
    result["estimate_gib"] = estimate.total / GiB if estimate else None
    return {"contender": name, **result}


def table(results: list[dict], scale: str) -> list[str]:
    def gib(v: float | None) -> str:
        return f"{v:.2f} GiB" if v is not None else "n/a (CPU)"

    base = next(r for r in results if r["contender"] == "guide")["tokens_per_s"]
    lines = [
        f"| contender ({scale}) | tokens/s | vs guide | step time | peak allocated | "
        "peak reserved | estimate | loss first -> last |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['contender']} | {r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / base:.2f} | "
            f"{r['step_time_s']:.3f} s | {gib(r['peak_allocated_gib'])} | "
            f"{gib(r['peak_reserved_gib'])} | {gib(r['estimate_gib'])} | "
            f"{r['first_loss']:.2f} -> {r['last_loss']:.2f} |"
        )
    return lines


def generated_section(page: Path) -> tuple[str, int, int]:
    """`page`'s text and where its generated section starts and ends. Checked before any
    training too, so a wrong --docs fails in seconds, not after the run."""
    try:
        text = page.read_text(encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"{page}: cannot read: {e.strerror or e}") from None
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < start:
        raise SystemExit(f"{page}: no {MARK_START} ... {MARK_END} section to update")
    return text, start, end


def update_docs(page: Path, lines: list[str], note: str) -> None:
    """Replace the generated section of `page`, between the markers; the rest is prose someone
    wrote and stays as it is."""
    from psych_plugin.atomic import write_text_atomic

    text, start, end = generated_section(page)
    block = "\n".join([MARK_START, note, "", *lines, MARK_END])
    write_text_atomic(page, text[:start] + block + text[end + len(MARK_END) :])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, help="training steps per contender (GPU 30, CPU 4)")
    p.add_argument("--warmup", type=int, help="first steps not timed (GPU 5, CPU 1)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu.json")
    p.add_argument(
        "--docs",
        type=Path,
        help="update the generated bench-gpu section of this page (make: docs/benchmarks.md)",
    )
    p.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per contender")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print("BENCH " + json.dumps(worker(args.worker, args.warmup or 0)), flush=True)
        return 0
    if args.docs:
        generated_section(args.docs)

    gpu = on_gpu()
    steps = args.steps or (30 if gpu else 4)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    if gpu:
        import torch

        scale = f"GPU, {torch.cuda.get_device_name(0)}, Qwen3-1.7B architecture"
    else:
        scale = "CPU, tiny model"
    print(f"bench-gpu: {scale}; {steps} steps per contender, first {warmup} not timed")
    import tempfile

    model = build_model(args.cache, gpu)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        results = []
        for name, cfg in contender_configs(model, work, steps, gpu).items():
            print(f"  training: {name} ...", flush=True)
            results.append(run_contender(name, cfg, work, warmup, args.timeout))
    lines = table(results, scale)
    print("\n".join(lines))
    note = (
        f"Measured by `make bench-gpu` ({scale}; {steps} steps per contender, the first "
        f"{warmup} not timed; tokens are non-padding input tokens; estimate: `psych config`)."
    )
    if not gpu:
        note += " CPU, tiny model: proves the benchmark runs, says nothing about a GPU."
    from psych_plugin.atomic import write_text_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"scale": scale, "gpu": gpu, "steps": steps, "warmup": warmup, "results": results}
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    table_md = args.out.with_suffix(".md")
    write_text_atomic(table_md, "\n".join([note, "", *lines]) + "\n")
    print(f"wrote {args.out} and {table_md}")
    if args.docs:
        update_docs(args.docs, lines, note)
        print(f"updated the bench-gpu section of {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
