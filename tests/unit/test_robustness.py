"""Robustness: arbitrary bytes, JSON and YAML never produce a traceback, only a clear message
and the documented exit code; YAML is only ever safe-loaded; writes are atomic."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from psych_plugin import atomic
from psych_plugin.cli import main
from psych_plugin.dataset.schema import load_schema
from psych_plugin.paths import PACKAGE_DIR
from tests.conftest import run_psych

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@SETTINGS
@given(st.binary(max_size=400))
def test_validate_arbitrary_bytes(tmp_path_factory, capsys, data):
    path = tmp_path_factory.mktemp("v") / "x.jsonl"
    path.write_bytes(data)
    code, text = run_cli(capsys, "validate", str(path))
    lines = text.splitlines()
    assert code == (1 if lines[-1].startswith("FAILED: ") else 0), text
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    for line in lines[:-1]:  # every problem line is PATH:LINE: field: message
        found = re.match(rf"^{re.escape(str(path))}:(\d+): \S+: .+", line)
        assert found, line
        assert 0 <= int(found[1]) <= n_lines  # a line of the file (0: the whole file)
    errors = sum(": warning: " not in line for line in lines[:-1])
    assert f", {errors} error(s)," in lines[-1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


@SETTINGS
@given(st.lists(json_values, min_size=1, max_size=5))
def test_validate_arbitrary_json_values(tmp_path_factory, capsys, values):
    path = tmp_path_factory.mktemp("j") / "x.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in values) + "\n")
    code, text = run_cli(capsys, "validate", "--format", "json", str(path))
    payload = json.loads(text)
    # jsonschema's verdict on each line (NaN and Infinity are not JSON: an error of their own).
    reference = Draft202012Validator(load_schema())
    bad_lines, not_json = set(), set()
    for lineno, value in enumerate(values, start=1):
        try:
            parsed = json.loads(json.dumps(value), parse_constant=_not_json)
        except ValueError:
            not_json.add(lineno)
            bad_lines.add(lineno)
            continue
        if not reference.is_valid(parsed):
            bad_lines.add(lineno)
    reported = {p["line"] for p in payload["problems"] if p["severity"] == "error"}
    assert reported == bad_lines
    assert code == (1 if bad_lines else 0)
    # One line holding one JSON array is read as a whole-file array export (0 rows, one error).
    whole_array = len(values) == 1 and isinstance(values[0], list) and not not_json
    assert payload["rows"] == (0 if whole_array else len(values))
    assert payload["errors"] == len([p for p in payload["problems"] if p["severity"] == "error"])


def _not_json(name: str) -> None:
    raise ValueError(name)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(max_size=200)
    | st.builds(
        yaml.safe_dump,
        st.dictionaries(
            st.sampled_from(
                ["base_model", "adapter", "lora_r", "datasets", "sequence_len", "plugins", "x"]
            ),
            json_values,
            max_size=4,
        ),
    )
)
def test_check_config_arbitrary_yaml(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("c") / "c.yml"
    path.write_text(text)
    try:
        code = main(["check-config", str(path)])
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    if code == 2:  # unreadable or not a mapping: one line on stderr, nothing else
        assert out.out == ""
        assert out.err.startswith(f"psych check-config: error: {path}") and out.err.count("\n") == 1
        return
    # One problem per printed line: split on "\n" only (a YAML key may hold \x1e or \x85, which
    # str.splitlines() would also split on), and a key may hold spaces.
    lines = out.out.rstrip("\n").split("\n")
    errors = sum(": warning: " not in line for line in lines[:-1])
    assert lines[-1] == (
        f"{'FAILED' if errors else 'ok'}: check-config {path}: {errors} error(s), "
        f"{len(lines) - 1 - errors} warning(s)"
    )
    assert code == (1 if errors else 0)
    for line in lines[:-1]:
        assert re.match(rf"^{re.escape(str(path))}:\d+: .+: .+", line, re.S), line


def test_a_real_process_reports_bad_input_in_one_line(tmp_path):
    """What a user sees: no traceback from the installed command on unreadable or odd input."""
    cases = {
        "bytes.jsonl": b"\xff\xfe\x00garbage\n{]\n",
        "deep.jsonl": b"[" * 100_000 + b"\n",
        "dir.jsonl": None,
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is None:
            path.mkdir()
        else:
            path.write_bytes(data)
        done = run_psych("validate", str(path))
        assert "Traceback" not in done.stderr + done.stdout, name
        assert done.returncode == (2 if data is None else 1), name
    cfg = tmp_path / "c.yml"
    cfg.write_text("- just\n- a list\n")
    done = run_psych("check-config", str(cfg))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_yaml_cannot_execute_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yml"
    evil.write_text(f'base_model: !!python/object/apply:os.system ["touch {marker}"]\n')
    code, out = run_cli(capsys, "check-config", str(evil))
    assert code == 2 and "invalid YAML" in out
    assert not marker.exists()
    template = tmp_path / "presets"
    template.mkdir()
    (template / "evil.yml").write_text(evil.read_text())
    from psych_plugin.configs.templates import resolve_preset
    from psych_plugin.problems import UsageError

    with pytest.raises(UsageError):
        resolve_preset("evil", presets_dir=template, defaults=tmp_path / "none.yml")
    assert not marker.exists()


def test_package_only_safe_loads_yaml():
    unsafe = re.compile(r"yaml\.(load|unsafe_load|full_load)\(|Loader=yaml\.(Full)?Loader")
    for path in PACKAGE_DIR.rglob("*.py"):
        assert not unsafe.search(path.read_text()), path


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.yml"
    target.write_text("original\n")

    def interrupted(_fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "new content\n")
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yml"]


def test_ctrl_c_during_config_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "c.yml"
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0
    before = out.read_text()
    monkeypatch.setattr(atomic.os, "fsync", lambda _fd: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["config", "tiny-cpu", "--set", "lora_r=4", "-o", str(out), "--no-check"]) == 130
    assert out.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.yml"]


def test_unwritable_or_full_output_fails_before_training(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"base_model: tiny-qwen3\noutput_dir: {tmp_path / 'out'}\n")
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: False if Path(p) == tmp_path else real_access(p, m)
    )
    code, text = run_cli(capsys, "preflight", str(cfg))
    assert code == 2 and "output folder is not writable" in text
    monkeypatch.setattr(os, "access", real_access)
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(10, 10, 1024))
    code, text = run_cli(capsys, "preflight", str(cfg))
    assert code == 2 and "MiB free on its disk" in text
