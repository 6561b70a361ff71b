"""Developer tool (not shipped): run `psych build-dataset`'s rules over every chapter in a folder
and report, per chapter, the rows written, their categories and the share of candidate rows each
filter drops; optionally draw a random sample of rows, with the passage each came from, for a
reader to grade.

    python tools/book_report.py BOOKS_DIR [--sample N --seed S --sample-out FILE] [--keep DIR]
        [--nondef-out FILE]

--nondef-out writes every row that is not a definition, in the sample's format.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from psych_plugin.book.build import REJECTED, BuildOptions, build_dataset
from psych_plugin.dataset.schema import categories


def chapter_report(book: Path, out_dir: Path) -> dict:
    out = out_dir / f"{book.stem}.jsonl"
    result = build_dataset(BuildOptions(book=book, output=out, force=True))
    rows = [json.loads(line) for line in result.lines]
    sources = []
    if result.sources.exists():
        sources = [json.loads(line) for line in result.sources.read_text().splitlines()]
    dropped = {
        k.removeprefix(REJECTED): n for k, n in result.counts.items() if k.startswith(REJECTED)
    }
    for key in ("duplicates", "near_duplicates", "in_eval", "invalid"):
        if result.counts.get(key):
            dropped[key] = result.counts[key]
    return {
        "chapter": book.stem,
        "rows": rows,
        "sources": sources,
        "categories": Counter(r["category"] for r in rows),
        "dropped": dropped,
        "candidates": len(rows) + sum(dropped.values()),
    }


def _rows_md(chosen: list[tuple], what: str, n_books: int, prefix: str) -> str:
    """Rows with where each came from, for a reader to grade."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# psych build-dataset: rows for an independent read\n",
        f"{what} from the rows `psych build-dataset` writes for each of the {n_books} chapters"
        f" (rules only, no LLM), at commit `{commit or '?'}`.",
        f"Reproduce: `python {' '.join(sys.argv)}`\n",
        "For each row: chapter, line in that chapter's output file, category, the section it came"
        ' from, the instruction, the output, how it was made ("notes": "-" = the book\'s own'
        ' sentence; "gloss: ..." = a glossary gloss made into a sentence by its shape), and the'
        " passage it was made from (the paragraph, or the glossary line). Check against the"
        " chapter text where the passage is not enough.\n",
        "Grade each row strictly: usable only if it is correct per the book, self-contained,"
        " answers its instruction, grammatical, and its category fits. Count usable / borderline"
        " / unusable.\n",
    ]
    for k, (chapter, i, row, src) in enumerate(chosen, 1):
        lines += [
            f"## {k}. {chapter[len(prefix) :]} line {i + 1} ({row['category']})",
            f"- section: {src.get('section', '')}",
            f"- instruction: {row['instruction']}",
            *([f"- input: {row['input']}"] if row["input"] else []),
            f"- output: {row['output']}",
            f"- notes: {', '.join(src.get('notes', [])) or '-'}",
            f"- passage: {src.get('passage', '')}",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("books", type=Path)
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-out", type=Path)
    ap.add_argument("--keep", type=Path, help="keep each chapter's rows in this folder")
    ap.add_argument("--nondef-out", type=Path, help="write every non-definition row here")
    args = ap.parse_args()
    books = sorted(p for p in args.books.glob("*.md") if p.name != "SOURCE.md")
    cats = categories()
    out_dir = args.keep or Path(tempfile.mkdtemp())
    out_dir.mkdir(parents=True, exist_ok=True)
    reports = [chapter_report(b, out_dir) for b in books]
    # Chapter files usually share a prefix ("somebook-ch02-...", "somebook-ch03-..."): drop it.
    prefix = os.path.commonprefix([b.stem for b in books]) if len(books) > 1 else ""
    short = [c[:4] for c in cats]
    print(f"| chapter | rows | {' | '.join(short)} | def % | dropped (share of candidates) |")
    print("|---|---:|" + "---:|" * len(cats) + "---:|---|")
    total: Counter[str] = Counter()
    all_dropped: Counter[str] = Counter()
    n_rows = n_cand = 0
    for r in reports:
        n = len(r["rows"])
        n_rows += n
        n_cand += r["candidates"]
        total.update(r["categories"])
        all_dropped.update(r["dropped"])
        share = r["categories"]["definition"] / n if n else 0
        drops = ", ".join(
            f"{k} {v / r['candidates']:.0%}"
            for k, v in sorted(r["dropped"].items(), key=lambda kv: -kv[1])[:3]
        )
        counts = " | ".join(str(r["categories"].get(c, 0)) for c in cats)
        print(f"| {r['chapter'][len(prefix) :]} | {n} | {counts} | {share:.0%} | {drops} |")
    counts = " | ".join(str(total.get(c, 0)) for c in cats)
    share = total["definition"] / n_rows if n_rows else 0
    print(f"| **all** | {n_rows} | {counts} | {share:.0%} | |")
    print()
    print(f"candidates {n_cand}, written {n_rows}; dropped by reason (share of candidates):")
    for k, v in all_dropped.most_common():
        print(f"  {k}: {v} ({v / n_cand:.1%})")
    pool = [
        (r["chapter"], i, row, r["sources"][i] if i < len(r["sources"]) else {})
        for r in reports
        for i, row in enumerate(r["rows"])
    ]
    if args.sample:
        chosen = random.Random(args.seed).sample(pool, min(args.sample, len(pool)))
        chosen.sort(key=lambda t: (t[0], t[1]))
        what = f"{len(chosen)} rows drawn at random (seed {args.seed})"
        text = _rows_md(chosen, what, len(books), prefix)
        if args.sample_out:
            args.sample_out.write_text(text, encoding="utf-8")
            print(f"sample written to {args.sample_out}", file=sys.stderr)
        else:
            print(text)
    if args.nondef_out:
        rest = [t for t in pool if t[2]["category"] != "definition"]
        what = f"All {len(rest)} rows that are not definitions"
        args.nondef_out.write_text(_rows_md(rest, what, len(books), prefix), encoding="utf-8")
        print(f"non-definition rows written to {args.nondef_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
