"""The command line as a real process: bad input gives one line and the documented exit code,
never a traceback."""

from __future__ import annotations

from tests.conftest import run_psych


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
