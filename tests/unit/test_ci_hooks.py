"""What other teams reuse: the schema with standard tooling, the pre-commit hook, the workflow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def test_check_jsonschema_accepts_the_schema_on_a_single_row(tmp_path):
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        pytest.fail("check-jsonschema is a dev dependency; run make setup")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"instruction": "What is a schema?", "input": "", "output": "x"}))
    bad.write_text(json.dumps({"instruction": "What is a schema?", "input": "", "response": "x"}))
    schema = str(REPO / "schemas" / "alpaca.schema.json")
    ok = subprocess.run([exe, "--schemafile", schema, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    no = subprocess.run([exe, "--schemafile", schema, str(bad)], capture_output=True, text=True)
    assert no.returncode == 1 and "response" in no.stdout + no.stderr


def test_pre_commit_hook_runs_psych_validate_on_jsonl():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "psych validate" and hook["files"] == r"\.jsonl$"


def test_workflow_validates_with_github_annotations():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "validate-data.yml").read_text())
    runs = [s.get("run", "") for s in wf["jobs"]["validate"]["steps"]]
    assert any("psych validate --format github data/*.jsonl" in r for r in runs)
