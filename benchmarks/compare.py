"""Like-for-like benchmarks for `make bench`: each contender against a baseline doing the same
work, timed the same way (medians of REPEATS runs after a warm-up), with stated targets.

- Start-up: `psych --help` as a whole process, next to `python -c pass`.
- Validation as a user runs it: the `psych validate FILE` process (interpreter start-up, imports,
  the whole file), next to a process that only parses every line with orjson.
- Prompt strategy vs Axolotl's built-in `alpaca` type: the headline ratio is for identical
  output (our alpaca style with an empty preamble; the benchmark checks the token ids and labels
  are identical, as tests/unit/integration/test_prompt_strategy.py does), on the shipped rows
  repeated, through Axolotl's own TokenizedPromptDataset; batched (our default, 1,000 rows per
  call) and unbatched (one row per call, as Axolotl's type runs) both shown. Chat style is a
  separate line: it renders Qwen3's chat template, so it is not the same output.

A ratio below its target is listed at the end and `make bench` exits 1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPEATS = max(3, int(os.environ.get("BENCH_REPEATS", "3")))
STRATEGY_ROWS = int(os.environ.get("BENCH_STRATEGY_ROWS", "6000"))


@dataclass
class Target:
    """`name` must reach `minimum` (a ratio, higher is better)."""

    name: str
    ratio: float
    minimum: float

    @property
    def met(self) -> bool:
        return self.ratio >= self.minimum


def median_seconds(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Median wall time of `repeats` calls after one warm-up call (page cache, imports, JIT)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, env=_env())
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(args)} failed ({done.returncode}): {done.stderr[-500:]}"
        )


def _env() -> dict[str, str]:
    return {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}


def psych_command() -> str:
    """The installed `psych` script next to this interpreter, as a user runs it."""
    return str(Path(sys.executable).with_name("psych"))


def bench_startup() -> tuple[dict[str, float], list[Target]]:
    python = median_seconds(lambda: run_process([sys.executable, "-c", "pass"]), 5)
    psych = median_seconds(lambda: run_process([psych_command(), "--help"]), 5)
    print("\nStart-up, whole process, median of 5 after a warm-up")
    print(f"  python -c pass     {python * 1000:7.0f} ms")
    print(f"  psych --help       {psych * 1000:7.0f} ms   ({psych / python:.1f}x python -c pass)")
    print("target: psych --help within 5x a bare interpreter start (speed ratio >= 0.20)")
    return {"python -c pass": python, "psych --help": psych}, [
        Target("start-up: python -c pass / psych --help", python / psych, 0.20)
    ]


def bench_validate_process(path: Path, rows: int, in_process: float) -> list[Target]:
    """Rows/s of `psych validate FILE` as a process vs a process that only parses the lines;
    `in_process` is the in-process rows/s, printed alongside."""
    bare_code = (
        "import sys, orjson\n"
        "loads = orjson.loads\n"
        "with open(sys.argv[1], 'rb') as f:\n"
        "    for line in f:\n"
        "        loads(line)\n"
    )
    bare = median_seconds(lambda: run_process([sys.executable, "-c", bare_code, str(path)]))
    ours = median_seconds(lambda: run_process([psych_command(), "validate", str(path)]))
    print(f"\nValidation as a user runs it: whole process, {rows:,} rows, median of {REPEATS}")
    print(f"{'contender':<44}{'seconds':>9}{'rows/s':>12}{'vs bare':>9}")
    for name, seconds in (
        ("process: bare orjson parse of each line", bare),
        ("process: `psych validate FILE`", ours),
    ):
        print(f"{name:<44}{seconds:>9.2f}{rows / seconds:>12,.0f}{bare / seconds:>9.2f}")
    name = "in process: validate_file (1 core, above)"
    print(f"{name:<44}{rows / in_process:>9.2f}{in_process:>12,.0f}{'-':>9}")
    print("target: the `psych validate` process >= 0.80 of the bare-parse process")
    return [Target("validation process: psych validate / bare parse", bare / ours, 0.80)]


def shipped_rows(n: int) -> list[dict[str, Any]]:
    """The shipped training rows, repeated to `n` (realistic lengths and vocabulary)."""
    import orjson

    from psych_plugin.paths import SHIPPED_TRAIN

    base = [orjson.loads(line) for line in SHIPPED_TRAIN.read_bytes().splitlines() if line]
    keys = ("instruction", "input", "output", "category")
    return [{k: base[i % len(base)].get(k, "") for k in keys} for i in range(n)]


class RowByRow:
    """Our strategy called with one row at a time, as Axolotl calls a non-batched type."""

    supports_batched = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def tokenize_prompt(self, row: dict[str, Any]) -> dict[str, Any]:
        out = self.inner.tokenize_prompt({k: [v] for k, v in row.items()})
        return {k: v[0] for k, v in out.items()}


def bench_strategy() -> tuple[dict[str, float], list[Target]]:
    from axolotl.datasets import TokenizedPromptDataset
    from axolotl.prompt_tokenizers import AlpacaPromptTokenizingStrategy
    from axolotl.prompters import AlpacaPrompter
    from datasets import Dataset, disable_progress_bar
    from transformers import AutoTokenizer

    from psych_plugin.integration.prompt_strategy import PsychologyPromptStrategy
    from psych_plugin.model.tiny import ensure_tiny_model
    from psych_plugin.prompts import PromptSettings

    disable_progress_bar()  # one bar per timed run would bury the table
    rows = shipped_rows(STRATEGY_ROWS)
    dataset = Dataset.from_list(rows)
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model())
    same = PromptSettings(style="alpaca", alpaca_preamble="")
    chat = PromptSettings(style="chat")

    def ours(settings: PromptSettings) -> PsychologyPromptStrategy:
        return PsychologyPromptStrategy(tokenizer, settings, False, 2048)

    contenders: dict[str, Callable[[], Any]] = {
        "axolotl `alpaca` type (row by row)": lambda: AlpacaPromptTokenizingStrategy(
            AlpacaPrompter(), tokenizer, False, 2048
        ),
        "ours, alpaca style, empty preamble, batched": lambda: ours(same),
        "ours, alpaca style, empty preamble, row by row": lambda: RowByRow(ours(same)),
        "ours, chat style, batched": lambda: ours(chat),
        "ours, chat style, row by row": lambda: RowByRow(ours(chat)),
    }
    outputs: dict[str, Any] = {}

    def run(name: str) -> None:
        outputs[name] = TokenizedPromptDataset(
            contenders[name](), dataset, process_count=1, keep_in_memory=True
        )

    seconds = {name: median_seconds(lambda n=name: run(n)) for name in contenders}
    # Like for like: the headline contender's output is Axolotl's, token for token.
    base_name = "axolotl `alpaca` type (row by row)"
    for name in contenders:
        if "alpaca style" in name:
            for column in ("input_ids", "labels"):
                if outputs[name][column] != outputs[base_name][column]:
                    raise SystemExit(f"bench: {name} does not give Axolotl's {column}")
    rates = {name: STRATEGY_ROWS / s for name, s in seconds.items()}
    base = rates[base_name]
    print(
        f"\nPrompt strategy vs Axolotl's `alpaca` type: {STRATEGY_ROWS:,} shipped rows (repeated), "
        f"TokenizedPromptDataset, 1 process, tiny tokenizer, median of {REPEATS} after a warm-up"
    )
    print(f"{'contender':<50}{'rows/s':>10}{'vs axolotl':>12}")
    for name, rate in rates.items():
        print(f"{name:<50}{rate:>10,.0f}{rate / base:>12.2f}")
    print(
        "(alpaca style, empty preamble: the same input_ids and labels as Axolotl's type, checked)"
    )
    print(
        "targets: ours alpaca-style batched >= 1.00 of Axolotl's type (identical output); "
        "chat style batched >= 1.00"
    )
    targets = [
        Target(
            "strategy: ours alpaca batched / axolotl alpaca (identical output)",
            rates["ours, alpaca style, empty preamble, batched"] / base,
            1.00,
        ),
        Target(
            "strategy: ours chat batched / axolotl alpaca",
            rates["ours, chat style, batched"] / base,
            1.00,
        ),
    ]
    return rates, targets


def report_targets(targets: list[Target]) -> int:
    print("\nTargets")
    for t in targets:
        print(
            f"  {'ok  ' if t.met else 'MISS'} {t.name}: {t.ratio:.2f} (target >= {t.minimum:.2f})"
        )
    missed = [t for t in targets if not t.met]
    if missed:
        print(f"make bench: {len(missed)} ratio(s) below target", file=sys.stderr)
        return 1
    return 0
