"""psych_plugin/book/llm.py: prompts, the chat-completions client (retries, timeouts,
Retry-After, structured output and its fallback, requests in flight) and parsing replies; and
what happens to an LLM's rows (the critic and the grounding check decide, see test_critic)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from psych_plugin.book.llm import ReplyError, build_messages, chat_url, parse_reply
from psych_plugin.book.reading import split_book
from psych_plugin.book.text import split_sentences
from psych_plugin.dataset.schema import categories

from .conftest import BOOK, Reply, build, grounded_reply, n_chunks, rows_of

CATEGORIES = categories()


def malformed_sometimes(passage: str, category: str, attempt: int) -> Reply | None:
    if category == "theory":
        return 200, "Sure! Here are some questions about theories."  # never JSON: skipped
    if category == "experiment" and attempt == 1:
        return 200, json.dumps([{"instruction": "BROKEN: no output", "input": ""}])
    if category == "how_to" and attempt == 1:
        return 200, json.dumps({"instruction": "BROKEN: not an array", "output": "x"})
    if category == "comparison":
        return 200, "```json\n" + grounded_reply(passage, category) + "\n```"
    return None


def test_llm_rows_one_prompt_per_category_retries_and_skips(tmp_path, capsys, llm, monkeypatch):
    fake, url = llm
    fake.script = malformed_sometimes
    monkeypatch.setenv("FAKE_LLM_KEY", "sekret")
    out = tmp_path / "out.jsonl"
    code = build(
        BOOK,
        out,
        "--llm-url",
        url,
        "--model",
        "fake-model",
        "--api-key-env",
        "FAKE_LLM_KEY",
        "--retries",
        "2",
    )
    printed = capsys.readouterr().out
    assert code == 0
    chunks = n_chunks()
    assert f"skipped {chunks} LLM replies (not JSON: {chunks})" in printed

    assert {b["model"] for b in fake.bodies} == {"fake-model"}
    assert {h["Authorization"] for h in fake.headers} == {"Bearer sekret"}
    passages = {p for p, _ in fake.attempts}
    assert len(passages) == chunks
    for passage in passages:
        assert {c for p, c in fake.attempts if p == passage} == set(CATEGORIES)
        assert fake.attempts[passage, "theory"] == 3  # 1 + --retries 2, then skipped
        assert fake.attempts[passage, "experiment"] == 2
        assert fake.attempts[passage, "how_to"] == 2
        assert fake.attempts[passage, "definition"] == 1

    from psych_plugin.cli import main

    assert main(["validate", str(out)]) == 0
    rows = rows_of(out)
    assert not any("BROKEN" in r["instruction"] for r in rows)
    llm_rows = [r for r in rows if r["instruction"].startswith("[llm ")]
    # Each reply had one row from the passage and one that is not: only the first kind is
    # written, and the second is counted with its reason.
    assert llm_rows and not any(r["output"].startswith("It says") for r in llm_rows)
    sentences = {s for p in passages for s in split_sentences(p.replace("\n", " "))}
    assert all(r["output"] in sentences for r in llm_rows)
    per_cat = Counter(r["category"] for r in llm_rows)
    assert set(per_cat) == set(CATEGORIES) - {"theory"}
    assert "rejected: not self-contained" in printed
    assert all(r["input"] == "" and r["source"].startswith("book: ") for r in llm_rows)
    assert len(rows) > len(llm_rows)  # the rules ran too


def test_llm_timeouts_and_http_errors_are_retried_then_skipped(tmp_path, capsys, llm, monkeypatch):
    fake, url = llm
    monkeypatch.setattr("psych_plugin.book.llm.RETRY_DELAY", 0.0)
    book = tmp_path / "mini.md"
    book.write_text(
        "# Memory\n\nMemory is the capacity to encode, store and retrieve information over time.\n",
        encoding="utf-8",
    )

    def script(passage: str, category: str, attempt: int) -> Reply | None:
        if category == "definition" and attempt == 1:
            # Far longer than --timeout; the timeout itself is generous, so that a slow reply
            # on a loaded machine is never mistaken for this one.
            time.sleep(12.0)
        if category == "theory":
            return 500, ""
        return None

    fake.script = script
    out = tmp_path / "out.jsonl"
    code = build(
        book,
        out,
        "--llm-url",
        url + "/chat/completions",
        "--model",
        "m",
        "--timeout",
        "3",
        "--retries",
        "1",
        "--explain-rejections",
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "skipped 1 LLM reply (HTTP 500: 1)" in printed
    assert fake.attempts[next(iter(fake.attempts))[0], "definition"] == 2
    # The second attempt's reply was read: its rows were written or rejected, with reasons.
    assert "[llm definition]" in printed or any(
        "[llm definition]" in r["instruction"] for r in rows_of(out)
    )


def test_structured_output_requests_concurrency_and_fallback(tmp_path, capsys, llm):
    """response_format (JSON schema) is sent; requests run concurrently, yet the file is the
    same as with one at a time; a server that rejects response_format gets requests without
    it (once rejected, never sent again)."""
    fake, url = llm
    fake.delay = 0.05
    base = ["--llm-url", url, "--model", "m"]
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, *base, "--concurrency", "6", "--max-tokens", "300") == 0
    printed = capsys.readouterr().out
    assert fake.max_inflight >= 3, fake.max_inflight  # in flight together
    assert "response_format (JSON schema) sent" in printed and "6 in flight" in printed
    body = fake.bodies[0]
    assert body["max_tokens"] == 300
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["rows"]
    assert schema["properties"]["rows"]["items"]["required"] == ["instruction", "input", "output"]

    fake.delay = 0.0  # concurrency is shown; the rest only checks what gets written
    one = tmp_path / "one.jsonl"
    assert build(BOOK, one, *base, "--concurrency", "1", "--max-tokens", "300") == 0
    assert one.read_bytes() == out.read_bytes()

    fake.bodies.clear()
    fake.reject_response_format = True
    fallback = tmp_path / "fallback.jsonl"
    assert build(BOOK, fallback, *base, "--concurrency", "2", "--max-tokens", "300") == 0
    printed = capsys.readouterr().out
    assert "no response_format (the server rejected it)" in printed
    assert "skipped 0 LLM replies" in printed
    rejected = [b["response_format"]["type"] for b in fake.bodies if "response_format" in b]
    # each format once, or twice for the requests already in flight when it was refused
    assert rejected[0] == "json_schema" and set(rejected) == {"json_schema", "json_object"}
    assert 1 <= rejected.count("json_schema") <= 2 and 1 <= rejected.count("json_object") <= 2
    assert fallback.read_bytes() == out.read_bytes()

    # llama.cpp's server: json_schema answered with a 500 naming response_format; its own
    # json_object with a schema is taken, and kept for every later request.
    fake.reject_response_format = False
    fake.reject_format_types = {"json_schema"}
    fake.bodies.clear()
    llama = tmp_path / "llama.jsonl"
    assert build(BOOK, llama, *base, "--concurrency", "2", "--max-tokens", "300") == 0
    printed = capsys.readouterr().out
    assert "response_format (json_object with the schema) sent" in printed
    assert "skipped 0 LLM replies" in printed
    sent = [b["response_format"] for b in fake.bodies]
    assert 1 <= [f["type"] for f in sent].count("json_schema") <= 2
    taken = [f for f in sent if f["type"] == "json_object"]
    assert taken and all(f["schema"] == schema for f in taken)
    assert llama.read_bytes() == out.read_bytes()
    fake.reject_format_types = set()

    plain = tmp_path / "plain.jsonl"
    fake.reject_response_format = False
    fake.bodies.clear()
    assert build(BOOK, plain, *base, "--no-json-schema") == 0
    assert "no response_format (--no-json-schema)" in capsys.readouterr().out
    assert not any("response_format" in b for b in fake.bodies)


def test_progress_lines_in_a_log(tmp_path, capsys, llm, monkeypatch):
    """stderr not a terminal (CI, nohup): the bar is hidden, so lines say how far it got."""
    fake, url = llm
    monkeypatch.setattr("psych_plugin.cli.book.TICK_EVERY", 0.0)
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, "--llm-url", url, "--model", "m") == 0
    lines = capsys.readouterr().err.splitlines()
    total = n_chunks()
    assert len(lines) == total
    assert re.fullmatch(
        rf"build-dataset: 1/{total} chunks, [\d.]+ requests/s, about .+ left", lines[0]
    )
    assert (
        lines[-1].startswith(f"build-dataset: {total}/{total} chunks")
        and "about 0 s left" in lines[-1]
    )


def test_retry_after_is_honoured(tmp_path, capsys, llm, monkeypatch):
    fake, url = llm
    monkeypatch.setattr("psych_plugin.book.llm.RETRY_DELAY", 5.0)  # would show if used
    fake.retry_after = "0.2"
    book = tmp_path / "mini.md"
    book.write_text("# Memory\n\nMemory is the capacity to store and retrieve information.\n")

    def busy_once(passage: str, category: str, attempt: int) -> Reply | None:
        return (429, "") if attempt == 1 else None

    fake.script = busy_once
    out = tmp_path / "out.jsonl"
    assert build(book, out, "--llm-url", url, "--model", "m", "--concurrency", "6") == 0
    assert set(fake.attempts.values()) == {2}
    # The wait between the 429 and the retry, as the server saw it: Retry-After (0.2 s), not
    # the 5 s backoff. Measured per request, so a loaded machine's slow start cannot fail it.
    for first, second in fake.arrivals.values():
        assert 0.2 <= second - first < 2.5, second - first
    assert "skipped 0 LLM replies" in capsys.readouterr().out


def test_each_reply_is_capped_by_default_and_0_leaves_it_to_the_server(tmp_path, llm, capsys):
    """A small model on llama.cpp's server ran on to the end of its context; the default cap
    stops it. --max-tokens 0 sends none; a negative cap is refused in one line."""
    from psych_plugin.book.llm import DEFAULT_MAX_TOKENS
    from psych_plugin.cli import build_parser

    fake, url = llm
    base = ["--llm-url", url, "--model", "m"]
    assert build(BOOK, tmp_path / "a.jsonl", *base) == 0
    assert {b["max_tokens"] for b in fake.bodies} == {DEFAULT_MAX_TOKENS}
    fake.bodies.clear()
    assert build(BOOK, tmp_path / "b.jsonl", *base, "--max-tokens", "0") == 0
    assert fake.bodies and all("max_tokens" not in b for b in fake.bodies)
    assert build(BOOK, tmp_path / "c.jsonl", *base, "--max-tokens", "-5") == 2
    assert "--max-tokens must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["build-dataset", "-h"])
    assert f"default: {DEFAULT_MAX_TOKENS}," in " ".join(capsys.readouterr().out.split())


def test_parse_reply_tolerates_fences_and_rejects_bad_items():
    good = [{"instruction": "Q?", "input": "", "output": "A."}]
    for text in (
        json.dumps(good),
        f"```json\n{json.dumps(good)}\n```",
        f"Here you go:\n{json.dumps(good)}\nHope this helps.",
    ):
        assert parse_reply(text, "theory", "S", 3) == [
            {"instruction": "Q?", "input": "", "output": "A.", "category": "theory", "source": "S"}
        ]
    assert len(parse_reply(json.dumps(good * 5), "theory", "S", 2)) == 2
    assert parse_reply(json.dumps({"rows": good}), "theory", "S", 3)[0]["output"] == "A."
    assert parse_reply("[]", "theory", "S", 3) == []
    for bad in (
        "not json",
        '{"instruction": "Q?", "output": "A."}',
        "[1, 2]",
        '[{"instruction": "Q?"}]',
        '[{"instruction": "Q?", "output": "  "}]',
        '[{"instruction": "Q?", "input": 3, "output": "A."}]',
    ):
        with pytest.raises(ReplyError):
            parse_reply(bad, "theory", "S", 3)


def test_chat_url_and_prompt():
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    chunk = split_book(BOOK, BOOK.read_text(encoding="utf-8"))[1][0]
    messages = build_messages(chunk.text, "book: Chapter 1", "experiment", 3)
    user = messages[-1]["content"]
    # The prompt asks for rows grounded in the passage, and gives the passage.
    assert chunk.text in user and "grounded only in the passage" in user
    assert "Category: experiment" in user


def test_a_category_the_schema_adds_gets_a_prompt_too():
    messages = build_messages("A passage about memory.", "book", "mnemonic", 2)
    assert "Category: mnemonic (rows of the kind called 'mnemonic')" in messages[-1]["content"]
