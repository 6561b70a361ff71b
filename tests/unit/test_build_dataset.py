"""`psych build-dataset`: a book -> schema-valid Alpaca rows, by rules and (optionally) an LLM
behind an OpenAI-compatible endpoint; deduplicated, resumable after a kill, atomic."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from psych_plugin.book.build import Builder
from psych_plugin.book.definitions import _DEFINE
from psych_plugin.book.llm import ReplyError, chat_url, parse_reply
from psych_plugin.book.reading import Chunk, split_book
from psych_plugin.book.rules import report_task
from psych_plugin.book.state import Sidecars
from psych_plugin.book.text import split_sentences
from psych_plugin.cli import main
from psych_plugin.dataset.lint import CATEGORIES, prompt_key
from tests.conftest import FIXTURES, REPO

BOOK = FIXTURES / "book.md"


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build(book: Path, out: Path, *extra: str) -> int:
    return main(["build-dataset", str(book), "-o", str(out), *extra])


def n_chunks(book: Path = BOOK) -> int:
    return len(split_book(book, book.read_text(encoding="utf-8"))[1])


def sidecars(out: Path) -> list[Path]:
    return [p for p in (Sidecars(out).state, Sidecars(out).partial) if p.exists()]


# ---------------------------------------------------------------- a fake chat-completions server
Reply = tuple[int, str]  # (HTTP status, the assistant message's content)


def grounded_reply(passage: str, category: str) -> str:
    """A deterministic, valid reply about this passage and category."""
    tag = hashlib.sha256(passage.encode()).hexdigest()[:8]
    items = [
        {
            "instruction": f"[llm {category}] What does passage {tag} say?",
            "input": "",
            "output": f"It says something about {category} ({tag}).",
        },
        {
            "instruction": f"[llm {category}] Give one detail from passage {tag}.",
            "output": f"A detail about {category} ({tag}).",
        },  # no "input": allowed, becomes ""
    ]
    return json.dumps(items)


class FakeLLM:
    """Records each request; `script(passage, category, attempt)` may return another reply."""

    def __init__(self, script: Callable[[str, str, int], Reply | None] | None = None) -> None:
        self.script = script
        self.delay = 0.0
        self.reject_response_format = False  # like a server without structured outputs
        self.retry_after: str | None = None  # sent with 429 and 503 replies
        self.inflight = 0
        self.max_inflight = 0
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def answer(self, body: dict) -> Reply:
        content = body["messages"][-1]["content"]
        category = re.search(r"^Category: (\w+)", content, re.M).group(1)
        passage = content.split('"""\n', 1)[1].rsplit('\n"""', 1)[0]
        with self.lock:
            self.bodies.append(body)
            self.attempts[passage, category] += 1
            attempt = self.attempts[passage, category]
        scripted = self.script(passage, category, attempt) if self.script else None
        return scripted or (200, grounded_reply(passage, category))


@pytest.fixture
def llm() -> Iterator[tuple[FakeLLM, str]]:
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.headers.append(dict(self.headers))
            with fake.lock:
                fake.inflight += 1
                fake.max_inflight = max(fake.max_inflight, fake.inflight)
            time.sleep(fake.delay)
            with fake.lock:
                fake.inflight -= 1
            if fake.reject_response_format and "response_format" in body:
                status, content = 400, ""
                fake.bodies.append(body)
            else:
                status, content = fake.answer(body)
            reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            data = json.dumps(reply).encode() if status == 200 else b'{"error": "boom"}'
            try:
                self.send_response(status)
                if status in (429, 503) and fake.retry_after is not None:
                    self.send_header("Retry-After", fake.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- rule-based path
EXPECTED_DEFINITIONS = {
    # term -> words its answer must contain (bold, "is a", "refers to", "is defined as",
    # apposition, "known as", glossary ":" and " - " lines)
    "classical conditioning": "neutral stimulus",
    "extinction": "gradual weakening",
    "spontaneous recovery": "briefly return",
    "conditioned response": "Pavlov called",
    "operant conditioning": "consequences",
    "reinforcement": "increases the probability",
    "working memory": "limited-capacity",
    "episodic memory": "personal experiences",
    "schema": "mental framework",
    "object permanence": "continue to exist",
    "attachment": "emotional bond",
    "zone of proximal development": "with help",
    "hippocampus": "medial temporal lobe",
}


def test_rule_based_rows_are_valid_and_cover_the_book(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    printed = capsys.readouterr().out
    assert f"from {n_chunks()} chunk(s)" in printed and "definition" in printed
    assert main(["validate", str(out)]) == 0
    rows = rows_of(out)
    assert not sidecars(out)

    definitions = [r for r in rows if r["category"] == "definition" and not r["input"]]
    for term, words in EXPECTED_DEFINITIONS.items():
        hits = [r for r in definitions if re.search(rf"\b{term}\b", r["instruction"], re.I)]
        assert hits, f"no definition row for {term!r}"
        assert words in hits[0]["output"], (term, hits[0]["output"])
    # The answer goes on while the paragraph goes on about the term.
    (classical,) = [r for r in definitions if "classical conditioning" in r["instruction"]]
    assert "Pavlov" in classical["output"]
    # Questions read naturally and vary, chosen deterministically.
    assert any(r["instruction"] == "What is a schema?" for r in definitions)
    templates = {t.split("{")[0] for t in _DEFINE}
    used = {t for t in templates for r in definitions if r["instruction"].startswith(t)}
    assert len(used) >= 3

    tasks = [r for r in rows if r["input"]]
    for r in tasks:  # the passage's own method and finding sentences, in order
        assert len(r["output"]) < len(r["input"])
        assert all(s.rstrip(".") in r["input"] for s in split_sentences(r["output"]))
    case = [r for r in rows if r["source"] == "book: Chapter 2: Memory > The Case of H.M."]
    assert case and {r["category"] for r in case if r["input"]} == {"case_study"}
    assert all(
        r["source"].startswith("book: Chapter ") or r["source"] == "book: Glossary" for r in rows
    )

    keys = [prompt_key(r) for r in rows]
    assert len(keys) == len(set(keys))

    again = tmp_path / "again.jsonl"
    assert build(BOOK, again) == 0
    assert again.read_bytes() == out.read_bytes()


def test_plain_text_chapters_and_caps_headings(tmp_path, capsys):
    book = tmp_path / "intro.txt"
    book.write_text(
        "CHAPTER 1\nTHE SCIENCE OF MIND\n\n"
        "Psychology is the scientific study of behaviour and mental processes. It relies on "
        "systematic observation and experiments rather than on intuition alone, and it tests "
        "ideas about how people think, feel and act.\n\n"
        "RESEARCH METHODS\n\n"
        "A hypothesis is a testable prediction about how two or more variables are related.\n\n"
        "Chapter 2: Perception\n\n"
        "Perception refers to the process of organising and interpreting sensory information.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert build(book, out) == 0
    sources = {r["source"] for r in rows_of(out)}
    assert sources == {
        "intro: CHAPTER 1: THE SCIENCE OF MIND",
        "intro: CHAPTER 1: THE SCIENCE OF MIND > RESEARCH METHODS",
        "intro: Chapter 2: Perception",
    }
    instructions = " ".join(r["instruction"] for r in rows_of(out))
    assert "psychology" in instructions and "hypothesis" in instructions
    assert "perception" in instructions


def test_duplicates_and_eval_leakage_are_dropped(tmp_path, capsys):
    book = tmp_path / "book.md"
    text = BOOK.read_text(encoding="utf-8")
    repeat = "**Classical conditioning**" + text.split("\n**Classical conditioning**", 1)[1]
    repeat = repeat.split("\n\n", 1)[0]
    book.write_text(text + f"\n# Chapter 4: Review\n\n{repeat}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert build(book, out) == 0
    assert re.search(r"dropped [1-9]\d* duplicate", capsys.readouterr().out)
    rows = rows_of(out)
    defs = [r for r in rows if not r["input"] and "classical conditioning" in r["instruction"]]
    assert len(defs) == 1 and "Review" not in defs[0]["source"]

    leaked = next(r for r in rows if r["instruction"] == "What is a schema?")
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(
        json.dumps({"instruction": "what is a SCHEMA", "input": "", "output": "Something else."})
        + "\n"
    )
    out2 = tmp_path / "out2.jsonl"
    assert build(book, out2, "--eval", str(eval_file)) == 0
    assert "1 in --eval" in capsys.readouterr().out
    assert leaked not in rows_of(out2) and len(rows_of(out2)) == len(rows) - 1

    # --eval is repeatable (a paraphrase set and an unseen set): rows in either are dropped.
    leaked2 = next(r for r in rows if "object permanence" in r["instruction"])
    other = tmp_path / "unseen.jsonl"
    other.write_text(json.dumps({**leaked2, "output": "Something else."}) + "\n")
    out3 = tmp_path / "out3.jsonl"
    assert build(book, out3, "--eval", str(eval_file), "--eval", str(other)) == 0
    assert "2 in --eval" in capsys.readouterr().out
    assert len(rows_of(out3)) == len(rows) - 2 and leaked2 not in rows_of(out3)


def test_rule_path_filters_textbook_apparatus(tmp_path, capsys):
    """What a real textbook adds around its prose gives no rows: learning objectives, figure
    captions, feature boxes ("Link to Learning"), rhetorical questions."""
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    text = " ".join(f"{r['instruction']} {r['input']} {r['output']}" for r in rows)
    assert "Figure" not in text and "harness" not in text  # the caption *Figure 1.1*: ...
    assert "By the end of this section" not in text and "salivate to a sound" not in text
    assert "pigeons" not in text and "shaping" not in text.casefold()  # the Link to Learning box
    assert "Foer" not in text  # the same label opening a plain paragraph
    assert "wondered" not in text  # the rhetorical question
    assert not any(r["output"].rstrip().endswith("?") for r in rows)
    # Learning Objectives is not a section: the prose after it keeps its own section's name.
    assert not any("Objectives" in r["source"] for r in rows)
    classical = next(r for r in rows if r["output"].startswith("Classical conditioning is"))
    assert classical["source"] == "book: Chapter 1: Learning > Classical Conditioning"


def test_definitions_are_trimmed_and_self_contained(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    answers = {r["instruction"]: r["output"] for r in rows if r["category"] == "definition"}

    def answer(term: str) -> list[str]:
        return [a for q, a in answers.items() if re.search(rf"\b{term}\b", q, re.I)]

    # Run-on: the second term's definition and the exercise after it are cut off.
    assert answer("visual encoding") == ["Visual encoding is the encoding of images."]
    # Lost context: "It probably required ... This is known as effortful processing" is not
    # a definition on its own; the glossary's is.
    assert answer("effortful processing") == [
        "Effortful processing is encoding that requires attention and effort, such as "
        "rehearsing a list."
    ]
    assert not any("It probably" in a or "this kind" in a for a in answers.values())
    # A slogan in bold is not a term.
    assert not answer("rehearse")
    # Tied to the story ("the maze" of that study) or pointing at "the following example":
    # not a definition a reader can use.
    assert not answer("cognitive map") and not answer("maintenance rehearsal")
    # Glossary fragments become sentences, with the article the book uses.
    assert answer("forgetting curve") == [
        "Forgetting curve is a graph of how much learned material is lost as time passes "
        "since learning."
    ]
    assert "The hippocampus is a structure in the medial temporal lobe" in answer("hippocampus")[0]
    for a in answers.values():  # nothing opens with a pronoun or points at a figure
        assert not re.match(r"(?:It|This|These|They)\b", a) and "Figure" not in a, a


def test_categories_need_evidence(tmp_path, capsys):
    """experiment: a study with who, what was done and what was found; case_study: a patient;
    comparison: two named concepts the book sets against each other. Nothing else."""
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    studies = sorted(r["source"].rsplit("> ", 1)[-1] for r in by_cat["experiment"])
    assert studies == ["Forgetting", "Observational Learning"]  # Ebbinghaus, Bandura
    ebbinghaus = next(r for r in by_cat["experiment"] if "Ebbinghaus" in r["input"])
    assert ebbinghaus["output"].startswith("Hermann Ebbinghaus studied forgetting")
    assert [r["source"].rsplit("> ", 1)[-1] for r in by_cat["case_study"]] == ["The Case of H.M."]
    (compare,) = by_cat["comparison"]
    assert "proactive interference" in compare["instruction"]
    assert "retroactive interference" in compare["instruction"]
    assert "In contrast, retroactive interference occurs" in compare["output"]
    # Defined in one paragraph, but not contrasted ("..., however"): no comparison.
    assert not any("spontaneous recovery" in r["instruction"] for r in by_cat["comparison"])
    # how_to: the named steps of a process; theory: what a named theory proposes.
    (steps,) = by_cat["how_to"]
    assert steps["instruction"] == "What are the stages of memory formation?"
    assert steps["output"].endswith("encoding, storage, and retrieval.")
    (theory,) = by_cat["theory"]
    assert theory["instruction"] == "What does Jean Piaget's theory propose?"
    assert theory["output"].startswith("Jean Piaget's theory proposes that children actively")
    assert set(by_cat) == set(CATEGORIES)


# ---------------------------------------------------------------- LLM path
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

    assert main(["validate", str(out)]) == 0
    rows = rows_of(out)
    assert not any("BROKEN" in r["instruction"] for r in rows)
    llm_rows = [r for r in rows if r["instruction"].startswith("[llm ")]
    per_cat = Counter(r["category"] for r in llm_rows)
    assert per_cat == {c: 2 * chunks for c in CATEGORIES if c != "theory"}
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
    )
    assert code == 0
    assert "skipped 1 LLM reply (HTTP 500: 1)" in capsys.readouterr().out
    assert fake.attempts[next(iter(fake.attempts))[0], "definition"] == 2
    assert (
        Counter(r["category"] for r in rows_of(out) if "[llm" in r["instruction"])["definition"]
        == 2
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
    rejected = [b for b in fake.bodies if "response_format" in b]
    assert 1 <= len(rejected) <= 2  # the requests already in flight when the first was refused
    assert fallback.read_bytes() == out.read_bytes()


def test_progress_lines_in_a_log(tmp_path, capsys, llm, monkeypatch):
    """stderr not a terminal (CI, nohup): the bar is hidden, so lines say how far it got."""
    fake, url = llm
    monkeypatch.setattr("psych_plugin.book.build.TICK_EVERY", 0.0)
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
    started = time.monotonic()
    assert build(book, out, "--llm-url", url, "--model", "m", "--concurrency", "6") == 0
    took = time.monotonic() - started
    assert 0.2 <= took < 3.0, took  # waited Retry-After (0.2 s), not the 5 s backoff
    assert set(fake.attempts.values()) == {2}
    assert "skipped 0 LLM replies" in capsys.readouterr().out


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


def test_helpers():
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    assert split_sentences(
        "B. F. Skinner used rats, e.g. in boxes. Then pigeons (et al. 1950). Dr. Smith agreed!"
    ) == [
        "B. F. Skinner used rats, e.g. in boxes.",
        "Then pigeons (et al. 1950).",
        "Dr. Smith agreed!",
    ]
    # A principle stated is not a study reported: no who / what was done / what was found.
    principle = (
        "According to Watson, human behaviour is mostly the result of conditioned responses. "
        "He believed the principles could be extended to emotions. Others disagreed with him "
        "and argued that thoughts matter as much as conditioning does in everyday life."
    )
    assert report_task(principle, "S", 100) is None
    # "in the case of" is an idiom, not a case study.
    idiom = (
        "In the case of the dogs, the tone predicted food. The dogs were trained for weeks and "
        "researchers measured their saliva. The results showed that an association forms fast."
    )
    assert report_task(idiom, "S", 100)["category"] == "experiment"
    book = "# A Primer\n\nIntro.\n\n## Learning\n\nText.\n\n### Habits\n\nMore text.\n"
    name, chunks = split_book(Path("primer.md"), book)
    assert name == "A Primer"  # a lone H1 over H2 chapters is the title
    assert [c.source(name) for c in chunks] == [
        "A Primer",
        "A Primer: Learning",
        "A Primer: Learning > Habits",
    ]
    assert split_book(Path("primer.md"), book, name="Primer")[0] == "Primer"


# ---------------------------------------------------------------- review view
def test_sample_prints_a_review_table(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, "--sample", "5", "--seed", "7") == 0
    printed = capsys.readouterr().out
    assert "5 random row(s) of" in printed and "(--seed 7)" in printed
    rows = rows_of(out)
    assert main(["sample", str(out), "-n", "5", "--seed", "7"]) == 0
    again = capsys.readouterr().out
    # The same draw from the file as at the end of the build, with each row's category and
    # section; the table wraps long text, so compare words.
    assert again.split("(--seed 7)", 1)[1] == printed.split("(--seed 7)", 1)[1]
    shown = [r for r in rows if r["output"].split()[0] in again]
    assert shown and any(r["category"] in again for r in shown)
    assert "Chapter" in again

    assert main(["sample", str(out), "-n", "100", "--category", "comparison"]) == 0
    only = capsys.readouterr().out
    n = sum(r["category"] == "comparison" for r in rows)
    assert f"{n} random row(s) of {len(rows)} in category comparison" in only

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "Q?", "response": "A."}\n')
    assert main(["sample", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:1: ") and err.count("\n") == 1
    assert main(["sample", str(tmp_path / "none.jsonl")]) == 2


# ---------------------------------------------------------------- resume and atomicity
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
    done = json.loads(state.read_text())["chunks_done"]
    assert 1 <= len(done) < n_chunks()
    with open(Sidecars(out).partial, "ab") as f:
        f.write(b'{"instruction": "torn wri')  # as if killed in the middle of an append

    fake.delay = 0.0
    asked = fake.attempts.copy()
    assert main(args) == 0
    assert not sidecars(out)
    # The finished chunks were not asked again; the others were, once per category.
    chunks = split_book(BOOK, BOOK.read_text(encoding="utf-8"))[1]
    for chunk in chunks:
        for category in CATEGORIES:
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
    assert b"interrupted" in err and not out.exists()


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


# ---------------------------------------------------------------- errors
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
    assert not out.exists()

    out.write_text("keep me\n")
    assert build(BOOK, out) == 2
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1
    assert out.read_text() == "keep me\n" and not sidecars(out)


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
