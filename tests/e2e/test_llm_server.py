"""build-dataset's LLM path against a real OpenAI-compatible server: `transformers serve`
(transformers' own FastAPI server; its `serving` extra needs the `openai` package, which the
dev extra installs), with the embedded tiny model loaded from a local folder, offline.

The tiny model's replies are nonsense: each must be retried, then skipped and counted, never
written, and the file must come out exactly as a rules-only run writes it."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_psych, running_server

pytestmark = pytest.mark.slow

BOOK = """# Memory

**Working memory** is a limited-capacity system that holds and manipulates information while
we reason, read or plan. It is usually described as having several parts that work together.

**Semantic memory** is memory for general facts and the meanings of words, such as the capital
of a country. Unlike episodic memories, semantic memories are usually recalled without any
memory of when they were learned.
"""


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from transformers.utils.import_utils import is_serve_available

    # Not a skip: the dev extra installs what `transformers serve` needs (openai, fastapi, ...).
    assert is_serve_available(), "transformers serve needs its extras: make setup (dev extra)"
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [
        sys.executable,
        "-c",
        "from transformers.cli.transformers import main; main()",
        "serve",
        str(tiny_model),  # pinned: requests must name this model
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    url = f"http://127.0.0.1:{port}"
    with running_server(cmd, url + "/health", log, "transformers serve"):
        yield url


def test_llm_path_against_transformers_serve(server: str, tiny_model: Path, tmp_path: Path):
    book = tmp_path / "memory.md"
    book.write_text(BOOK, encoding="utf-8")
    rules_only = tmp_path / "rules.jsonl"
    assert run_psych("build-dataset", str(book), "-o", str(rules_only)).returncode == 0

    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    # fmt: off
    done = run_psych(
        "build-dataset", str(book), "-o", str(out),
        "--llm-url", server + "/v1", "--model", str(tiny_model),
        "--retries", "1", "--max-tokens", "16", "--concurrency", "3",
        timeout=300,
    )
    # fmt: on
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    # One chunk, six categories, each asked twice (--retries 1), then skipped and counted.
    assert "skipped 6 LLM replies (" in done.stdout, done.stdout
    assert "LLM: 12 request(s)" in done.stdout, done.stdout
    # transformers serve accepts response_format (and ignores it, with a warning): no fallback.
    assert "response_format (JSON schema) sent" in done.stdout
    # Nothing the model said was written: the file is exactly the rules-only one, and valid.
    assert out.read_bytes() == rules_only.read_bytes()
    assert run_psych("validate", str(out)).returncode == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) >= 2
    print(f"real-server build: {took:.1f} s")

    # The server answers what a client sends it: a real chat-completions reply.
    request = urllib.request.Request(
        server + "/v1/chat/completions",
        data=json.dumps(
            {
                "model": str(tiny_model),
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 4,
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert "choices" in json.loads(r.read())

    # A model the server does not serve: one line naming the server's reason, exit 2.
    wrong = run_psych(
        "build-dataset",
        str(book),
        "-o",
        str(tmp_path / "wrong.jsonl"),
        "--llm-url",
        server + "/v1",
        "--model",
        "no-such-model",
        "--concurrency",
        "1",
        timeout=120,
    )
    assert wrong.returncode == 2, wrong.stderr[-2000:]
    assert wrong.stderr.count("\n") == 1 and "HTTP 400" in wrong.stderr, wrong.stderr
    assert "pinned" in wrong.stderr
