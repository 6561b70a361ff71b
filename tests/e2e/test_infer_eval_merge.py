"""Inference, merge and evaluation on a real trained adapter (tiny model, CPU)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, MINI, REPO, run_psych

MMLU_DIR = FIXTURES / "mmlu"

pytestmark = pytest.mark.slow


def test_infer_with_and_without_adapter(trained_run: Path, tiny_model: Path):
    """`psych infer` streams exactly what greedy decoding gives on the training prompt (written
    out by hand in tests/unit/model/test_inference.py), and the trained adapter changes the
    answer."""
    from transformers import AutoTokenizer

    from psych_plugin.prompts import PromptSettings, render_prompt
    from tests.conftest import reference_answer

    adapter = trained_run.parent / "out"
    question = "What is operant conditioning?"
    prompt = render_prompt(
        PromptSettings.load(adapter), AutoTokenizer.from_pretrained(tiny_model), question
    )
    answers = {}
    for name, extra, adapter_dir in (("tuned", [], adapter), ("base", ["--no-adapter"], None)):
        done = run_psych(
            "infer", question, "--config", str(trained_run), "--max-new-tokens", "12", *extra
        )
        assert done.returncode == 0, done.stderr[-2000:]
        expected = reference_answer(tiny_model, adapter_dir, prompt, 12)
        assert done.stdout == expected + "\n", name
        answers[name] = done.stdout
    assert answers["tuned"] != answers["base"]


def test_infer_interactive_loop(trained_run: Path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "psych_plugin",
            "infer",
            "--interactive",
            "--config",
            str(trained_run),
            "--max-new-tokens",
            "3",
        ],
        input="What is memory?\nDefine attention.\n\n",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("> ") == 3  # two answers, then the empty line ends the loop


def test_infer_errors_are_one_line(trained_run: Path, tmp_path: Path):
    cfg = yaml.safe_load(trained_run.read_text())
    cfg["output_dir"] = str(tmp_path / "nothing-here")
    missing = tmp_path / "missing.yml"
    missing.write_text(yaml.safe_dump(cfg))
    done = run_psych("infer", "Q?", "--config", str(missing))
    assert done.returncode == 2
    assert "no trained adapter here" in done.stderr and "Traceback" not in done.stderr

    other_base = tmp_path / "other-base"
    shutil.copytree(cfg["base_model"], other_base)
    cfg = yaml.safe_load(trained_run.read_text())
    cfg["base_model"] = str(other_base)
    mismatch = tmp_path / "mismatch.yml"
    mismatch.write_text(yaml.safe_dump(cfg))
    done = run_psych("infer", "Q?", "--config", str(mismatch))
    assert done.returncode == 2 and "adapter was trained on" in done.stderr

    done = run_psych("infer", "Q?", "--config", str(trained_run), "--load-in-4bit")
    assert done.returncode == 2 and "needs a CUDA GPU" in done.stderr


def test_merge_matches_base_plus_adapter(trained_run: Path):
    done = run_psych("merge", "--config", str(trained_run), timeout=600)
    verdict = [ln for ln in done.stdout.splitlines() if "logits vs" in ln]
    assert done.returncode == 0, verdict or done.stderr[-2000:]
    merged = trained_run.parent / "out" / "merged"
    assert (merged / "model.safetensors").is_file()
    assert "of the adapter's own effect" in done.stdout
    # QLoRA: Axolotl's merge had NF4-rounded the embeddings, which training kept exact.
    assert "restored from the base" in done.stdout and "embed_tokens.weight" in done.stdout

    # The negative case: a "merged" model without the adapter's effect fails the same check.
    from psych_plugin.model.inference import run_paths
    from psych_plugin.model.merge import compare_logits

    paths = run_paths(trained_run)
    wrong = trained_run.parent / "wrong-merge"
    shutil.copytree(merged, wrong)
    shutil.copy(Path(paths.base_model) / "model.safetensors", wrong / "model.safetensors")
    check = compare_logits(paths, wrong, ["What is memory?"])
    assert not check.ok and check.relative > 0.5, check


def test_eval_writes_consistent_reports_and_tuned_beats_base(trained_run: Path, tmp_path: Path):
    out = tmp_path / "eval"
    other = tmp_path / "other.jsonl"
    other.write_text("".join(MINI.read_text().splitlines(keepends=True)[:4]))
    done = run_psych(
        "eval",
        "--config",
        str(trained_run),
        "--eval-file",
        f"seen={MINI}",
        "--eval-file",
        str(other),
        "--max-new-tokens",
        "8",
        "--batch-size",
        "4",
        "--mmlu-dir",
        str(MMLU_DIR),
        "--mmlu-shots",
        "2",
        "-o",
        str(out),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads((out / "eval.json").read_text())
    report = (out / "report.md").read_text()
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert list(data["sets"]) == ["seen", "other"]
    seen = data["sets"]["seen"]
    base, tuned = seen["base"]["overall"], seen["tuned"]["overall"]
    assert base["rows"] == tuned["rows"] == 12 and data["sets"]["other"]["rows"] == 4
    # The pipeline learns: on its own training rows the tuned model's answer loss is lower.
    assert tuned["loss"] < base["loss"]
    assert f"| overall | 12 | {base['loss']:.4f} |" in report
    assert f" {tuned['loss']:.4f} |" in report
    assert "say nothing about the quality" in report.replace("\n> ", " ")
    assert "overall" in done.stdout and "eval.json" in done.stdout
    assert data["meta"]["do_sample"] is False

    mmlu = data["mmlu"]
    assert mmlu["shots"] == 2 and mmlu["data"] == str(MMLU_DIR)
    assert mmlu["tasks"] == ["mmlu_high_school_psychology", "mmlu_professional_psychology"]
    lines = [json.loads(x) for x in (out / "mmlu_questions.jsonl").read_text().splitlines()]
    assert len(lines) == 16
    for subject, block in mmlu["subjects"].items():
        answers = [r["answer"] for r in lines if r["subject"] == subject]
        letter = max("ABCD", key=answers.count)
        assert block["majority_letter"] == letter
        assert block["majority_share"] == round(answers.count(letter) / 8, 4)
        for name in ("base", "tuned"):
            correct = sum(r[name]["correct"] for r in lines if r["subject"] == subject)
            assert block[name]["correct"] == correct
            assert f"{100 * block[name]['accuracy']:.1f}%" in report
        assert f"| {subject} | 8 | 25.0% | {letter}: " in report
        assert "gained" in block["paired"]
    # The trained adapter moves the letters' log-likelihoods.
    assert any(r["base"]["logliks"] != r["tuned"]["logliks"] for r in lines)
    assert "MMLU psychology, 2-shot" in done.stdout and "McNemar" in done.stdout
    assert "chance 25%; high_school_psychology: always " in done.stdout


def test_eval_stops_before_loading_on_bad_input(trained_run: Path, tmp_path: Path):
    bad = tmp_path / "mmlu"
    bad.mkdir()
    for f in MMLU_DIR.glob("*.csv"):
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "high_school_psychology_test.csv").write_text("Q?,a,b,c,d,Z\n")
    cfg = ["--config", str(trained_run), "--eval-file", f"seen={MINI}"]
    done = run_psych("eval", *cfg, "--mmlu-dir", str(bad))
    assert done.returncode == 2, done.stderr
    assert "high_school_psychology_test.csv:1: answer: 'Z'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1

    done = run_psych("eval", *cfg, "--mmlu")  # offline, and no cached copy
    assert done.returncode == 2 and "--mmlu-dir DIR" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    done = run_psych("eval", "--config", str(trained_run), "--eval-file", "x=missing.jsonl")
    assert done.returncode == 2 and "missing.jsonl: no such eval file" in done.stderr
