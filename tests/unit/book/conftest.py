"""What the book-builder tests share: running the command, reading its output, and a fake
OpenAI-compatible chat-completions server that scripts its replies."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from psych_plugin.book.reading import split_book
from psych_plugin.book.state import Sidecars
from psych_plugin.book.text import split_sentences
from psych_plugin.cli import main
from tests.conftest import FIXTURES

BOOK = FIXTURES / "book.md"


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build(book: Path, out: Path, *extra: str) -> int:
    return main(["build-dataset", str(book), "-o", str(out), *extra])


def n_chunks(book: Path = BOOK) -> int:
    return len(split_book(book, book.read_text(encoding="utf-8"))[1])


def sidecars(out: Path) -> list[Path]:
    return [p for p in (Sidecars(out).state, Sidecars(out).partial) if p.exists()]


Reply = tuple[int, str]  # (HTTP status, the assistant message's content)
CATEGORY_ORDER = ("definition", "theory", "experiment", "case_study", "comparison", "how_to")


def grounded_reply(passage: str, category: str) -> str:
    """A deterministic reply about this passage and category: one row grounded in the passage
    (one of its own sentences, asked about with its own words) and one that is not (an answer
    that opens with "It", about words the passage never uses); the critic keeps the first and
    rejects the second."""
    tag = hashlib.sha256(passage.encode()).hexdigest()[:8]
    sentences = [
        s for s in split_sentences(passage.replace("\n", " ")) if len(s) > 40 and "?" not in s
    ] or [passage.strip()]
    k = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else 0
    said = sentences[k % len(sentences)]
    words = re.findall(r"[A-Za-z]{5,}", said)[:3]
    items = [
        {
            "instruction": f"[llm {category}] {' '.join(words)}: what is said?",
            "input": "",
            "output": said,
        },
        {
            "instruction": f"[llm {category}] What does passage {tag} say?",
            "output": f"It says something about {category} ({tag}).",
        },  # no "input": allowed, becomes ""
    ]
    return json.dumps(items)


class FakeLLM:
    """Records each request; `script(passage, category, attempt)` may return another reply."""

    def __init__(self, script: Callable[[str, str, int], Reply | None] | None = None) -> None:
        self.script = script
        self.delay = 0.0
        self.reject_response_format = False  # like a server without structured outputs
        # Refuse only these response_format types, with this status and error (llama.cpp's
        # server: json_schema is answered 500, json_object with a schema is taken).
        self.reject_format_types: set[str] = set()
        self.reject_status = 500
        self.retry_after: str | None = None  # sent with 429 and 503 replies
        self.inflight = 0
        self.max_inflight = 0
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.attempts: Counter[tuple[str, str]] = Counter()
        # (passage, category) -> when each attempt arrived (time.monotonic()), so a test can
        # check the client's wait between attempts rather than a whole run's wall time.
        self.arrivals: dict[tuple[str, str], list[float]] = {}
        self.lock = threading.Lock()

    def answer(self, body: dict) -> Reply:
        content = body["messages"][-1]["content"]
        category = re.search(r"^Category: (\w+)", content, re.M).group(1)
        passage = content.split('"""\n', 1)[1].rsplit('\n"""', 1)[0]
        with self.lock:
            self.bodies.append(body)
            self.attempts[passage, category] += 1
            attempt = self.attempts[passage, category]
            self.arrivals.setdefault((passage, category), []).append(time.monotonic())
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
            fmt = body.get("response_format")
            refuse = fmt is not None and (
                fake.reject_response_format or fmt.get("type") in fake.reject_format_types
            )
            if refuse:
                status = 400 if fake.reject_response_format else fake.reject_status
                content = ""
                fake.bodies.append(body)
            else:
                status, content = fake.answer(body)
            reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
            data = json.dumps(reply).encode() if status == 200 else b'{"error": "boom"}'
            if refuse and not fake.reject_response_format:
                error = f"response_format.type: Input should be 'text' or 'json_object' ({fmt})"
                data = json.dumps({"error": {"message": error}}).encode()
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
