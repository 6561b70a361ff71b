"""psych_plugin/book/state.py: the resume sidecars. A run killed at any point (SIGKILL, Ctrl-C)
resumes on the same command and ends with the file a clean run writes; another book or other
options cannot continue its progress; --restart discards it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from psych_plugin.book.build import Builder
from psych_plugin.book.reading import Chunk, split_book
from psych_plugin.book.state import Sidecars
from psych_plugin.cli import main
from psych_plugin.dataset.lint import prompt_key
from psych_plugin.dataset.schema import categories
from tests.conftest import REPO

from .conftest import BOOK, build, n_chunks, rows_of, sidecars


def test_resume_after_sigkill_matches_a_clean_run(tmp_path, llm):
    fake, url = llm
    out = tmp_path / "out.jsonl"
    args = ["build-dataset", str(BOOK), "-o", str(out), "--llm-url", url, "--model", "m"]
    state = Sidecars(out).state
    fake.delay = 0.1  # six requests per chunk: about 0.6 s a chunk
    proc = subprocess.Popen(
        [sys.executable, "-m", "psych_plugin", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and len(json.loads(state.read_text())["chunks_done"]) >= 1:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # atomic: nothing half-written, only the sidecars
    assert not Sidecars(out).sources.exists()
    done = json.loads(state.read_text())["chunks_done"]
    assert 1 <= len(done) < n_chunks()
    with open(Sidecars(out).partial, "ab") as f:
        f.write(b'{"row": {"instruction": "torn wri')  # as if killed in the middle of an append

    fake.delay = 0.0
    asked = fake.attempts.copy()
    assert main(args) == 0
    assert not sidecars(out)
    # The finished chunks were not asked again; the others were, once per category.
    chunks = split_book(BOOK, BOOK.read_text(encoding="utf-8"))[1]
    for chunk in chunks:
        for category in categories():
            key = (chunk.text, category)
            if chunk.index in done:
                assert fake.attempts[key] == asked[key] == 1
            else:
                assert fake.attempts[key] >= 1

    clean = tmp_path / "clean.jsonl"
    assert main([*args[:3], str(clean), *args[4:]]) == 0
    resumed, expected = rows_of(out), rows_of(clean)
    assert {json.dumps(r) for r in resumed} == {json.dumps(r) for r in expected}
    assert len(resumed) == len(expected) == len({prompt_key(r) for r in resumed})
    assert out.read_bytes() == clean.read_bytes()
    # The sources sidecar survives the resume too: the same passages, line for line.
    assert Sidecars(out).sources.read_bytes() == Sidecars(clean).sources.read_bytes()


def interrupt_at(monkeypatch: pytest.MonkeyPatch, n: int) -> Callable[[], None]:
    """Ctrl-C while the n-th chunk is being worked on; returns a function that undoes it."""
    real = Builder.chunk_rows
    calls = {"n": 0}

    def interrupted(self: Builder, chunk: Chunk, counts: dict, *rest: object) -> list:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(self, chunk, counts, *rest)

    monkeypatch.setattr(Builder, "chunk_rows", interrupted)
    return lambda: monkeypatch.setattr(Builder, "chunk_rows", real)


def test_ctrl_c_keeps_out_untouched_and_resumes(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    undo = interrupt_at(monkeypatch, 3)
    assert build(BOOK, out, "--force") == 130
    err = capsys.readouterr().err
    assert "rerun the same command to resume" in err and "interrupted" in err
    assert out.read_text() == "old\n"
    assert len(json.loads(Sidecars(out).state.read_text())["chunks_done"]) == 2

    # Another book, or other options, cannot continue this run's progress.
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nSleep is a recurring state of reduced awareness.\n")
    assert build(other, out) == 2
    assert "different book" in capsys.readouterr().err
    assert build(BOOK, out, "--force", "--min-paragraph", "300") == 2
    assert "other options (min_paragraph)" in capsys.readouterr().err
    assert out.read_text() == "old\n"

    undo()
    assert build(BOOK, out, "--force") == 0
    clean = tmp_path / "clean.jsonl"
    assert build(BOOK, clean) == 0
    assert out.read_bytes() == clean.read_bytes()
    assert not sidecars(out)


def test_restart_and_chunks_without_rows(tmp_path, capsys, monkeypatch):
    sparse = tmp_path / "sparse.md"
    sparse.write_text(
        "# One\n\nShort.\n\n# Two\n\nToo short as well.\n\n# Three\n\n"
        "A stimulus is an event that an organism can detect.\n"
    )
    out = tmp_path / "out.jsonl"
    undo = interrupt_at(monkeypatch, 2)
    assert build(sparse, out) == 130
    assert not Sidecars(out).partial.exists()  # no rows yet: the state alone says "1 done"
    undo()
    assert build(sparse, out) == 0
    assert [r["output"] for r in rows_of(out)] == [
        "A stimulus is an event that an organism can detect."
    ]

    out2 = tmp_path / "out2.jsonl"
    undo = interrupt_at(monkeypatch, 2)
    assert build(BOOK, out2) == 130
    undo()
    assert build(sparse, out2) == 2
    assert build(sparse, out2, "--restart") == 0
    assert out2.read_bytes() == out.read_bytes()


def test_progress_file_from_another_version_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.jsonl"
    undo = interrupt_at(monkeypatch, 2)
    assert build(BOOK, out) == 130
    undo()
    state = Sidecars(out).state
    data = json.loads(state.read_text())
    state.write_text(json.dumps({**data, "version": 1}))
    assert build(BOOK, out) == 2
    assert "from another version" in capsys.readouterr().err
    state.write_text("{not json")
    assert build(BOOK, out) == 2
    assert "unreadable progress file" in capsys.readouterr().err
