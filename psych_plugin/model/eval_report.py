"""The before/after report of `psych eval`, rendered: eval.json, report.md and chart.png (and
mmlu_questions.jsonl when MMLU ran). The figures come from `evaluate.py` and `mmlu.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic

MODELS = ("base", "tuned")


SET_PURPOSE = {
    "paraphrase": "the training rows' knowledge asked in new words: did the model learn what "
    "the book taught?",
    "unseen": "concepts, studies and cases absent from training: does it generalise?",
}


def write_report(
    out_dir: Path,
    result: dict[str, Any],
    meta: dict[str, Any],
    mmlu_records: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """eval.json, report.md and chart.png in `out_dir` (and mmlu_questions.jsonl, one line per
    MMLU question with each model's letter log-likelihoods, when MMLU ran).

    `result` is {"sets": {name: evaluate() + file, rows}, "mmlu": {...}} (mmlu optional)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, **result}
    paths = [out_dir / "eval.json", out_dir / "report.md", out_dir / "chart.png"]
    write_text_atomic(paths[0], json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(paths[1], markdown_report(result, meta))
    plot(result, paths[2])
    if mmlu_records is not None:
        paths.append(out_dir / "mmlu_questions.jsonl")
        lines = (json.dumps(r, ensure_ascii=False) for r in mmlu_records)
        write_text_atomic(paths[-1], "".join(line + "\n" for line in lines))
    return paths


def _set_table(block: dict[str, Any]) -> list[str]:
    tuned = "tuned" in block
    header = "| category | rows | base loss | base ppl | base ROUGE-L |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if tuned:
        header += " tuned loss | tuned ppl | tuned ROUGE-L | loss change |"
        rule += " ---: | ---: | ---: | ---: |"
    lines = [header, rule]
    for cat, b in block["base"].items():
        row = (
            f"| {cat} | {b['rows']} | {b['loss']:.4f} | {b['perplexity']:.2f} "
            f"| {b['rouge_l']:.3f} |"
        )
        if tuned:
            t = block["tuned"][cat]
            row += (
                f" {t['loss']:.4f} | {t['perplexity']:.2f} | {t['rouge_l']:.3f} |"
                f" {t['loss'] - b['loss']:+.4f} |"
            )
        lines.append(row)
    return lines


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def interval(ci: list[float]) -> str:
    return f"[{pct(ci[0])}, {pct(ci[1])}]"


def mmlu_table(mmlu: dict[str, Any]) -> list[str]:
    subjects = mmlu["subjects"]
    tuned = any("tuned" in s for s in subjects.values())
    header = "| subject | questions | chance | majority letter | base accuracy [95% CI] |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if tuned:
        header += " tuned accuracy [95% CI] | change [95% CI] | gained / lost | McNemar p |"
        rule += " ---: | ---: | ---: | ---: |"
    lines = [header, rule]
    for subject, s in subjects.items():
        b = s["base"]
        row = (
            f"| {subject} | {s['questions']} | {pct(s['chance'])} "
            f"| {s['majority_letter']}: {pct(s['majority_share'])} "
            f"| {pct(b['accuracy'])} {interval(b['ci95'])} |"
        )
        if tuned:
            t, p = s["tuned"], s["paired"]
            row += (
                f" {pct(t['accuracy'])} {interval(t['ci95'])} "
                f"| {100 * p['change']:+.1f} pts [{100 * p['ci95'][0]:+.1f}, "
                f"{100 * p['ci95'][1]:+.1f}] | {p['gained']} / {p['lost']} "
                f"| {p['mcnemar_p']:.3g} |"
            )
        lines.append(row)
    return lines


def markdown_report(result: dict[str, Any], meta: dict[str, Any]) -> str:
    sets = result["sets"]
    tuned = bool(meta.get("use_adapter"))
    sizes = ", ".join(f"{name} ({block['rows']} rows)" for name, block in sets.items())
    lines = [
        "# Evaluation: base model vs base + adapter",
        "",
        f"- base model: `{meta['base_model']}`",
        f"- adapter: `{meta['adapter']}`" if tuned else "- adapter: (none)",
        f"- held-out sets: {sizes}",
        f"- generation: greedy (do_sample=False), max_new_tokens={meta['max_new_tokens']}, "
        f"batch_size={meta['batch_size']}; loss: teacher forcing on answer tokens only",
        f"- machine: {meta['machine']}",
        f"- time: {meta['seconds']['held_out']:.0f} s held-out sets"
        + (f", {meta['seconds']['mmlu']:.0f} s MMLU" if "mmlu" in meta["seconds"] else ""),
        "",
    ]
    if meta.get("tiny"):
        lines += [
            "> **This ran on the embedded tiny model (random weights, about 0.2M parameters).**",
            "> A lower loss shows the pipeline learns; the numbers say nothing about the quality",
            "> of answers, and its generations are not meaningful text.",
            "",
        ]
    for name, block in sets.items():
        lines += [f"## Held-out set `{name}`: `{block['file']}`, {block['rows']} rows", ""]
        if name in SET_PURPOSE:
            lines += [f"Measures {SET_PURPOSE[name]}", ""]
        lines += [*_set_table(block), ""]
    if "mmlu" in result:
        lines += mmlu_section(result["mmlu"], bool(meta.get("tiny")))
    lines += samples_section(sets)
    return "\n".join(lines)


ANSWER_HEADERS = {"base": "base", "tuned": "base + adapter"}


def _cell(text: str) -> str:
    """Text as one Markdown table cell: pipes, backslashes and `<` (no stray HTML tags)
    escaped, line breaks kept as <br>."""
    text = text.strip().replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return "<br>".join(line for line in text.splitlines() if line.strip()) or "(empty)"


def samples_section(sets: dict[str, Any]) -> list[str]:
    """The greedy answers to the first rows of each set (the same questions every run), the
    reference and each model side by side, so a reader sees what tuning changed."""
    lines = ["## Answers side by side", ""]
    lines += ["Greedy answers to the first rows of each held-out set, next to the reference.", ""]
    for name, block in sets.items():
        for i, s in enumerate(block["samples"], start=1):
            models = [m for m in MODELS if m in s]
            heads = ["reference", *(ANSWER_HEADERS[m] for m in models)]
            cells = [s["reference"], *(s[m] for m in models)]
            lines += [f"### `{name}` {i}: {s['instruction'].strip()}", ""]
            lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
            lines += ["| " + " | ".join(_cell(c) for c in cells) + " |", ""]
    return lines


def mmlu_section(mmlu: dict[str, Any], tiny: bool) -> list[str]:
    shots = mmlu["shots"]
    lines = [
        "## MMLU psychology (lm-evaluation-harness)",
        "",
        f"- harness: lm_eval {mmlu['harness_version']}, tasks "
        + ", ".join(f"`{t}`" for t in mmlu["tasks"])
        + f"; {shots}-shot"
        + (" (the first five dev questions, as MMLU reports)" if shots == 5 else "")
        + "; accuracy = the answer letter with the highest log-likelihood",
        f"- data: {mmlu['data']}",
        "- chance: 25%; majority letter: always answering the most common correct letter of "
        "these questions. A score near either line is no evidence of knowledge.",
        "- 95% intervals: Wilson per accuracy; the change is paired (same questions), with "
        "McNemar's exact test on the questions only one model got right",
    ]
    if mmlu.get("limit"):
        lines.append(
            f"- **limited to the first {mmlu['limit']} questions per subject**: not comparable "
            "with published MMLU scores"
        )
    if tiny:
        lines.append(
            "- the tiny model knows no psychology: expect chance-level scores whatever the "
            "adapter does"
        )
    return [*lines, "", *mmlu_table(mmlu), ""]


def plot(result: dict[str, Any], path: Path) -> None:
    """One row per held-out set (loss, ROUGE-L per category), then MMLU (accuracy with 95%
    intervals, chance and majority-letter lines; the paired change)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = result["sets"]
    mmlu = result.get("mmlu")
    nrows = len(sets) + (1 if mmlu else 0)
    fig, axes = plt.subplots(nrows, 2, figsize=(12, 4.2 * nrows), squeeze=False)
    for row, (name, block) in enumerate(sets.items()):
        cats = list(block["base"])
        models = [m for m in MODELS if m in block]
        width = 0.8 / len(models)
        for ax, metric, title in (
            (axes[row][0], "loss", "answer loss (lower is better)"),
            (axes[row][1], "rouge_l", "ROUGE-L F1 (higher is better)"),
        ):
            for i, m in enumerate(models):
                xs = [c + i * width for c in range(len(cats))]
                ax.bar(xs, [block[m][c][metric] for c in cats], width, label=m, color=f"C{i}")
            ax.set_xticks([c + width * (len(models) - 1) / 2 for c in range(len(cats))])
            ax.set_xticklabels(cats, rotation=30, ha="right")
            ax.set_title(f"{name}: {title}")
    if mmlu:
        _plot_mmlu(axes[-1], mmlu)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncols=len(labels))
    fig.suptitle("Before vs after fine-tuning")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / (4.2 * nrows)))  # room for the title, no more
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _plot_mmlu(axes: Any, mmlu: dict[str, Any]) -> None:
    subjects = list(mmlu["subjects"])
    models = [m for m in MODELS if all(m in mmlu["subjects"][s] for s in subjects)]
    width = 0.8 / len(models)
    ax = axes[0]
    for i, m in enumerate(models):
        accs = [mmlu["subjects"][s][m]["accuracy"] for s in subjects]
        cis = [mmlu["subjects"][s][m]["ci95"] for s in subjects]
        err = [
            [a - lo for a, (lo, _) in zip(accs, cis, strict=True)],
            [hi - a for a, (_, hi) in zip(accs, cis, strict=True)],
        ]
        xs = [c + i * width for c in range(len(subjects))]
        ax.bar(xs, accs, width, yerr=err, capsize=4, color=f"C{i}")
    ax.axhline(mmlu["chance"], color="black", linestyle=":", label="chance (25%)")
    for c, s in enumerate(subjects):
        block = mmlu["subjects"][s]
        ax.hlines(
            block["majority_share"],
            c - width / 2,
            c + width * (len(models) - 0.5),
            colors="red",
            linestyles="--",
            label="majority letter" if c == 0 else None,
        )
    ax.set_xticks([c + width * (len(models) - 1) / 2 for c in range(len(subjects))])
    ax.set_xticklabels([s.replace("_", " ") for s in subjects])
    ax.set_ylim(0, 1)
    ax.set_title(f"MMLU accuracy, {mmlu['shots']}-shot, 95% intervals")
    ax.legend(loc="upper left", fontsize="small")
    ax = axes[1]
    if "tuned" in models:
        changes = [mmlu["subjects"][s]["paired"] for s in subjects]
        ys = [100 * p["change"] for p in changes]
        err = [
            [y - 100 * p["ci95"][0] for y, p in zip(ys, changes, strict=True)],
            [100 * p["ci95"][1] - y for y, p in zip(ys, changes, strict=True)],
        ]
        ax.bar(range(len(subjects)), ys, 0.5, yerr=err, capsize=4, color="C2")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(subjects)))
        ax.set_xticklabels([s.replace("_", " ") for s in subjects])
        ax.set_title("MMLU change, tuned - base (points, paired 95% interval)")
    else:
        ax.axis("off")
