"""`make bench`: every benchmark, each against a baseline measured in the same run.

0. Start-up: `psych --help` as a process vs `python -c pass` (benchmarks/compare.py).
1. Validation (one core): `psych validate` vs bare orjson parsing and the jsonschema baseline,
   in process; then the `psych validate FILE` process as a user runs it (start-up included) vs
   a bare-parse process (benchmarks/compare.py).
2. Prompt strategy: ours vs Axolotl's built-in `alpaca` type on identical output, shipped rows,
   medians, batched and row by row; chat style on its own line (benchmarks/compare.py).
3. CPU training of the tiny model through `axolotl.cli.train`: QLoRA (the preset) vs LoRA on an
   fp32 base (the preset has bf16 and fp16 off).
4. `psych build-dataset`, rule path: MB/s of book text and rows/s, against reading and splitting
   the book alone (BENCH_BOOK=path for another book than the fixture, repeated to ~1 MB).

Ratios with a stated target are checked at the end: one below target makes `make bench` exit 1.


Generates a 200,000-row JSONL of realistic lengths (fixed seed, cached under benchmarks/.data/)
and prints rows/s on one core for: bare orjson parsing (the practical limit), the jsonschema
baseline (Draft202012Validator.iter_errors per row, validator built once) and `psych validate`,
with ratios; then peak RSS of `psych validate` on that file, and the two-core figure.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import orjson

from psych_plugin.dataset.schema import categories

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402 - benchmarks/ is not a package

ROOT = Path(__file__).resolve().parent
DATA = ROOT / ".data"
ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
WORDS = [
    "memory",
    "learning",
    "behaviour",
    "stimulus",
    "response",
    "conditioning",
    "reinforcement",
    "cognition",
    "perception",
    "attention",
    "emotion",
    "motivation",
    "theory",
    "experiment",
    "participants",
    "schema",
    "development",
    "attachment",
    "personality",
    "neuron",
    "synapse",
    "cortex",
    "hippocampus",
    "anxiety",
    "stress",
    "social",
    "conformity",
    "obedience",
    "bias",
    "heuristic",
    "decision",
    "language",
    "intelligence",
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "that",
    "which",
    "with",
    "as",
    "by",
    "for",
    "on",
    "are",
    "was",
    "were",
    "this",
    "study",
    "found",
]
CATEGORIES = list(categories())


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(lo, hi))
    return " ".join(words).capitalize() + "."


def generate(path: Path, rows: int) -> None:
    rng = random.Random(1234)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for _ in range(rows):
            has_input = rng.random() < 0.3
            row = {
                "instruction": sentence(rng, 5, 16),
                "input": " ".join(sentence(rng, 10, 25) for _ in range(3)) if has_input else "",
                "output": " ".join(sentence(rng, 12, 28) for _ in range(rng.randint(4, 10))),
                "category": rng.choice(CATEGORIES),
                "source": sentence(rng, 2, 5),
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def lines(path: Path):
    with open(path, "rb") as f:
        yield from f


def bench_bare(path: Path) -> int:
    n = 0
    loads = orjson.loads
    for raw in lines(path):
        loads(raw)
        n += 1
    return n


def bench_jsonschema(path: Path) -> int:
    from jsonschema import Draft202012Validator

    from psych_plugin.dataset.schema import load_schema

    validator = Draft202012Validator(load_schema())
    n = 0
    for raw in lines(path):
        errors = list(validator.iter_errors(orjson.loads(raw)))
        assert not errors
        n += 1
    return n


def bench_psych(path: Path, workers: int = 1) -> int:
    from psych_plugin.dataset.validate import validate_file

    report = validate_file(path, workers=workers)
    assert report.errors == 0, report.problems[:3]
    return report.rows


REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def timed(fn, *args) -> tuple[float, int]:
    """Best of REPEATS runs: the least disturbed by whatever else the machine is doing."""
    best, n = float("inf"), 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        n = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, n


def bench_training(steps: int = 30) -> dict[str, float]:
    """Steps/s of the tiny-cpu preset through real Axolotl, QLoRA vs 16-bit LoRA."""
    import tempfile

    from psych_plugin.model.tiny import ensure_tiny_model

    tiny = ensure_tiny_model()
    env = {
        **os.environ,
        "AXOLOTL_DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    out = {}
    for name, sets in {
        "tiny QLoRA (preset)": [],
        "tiny LoRA (fp32 base)": ["adapter=lora", "load_in_4bit=false"],
    }.items():
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "c.yml"
            args = [
                sys.executable,
                "-m",
                "psych_plugin",
                "config",
                "tiny-cpu",
                "-o",
                str(cfg),
                "--no-check",
            ]
            for s in [
                f"base_model={tiny}",
                f"output_dir={tmp}/out",
                f"max_steps={steps}",
                f"dataset_prepared_path={tmp}/prep",
                "evals_per_epoch=null",
                "test_datasets=null",
                "saves_per_epoch=null",
                *sets,
            ]:
                args += ["--set", s]
            subprocess.run(args, check=True, capture_output=True)
            done = subprocess.run(
                [sys.executable, "-m", "axolotl.cli.train", str(cfg)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            found = [ln for ln in done.stdout.splitlines() if "train_steps_per_second" in ln]
            rate = float(found[-1].split("'train_steps_per_second': '")[1].split("'")[0])
            out[name] = rate
    return out


def print_table(title: str, unit: str, results: dict[str, float], baseline: str) -> None:
    base = results[baseline]
    print(f"\n{title}")
    print(f"{'contender':<40}{unit:>12}{'vs ' + baseline[:22]:>28}")
    for name, rate in results.items():
        print(f"{name:<40}{rate:>12,.1f}{rate / base:>28.2f}")


def main() -> int:
    only = os.environ.get("BENCH_ONLY", "startup,validate,strategy,train,book").split(",")
    # (benchmark, contender, throughput, unit, baseline name): one summary table at the end.
    summary: list[tuple[str, str, float, str, str]] = []

    def record(bench: str, unit: str, results: dict[str, float], baseline: str) -> None:
        summary.extend((bench, name, rate, unit, baseline) for name, rate in results.items())

    targets: list[compare.Target] = []
    if "startup" in only:
        times, found = compare.bench_startup()
        targets += found
        record("start-up (process)", "/s", {k: 1 / v for k, v in times.items()}, "python -c pass")
    path = DATA / f"bench_{ROWS}.jsonl"
    if "validate" in only:
        results = bench_validation()
        record("validation (1 core)", "rows/s", results, "jsonschema baseline")
        targets.append(
            compare.Target(
                "validation in process: psych validate / bare parse",
                results["psych validate"] / results["bare orjson parse"],
                0.80,
            )
        )
        targets += compare.bench_validate_process(path, ROWS, results["psych validate"])
    if "strategy" in only:
        results, found = compare.bench_strategy()
        targets += found
        record(
            f"prompt strategy ({compare.STRATEGY_ROWS // 1000}k rows)",
            "rows/s",
            results,
            "axolotl `alpaca` type (row by row)",
        )
    if "train" in only:
        results = bench_training()
        print_table(
            "CPU training through axolotl.cli.train (tiny model, 30 steps, batch 8)",
            "steps/s",
            results,
            "tiny LoRA (fp32 base)",
        )
        record("CPU training (tiny)", "steps/s", results, "tiny LoRA (fp32 base)")

    if "book" in only:
        record("build-dataset rules", "MB/s", bench_book(), "read + split only")

    rates = {(b, n): r for b, n, r, _, _ in summary}
    print("\nAll benchmarks (ratios against the baseline measured in the same run)")
    print(f"{'benchmark':<26}{'contender':<48}{'throughput':>18}{'ratio':>8}  baseline")
    for bench, name, rate, unit, baseline in summary:
        ratio = rate / rates[(bench, baseline)]
        print(f"{bench:<26}{name:<48}{rate:>11,.1f} {unit:<6}{ratio:>8.2f}  {baseline}")
    return compare.report_targets(targets)


def bench_validation() -> dict[str, float]:
    path = DATA / f"bench_{ROWS}.jsonl"
    if not path.exists():
        print(f"generating {ROWS:,} rows into {path} ...", flush=True)
        generate(path, ROWS)
    size_mb = path.stat().st_size / 1e6
    # One core for the single-core figures (the OS may still move us; pin where we can).
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    bench_bare(path)  # warm the page cache so every contender reads from memory
    results = {}
    for name, fn in [
        ("bare orjson parse", bench_bare),
        ("jsonschema baseline", bench_jsonschema),
        ("psych validate", bench_psych),
    ]:
        seconds, n = timed(fn, path)
        results[name] = n / seconds
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    cores = min(2, os.cpu_count() or 1)
    seconds, n = timed(bench_psych, path, cores)
    results[f"psych validate, {cores} cores"] = n / seconds

    rss = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource,sys; from psych_plugin.dataset.validate import validate_file; "
            f"validate_file(__import__('pathlib').Path({str(path)!r}), workers=1); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    bare = results["bare orjson parse"]
    base = results["jsonschema baseline"]
    print(f"\nValidation throughput on {ROWS:,} rows ({size_mb:.0f} MB), same run")
    print(f"{'contender':<28}{'rows/s':>12}{'vs bare parse':>15}{'vs jsonschema':>15}")
    for name, rate in results.items():
        print(f"{name:<28}{rate:>12,.0f}{rate / bare:>15.2f}{rate / base:>15.2f}")
    print(f"\npeak RSS of `psych validate` (1 core) on this file: {int(rss) / 1024:.0f} MB")
    print("targets: psych validate >= 0.80 of bare parse on one core; RSS < 200 MB")
    return results


def bench_book() -> dict[str, float]:
    """The rule path of `psych build-dataset` on about 1 MB of book text: MB/s and rows/s,
    against reading and splitting the book (the part every contender pays)."""
    import contextlib
    import io
    import tempfile

    from psych_plugin.book.definitions import TermStyle
    from psych_plugin.book.reading import read_book, split_book
    from psych_plugin.book.rules import rule_rows
    from psych_plugin.cli import main as psych

    source = Path(os.environ.get("BENCH_BOOK", ROOT.parent / "tests" / "fixtures" / "book.md"))
    text = source.read_text(encoding="utf-8")
    copies = max(1, 1_000_000 // len(text.encode("utf-8")))
    # Each copy under its own chapter headings, so sources differ as in a long book.
    book_text = "\n\n".join(text.replace("# ", f"# Part {i}: ", 1) for i in range(copies))
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book.md"
        book.write_text(book_text, encoding="utf-8")
        mb = book.stat().st_size / 1e6

        def split_only(path: Path) -> int:
            return len(split_book(path, read_book(path))[1])

        def rules(path: Path) -> int:
            text = read_book(path)
            name, chunks = split_book(path, text)
            style = TermStyle(text)
            return sum(len(rule_rows(c, name, style).candidates) for c in chunks)

        def whole(path: Path) -> int:
            out = Path(tmp) / "rows.jsonl"
            with contextlib.redirect_stdout(io.StringIO()):
                code = psych(["build-dataset", str(path), "-o", str(out), "--force"])
            assert code == 0
            return sum(1 for _ in open(out, "rb"))

        results, counts = {}, {}
        for name, fn in [
            ("read + split only", split_only),
            ("rules (split + rule_rows)", rules),
            ("psych build-dataset (rules, dedup, write)", whole),
        ]:
            seconds, n = timed(fn, book)
            results[name] = mb / seconds
            counts[name] = (n, seconds)
    print(f"\nbuild-dataset rule path on {mb:.2f} MB ({copies} x {source.name}), same run")
    # rows/s counts the rows the rules find (the copies repeat, so the file written keeps
    # only the first copy's rows: counting those would say nothing about speed).
    found, _ = counts["rules (split + rule_rows)"]
    print(f"{'contender':<44}{'MB/s':>8}{'rows/s':>12}")
    for name, rate in results.items():
        _, seconds = counts[name]
        per_s = f"{found / seconds:,.0f}" if name != "read + split only" else "-"
        print(f"{name:<44}{rate:>8.2f}{per_s:>12}")
    print(f"({found:,} rows found; the file written keeps one of each duplicate)")
    return results


if __name__ == "__main__":
    sys.exit(main())
