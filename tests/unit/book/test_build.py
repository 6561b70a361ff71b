"""psych_plugin/book/build.py (and the command around it, psych_plugin/cli/book.py): the whole
run. Rows are valid and repeatable, the sources sidecar matches OUT line for line, rejections
are counted and explained, the library prints nothing, usage errors are one line."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psych_plugin.book.build import BuildOptions, Progress, build_dataset
from psych_plugin.book.state import Sidecars
from psych_plugin.cli import main
from psych_plugin.dataset.lint import prompt_key
from psych_plugin.problems import UsageError
from tests.conftest import REPO

from .conftest import BOOK, build, n_chunks, rows_of, sidecars


def test_rule_based_rows_are_valid_repeatable_and_have_sources(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    printed = capsys.readouterr().out
    assert f"from {n_chunks()} chunk(s)" in printed and "definition" in printed
    assert main(["validate", str(out)]) == 0
    rows = rows_of(out)
    assert not sidecars(out)
    assert all(
        r["source"].startswith("book: Chapter ") or r["source"] == "book: Glossary" for r in rows
    )
    keys = [prompt_key(r) for r in rows]
    assert len(keys) == len(set(keys))

    # The sources sidecar: one object per row, line for line, with the passage it came from.
    sources = [json.loads(line) for line in Sidecars(out).sources.read_text().splitlines()]
    assert [s["line"] for s in sources] == list(range(1, len(rows) + 1))
    for row, src in zip(rows, sources, strict=True):
        assert set(src) == {"line", "section", "passage", "notes"}
        assert row["source"] == f"book: {src['section']}"
        words = [w for w in re.findall(r"[a-z]{6,}", row["output"].casefold())]
        hits = sum(w in src["passage"].casefold() for w in words)
        assert hits >= len(words) // 2, (row, src)  # the row's words are the passage's
    glossary = [s for s in sources if s["section"] == "Glossary"]
    assert glossary and all(n.startswith("gloss: ") for s in glossary for n in s["notes"])
    assert f"sources of each row: {Sidecars(out).sources}" in printed

    again = tmp_path / "again.jsonl"
    assert build(BOOK, again) == 0
    assert again.read_bytes() == out.read_bytes()


def test_rejections_are_counted_and_explained(tmp_path, capsys):
    book = tmp_path / "book.md"
    book.write_text(
        "# Chapter 1: Study Skills\n\n"
        "**Use spaced study sessions** is the advice most researchers give to students who are "
        "preparing for an exam.\n\n"
        "**Albert Bandura** is a psychologist who studied how children learn by watching adults, "
        "and he is remembered for the Bobo doll study.\n\n"
        "**Recall** is the retrieval of information from memory without any cue being given.\n\n"
        "## Key Terms\n\n"
        "- **Rehearsal**: repetition of information to keep it in mind, as shown in Figure 3\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert build(book, out, "--explain-rejections") == 0
    printed = capsys.readouterr().out
    assert [r["instruction"].count("recall") for r in rows_of(out)] == [1]
    for reason in ("advice as term", "name as term", "dangling reference"):
        assert re.search(rf"rejected: {reason}\s*│\s*1", printed), reason
        assert f"== rejected: {reason} (1)" in printed
    assert "Q: What is Albert Bandura?" in printed or "Albert Bandura" in printed
    assert "rejected 3 (see --explain-rejections)" in printed


def test_the_library_returns_a_result_and_prints_nothing(tmp_path, capsys):
    seen: list[Progress] = []
    result = build_dataset(BuildOptions(book=BOOK, output=tmp_path / "o.jsonl"), seen.append)
    assert capsys.readouterr() == ("", "")
    assert result.rows == len(result.lines) == len(rows_of(tmp_path / "o.jsonl"))
    assert sum(result.categories.values()) == result.rows
    assert list(result.categories) == [
        "definition",
        "theory",
        "experiment",
        "case_study",
        "comparison",
        "how_to",
    ]
    assert [p.done for p in seen] == list(range(1, n_chunks() + 1))
    assert all(p.total == n_chunks() and p.requests == 0 for p in seen)
    reasons = {r.reason for r in result.rejected}
    assert reasons and all(result.counts[f"rejected: {r}"] >= 1 for r in reasons)
    with pytest.raises(UsageError, match="--per-chunk must be at least 1"):
        build_dataset(BuildOptions(book=BOOK, output=tmp_path / "p.jsonl", per_chunk=0))


def test_categories_follow_the_schema_in_use(tmp_path, monkeypatch, capsys):
    """A user who narrows the schema's category list narrows what the LLM is asked for and
    what the summary shows."""
    import psych_plugin.book.build as build_module

    monkeypatch.setattr(build_module, "schema_categories", lambda: ("definition", "theory"))
    result = build_dataset(BuildOptions(book=BOOK, output=tmp_path / "o.jsonl"))
    assert list(result.categories) == ["definition", "theory"]


def test_usage_errors(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(tmp_path / "missing.md", out) == 2
    assert "no such file" in capsys.readouterr().err
    assert build(tmp_path, out) == 2
    assert "is a directory" in capsys.readouterr().err
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Psychologie: l'\u00e9tude du comportement.".encode("latin-1"))
    assert build(bad, out) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert build(BOOK, out, "--llm-url", "http://127.0.0.1:9/v1") == 2
    assert "--model" in capsys.readouterr().err
    assert build(BOOK, out, "--sample", "-1") == 2
    assert "--sample must be at least 0" in capsys.readouterr().err
    assert build(BOOK, out, "--timeout", "0") == 2
    assert "--timeout must be positive" in capsys.readouterr().err
    assert build(BOOK, BOOK) == 2
    assert "must be a new file" in capsys.readouterr().err
    assert not out.exists()

    out.write_text("keep me\n")
    assert build(BOOK, out) == 2
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1
    assert out.read_text() == "keep me\n" and not sidecars(out)

    nothing = tmp_path / "nothing.md"
    nothing.write_text("# One\n\nShort.\n")
    assert build(nothing, tmp_path / "n.jsonl") == 1
    assert "no rows found" in capsys.readouterr().err
    assert not (tmp_path / "n.jsonl").exists()


def test_connection_refused_is_a_one_line_usage_error(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, "--llm-url", f"http://127.0.0.1:{port}/v1", "--model", "m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in err
    assert not out.exists() and not sidecars(out)


def test_ctrl_c_does_not_wait_for_requests_in_flight(tmp_path, llm):
    """A request may take --timeout seconds; Ctrl-C must not sit that out."""
    fake, url = llm
    fake.delay = 30.0  # every request hangs
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "psych_plugin", "build-dataset", str(BOOK), "-o", str(out)]
        + ["--llm-url", url, "--model", "m", "--timeout", "60"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A shell's background job ignores SIGINT; the user's terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while not fake.inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.inflight, "no request arrived"
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < 5, took  # not the 30 s a request in flight would take
    assert b"interrupted" in err and b"untouched" in err and not out.exists()


def test_output_next_to_the_book_and_in_a_new_folder(tmp_path):
    out = tmp_path / "new" / "folder" / "rows.jsonl"
    result = build_dataset(BuildOptions(book=BOOK, output=out))
    assert out.exists() and result.sources == Path(f"{out}.sources.jsonl")
