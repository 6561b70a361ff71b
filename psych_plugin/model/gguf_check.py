"""Is the exported GGUF the fine-tuned model? Ask llama.cpp itself.

Each GGUF is loaded in llama.cpp (llama-cpp-python), its own chat template renders the question,
and llama.cpp's tokens and logits are compared with the merged model in transformers, teacher-
forced along transformers' greedy answer: the prompt must be the training prompt token for
token, and the logits must agree within the tolerance of the GGUF's type. A wrong template, an
adapter left unmerged or a broken conversion fails these checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..prompts import PromptSettings, render_prompt

# Per type: the largest |logit difference| relative to the logits' own range, the smallest
# share of positions where llama.cpp's top token is transformers' top token, and the largest
# mean KL(transformers || llama.cpp). Measured (6 questions x 32 answer tokens; docs/export.md)
# on the tiny model and on SmolLM2-135M-Instruct, each with an adapter, worst of the two:
#   f32 0.06% / 99.5% / 0;  f16 0.12% / 100% / 0;  bf16 0.86% / 97.4% / 1.8e-4;
#   q8_0 4.1% / 93.2% / 4.4e-3;  q4_k_m 14.8% / 70.3% / 0.063.
# The tiny model with the adapter left out (f16): 37% / 17% / 0.30, outside every tolerance.
TOLERANCES: dict[str, tuple[float, float, float]] = {
    "f32": (2e-3, 0.95, 1e-4),
    "f16": (5e-3, 0.95, 5e-4),
    "bf16": (2e-2, 0.90, 2e-3),
    "q8_0": (8e-2, 0.85, 2e-2),
    "q4_k_m": (0.30, 0.60, 0.20),
}
# A full-precision GGUF's largest logit difference from the tuned model must stay below this
# share of the adapter's effect (tuned vs base): an export without the adapter is at 1. Measured
# at 0.002 (tiny) and 0.11 (SmolLM2 with a weak adapter, effect 0.55). Quantized files are
# exempt (8-bit noise alone exceeds a weak adapter's effect); they come from the same converted
# folder, and q4_k_m from the f16 file, so the f16 check covers their adapter too.
EFFECT_SHARE = 0.5
EFFECT_CHECKED = ("f32", "f16")


@dataclass
class GgufCheck:
    kind: str
    prompt_tokens_equal: bool  # llama.cpp's template + tokenizer gave the training prompt's ids
    positions: int = 0
    max_abs_diff: float = 0.0
    logit_range: float = 0.0
    top1_agreement: float = 0.0
    mean_kl: float = 0.0
    greedy_prefix: int = 0  # leading answer tokens on which llama.cpp's greedy choice agrees
    adapter_effect: float | None = None  # max |tuned - base| logits, when the base was given
    answer_tokens: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.logit_range, 1e-12)

    @property
    def ok(self) -> bool:
        return not self.problems


def _log_softmax(x: Any) -> Any:
    import numpy as np

    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def reference_logits(
    model: Any, base: Any, prompt_ids: list[int], n: int
) -> tuple[list[int], Any, Any]:
    """transformers' greedy answer (up to n tokens, as `generate` gives it) and, at every answer
    position, the logits of `model` and of `base` (None: no base given)."""
    import torch

    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=model.generation_config.pad_token_id,
        )
        full = out[0]
        answer = full[len(prompt_ids) :].tolist()
        window = slice(len(prompt_ids) - 1, len(full) - 1)
        tuned = model(input_ids=full[None]).logits[0, window].float().numpy()
        plain = base(input_ids=full[None]).logits[0, window].float().numpy() if base else None
    return answer, tuned, plain


def check_gguf(
    gguf: Path,
    kind: str,
    model: Any,
    tokenizer: Any,
    settings: PromptSettings,
    questions: Sequence[str],
    base: Any = None,
    answer_tokens: int = 24,
) -> GgufCheck:
    """Compare `gguf` (in llama.cpp) with `model` (the merged model, in transformers, float32).
    With `base` (the base model alone), also measure the adapter's own effect on the logits: the
    GGUF must be far closer to the tuned model than the base is."""
    import numpy as np
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = Llama(
        model_path=str(gguf), n_ctx=2048, logits_all=True, verbose=False, n_threads=None, seed=0
    )
    template = llm.metadata.get("tokenizer.chat_template", "")
    formatter = Jinja2ChatFormatter(template, eos_token="", bos_token="")
    check = GgufCheck(kind, prompt_tokens_equal=True)
    diffs, ranges, agree, kls, effects = [], [], 0, [], []
    for q in questions:
        training = render_prompt(settings, tokenizer, q)
        want = tokenizer(training, add_special_tokens=False).input_ids
        served = formatter(messages=[{"role": "user", "content": q}]).prompt
        got = llm.tokenize(served.encode("utf-8"), add_bos=False, special=True)
        if got != want:
            check.prompt_tokens_equal = False
            check.problems.append(
                f"{gguf.name}: llama.cpp's prompt for {q!r} is not the training prompt "
                f"({len(got)} tokens vs {len(want)})"
            )
        answer, ref, plain = reference_logits(model, base, want, answer_tokens)
        llm.reset()
        llm.eval(want + answer)
        n_vocab = min(ref.shape[1], llm.n_vocab())
        start = len(want) - 1
        ours = np.array(llm.scores[start : start + len(answer), :n_vocab], dtype=np.float32)
        ref = ref[:, :n_vocab]
        if plain is not None:
            effects.append(float(np.abs(ref - plain[:, :n_vocab]).max()))
        diffs.append(float(np.abs(ours - ref).max()))
        ranges.append(float(ref.max() - ref.min()))
        top = ours.argmax(axis=-1) == ref.argmax(axis=-1)
        agree += int(top.sum())
        prefix = int(np.argmin(top)) if not top.all() else len(top)
        check.greedy_prefix += prefix
        check.answer_tokens += len(answer)
        p = _log_softmax(ref)
        kls.append(float((np.exp(p) * (p - _log_softmax(ours))).sum(axis=-1).mean()))
        check.positions += len(answer)
    llm.close()
    check.max_abs_diff = max(diffs)
    check.logit_range = max(ranges)
    check.top1_agreement = agree / max(check.positions, 1)
    check.mean_kl = sum(kls) / len(kls)
    check.adapter_effect = max(effects) if effects else None
    rel_max, top1_min, kl_max = TOLERANCES[kind]
    if not math.isfinite(check.max_abs_diff) or check.relative > rel_max:
        check.problems.append(
            f"{gguf.name}: logits differ by {check.relative:.3g} of their range (> {rel_max:g})"
        )
    effect = check.adapter_effect
    if kind in EFFECT_CHECKED and effect is not None and check.max_abs_diff > EFFECT_SHARE * effect:
        check.problems.append(
            f"{gguf.name}: differs from the tuned model by {check.max_abs_diff:.3g}, not far below "
            f"the adapter's own effect {check.adapter_effect:.3g}: is the adapter in it?"
        )
    if check.top1_agreement < top1_min:
        check.problems.append(
            f"{gguf.name}: top token agrees at {check.top1_agreement:.0%} of positions "
            f"(< {top1_min:.0%})"
        )
    if not math.isfinite(check.mean_kl) or check.mean_kl > kl_max:
        check.problems.append(f"{gguf.name}: mean KL {check.mean_kl:.3g} (> {kl_max:g})")
    return check
