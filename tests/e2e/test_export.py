"""`psych export` and `psych serve` inside llama.cpp itself (llama-cpp-python, which `make test`
builds once with `make llama-cpp`): every GGUF type against the merged model within its stated
tolerances, a broken export refused, and the exported model served on 127.0.0.1 answering as
llama.cpp does in-process; build-dataset's LLM path runs against that server."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_psych, running_server
from tests.e2e.test_llm_server import BOOK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("llama_cpp") is None,
        reason="llama.cpp is not installed: make llama-cpp (make test builds it)",
    ),
]

QUESTION = "What is classical conditioning?"


@pytest.fixture(scope="module")
def exported(trained_run: Path) -> tuple[Path, str]:
    """The trained tiny run exported to every default type through the command, checks on."""
    done = run_psych("export", "--config", str(trained_run), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return trained_run.parent / "out" / "gguf", done.stdout


def test_export_writes_three_types_that_match_the_model_in_llama_cpp(exported):
    out, stdout = exported
    checks = {ln.split()[0]: ln for ln in stdout.splitlines() if "prompt tokens" in ln}
    for kind in ("f16", "q8_0", "q4_k_m"):
        assert (out / f"psych-{kind}.gguf").is_file(), kind
        assert "prompt tokens equal" in checks[kind], checks[kind]
    assert "FROM ./psych-q4_k_m.gguf" in (out / "Modelfile").read_text(encoding="utf-8")
    # f16 is the model: greedy answers agree token for token over every checked position.
    f16 = checks["f16"]
    agreed, total = f16.split("greedy agrees ", 1)[1].split(" tokens", 1)[0].split("/")
    assert agreed == total, f16


def test_a_gguf_without_the_adapter_fails_the_check(exported, trained_run: Path, tmp_path: Path):
    """The base model exported with the training template: the prompt is right, the logits are
    the base's, and the check says the adapter is missing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from psych_plugin.model.export import chat_template, convert, staged_model
    from psych_plugin.model.gguf_check import check_gguf
    from psych_plugin.model.inference import prompt_settings, run_paths

    paths = run_paths(trained_run)
    settings = prompt_settings(paths, use_adapter=True)
    tokenizer = AutoTokenizer.from_pretrained(paths.base_model)
    stage = staged_model(Path(paths.base_model), chat_template(settings, tokenizer), tmp_path / "m")
    convert(stage, tmp_path / "base-f16.gguf", "f16")
    merged = paths.adapter_dir / "merged"
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32).eval()
    check = check_gguf(
        tmp_path / "base-f16.gguf", "f16", model, tokenizer, settings, [QUESTION], base=base
    )
    assert check.prompt_tokens_equal
    assert any("is the adapter in it?" in p for p in check.problems), check.problems


@pytest.fixture(scope="module")
def server(exported, trained_run: Path, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "serve.log"
    command = [sys.executable, "-m", "psych_plugin", "serve", "--config", str(trained_run)]
    command += ["--port", str(port), "--gguf", str(exported[0] / "psych-q8_0.gguf")]
    url = f"http://127.0.0.1:{port}"
    with running_server(command, url + "/v1/models", log, "psych serve", timeout=120):
        yield url


def chat(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as r:
        return json.loads(r.read())


def test_the_server_answers_as_llama_cpp_does_in_process(server: str, exported):
    from llama_cpp import Llama

    messages = [{"role": "user", "content": QUESTION}]
    # Greedy, no penalties, on both sides (the server's request defaults add a repeat penalty).
    greedy = {"temperature": 0, "max_tokens": 24, "seed": 0, "repeat_penalty": 1.0}
    served = chat(server, {"model": "psych", "messages": messages, **greedy})
    llm = Llama(model_path=str(exported[0] / "psych-q8_0.gguf"), n_ctx=4096, verbose=False)
    local = llm.create_chat_completion(messages=messages, **greedy)
    answer = served["choices"][0]["message"]["content"]
    assert answer == local["choices"][0]["message"]["content"]
    assert served["usage"]["completion_tokens"] == local["usage"]["completion_tokens"] > 0
    # The prompt the server built is the training prompt: the same number of prompt tokens.
    assert served["usage"]["prompt_tokens"] == local["usage"]["prompt_tokens"]


def test_build_dataset_llm_path_against_the_llama_cpp_server(server: str, tmp_path: Path):
    """llama.cpp's server refuses response_format json_schema; build-dataset falls back to its
    own way (json_object with the schema), and every request is answered."""
    book = tmp_path / "memory.md"
    book.write_text(BOOK, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # fmt: off
    done = run_psych(
        "build-dataset", str(book), "-o", str(out), "--llm-url", server + "/v1",
        "--model", "psych", "--retries", "0", "--max-tokens", "48", "--concurrency", "1",
        timeout=600,
    )
    # fmt: on
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "json_object with the schema" in done.stdout, done.stdout
    assert "HTTP 500" not in done.stdout and "HTTP 500" not in done.stderr
    assert run_psych("validate", str(out)).returncode == 0
