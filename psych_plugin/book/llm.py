"""LLM generation: prompts for one category of one chunk, an OpenAI-compatible
chat-completions client, and parsing its replies into rows.

The client is the standard library's urllib, on purpose: `psych build-dataset` runs on the core
install (no torch, no httpx, no openai package), and what the `openai` package would add is
small here: retries that honour Retry-After (done below), timeouts (urllib has them), requests in
flight (a thread pool in build.py: the work is network-bound) and structured outputs (a
`response_format` field in the body, below). It also talks to servers the `openai` package is
strict about (llama.cpp, Ollama, transformers serve all answer a little differently).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ..dataset.schema import row_is_valid
from ..problems import UsageError
from .rows import make_row

RETRY_DELAY = 0.5  # seconds before the first retry of a transport error; doubles each time
MAX_RETRY_AFTER = 60.0  # a server asking us to wait longer than this is treated as down

CATEGORY_GUIDES = {
    "definition": "definitions of the terms the passage defines: ask what a term means and "
    "answer with the passage's definition",
    "theory": "theories and models the passage describes: ask what a theory or model proposes, "
    "its parts, or its claims",
    "experiment": "experiments and studies the passage reports: name who ran the study, and "
    "ask what was done and what was found",
    "case_study": "case studies (an individual patient or case) the passage describes: ask "
    "what happened and what the case shows",
    "comparison": "comparisons the passage makes: ask how two concepts differ or are alike",
    "how_to": "processes, stages and steps the passage explains: ask how something works or "
    "happens, and answer step by step",
}
SYSTEM_PROMPT = (
    "You write instruction-tuning data for a psychology assistant. Use only facts stated in the "
    'passage you are given. Reply with JSON only, no other text: {"rows": [...]}.'
)
# The reply's shape, sent as `response_format` (OpenAI structured outputs; vLLM and llama.cpp
# servers accept it too): a real model then cannot reply with anything else.
ROWS_SCHEMA = {
    "type": "object",
    "properties": {
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "instruction": {"type": "string"},
                    "input": {"type": "string"},
                    "output": {"type": "string"},
                },
                "required": ["instruction", "input", "output"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["rows"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "psych_rows", "strict": True, "schema": ROWS_SCHEMA},
}
# Each server's own way to constrain the reply to that schema, tried in this order: OpenAI's
# structured outputs (OpenAI, vLLM, Ollama, `transformers serve`), then llama.cpp's server
# (llama-cpp-python), whose request model takes `json_object` with a `schema` and answers
# `json_schema` with an error naming response_format. Then no response_format at all.
RESPONSE_FORMATS: tuple[tuple[str, dict[str, object]], ...] = (
    ("JSON schema", RESPONSE_FORMAT),
    ("json_object with the schema", {"type": "json_object", "schema": ROWS_SCHEMA}),
)
# Words in an error reply that say the request's response_format is what the server refused.
FORMAT_WORDS = ("response_format", "json_schema", "json_object")
# The cap on a reply, in tokens, unless the user sets one: a reply of --per-chunk rows needs far
# fewer, and a model that runs away stops here instead of at the end of its context (a small
# one on llama.cpp's server wrote 3,448 tokens of nothing, minutes a reply on a CPU).
DEFAULT_MAX_TOKENS = 2048


def build_messages(text: str, source: str, category: str, n: int) -> list[dict[str, str]]:
    """The prompt for one category of one chunk: the passage, and rows grounded in it. Every
    row that comes back is read by the critic and checked against this passage (critic.py)."""
    # A category the user added to the schema has no guide of ours: its name must do.
    guide = CATEGORY_GUIDES.get(category, f"rows of the kind called {category!r}")
    user = (
        f"Below is a passage from a psychology book ({source}).\n\n"
        f"Category: {category} ({guide}).\n\n"
        f"Write up to {n} instruction-tuning examples of this category, grounded only in the "
        'passage. Each example is an object with "instruction" (a question or task), "input" '
        '(context the instruction needs, or "" if none) and "output" (a complete, accurate '
        "answer of 1 to 4 sentences). Use the passage's own terms and names; state a number "
        "only as the passage states it. Each example must make sense without the passage: no "
        '"this passage", no "the text", no "as shown above", no "you". Do not copy the input '
        'into the output. If the passage has nothing of this category, reply {"rows": []}.\n\n'
        f'Reply with JSON only: {{"rows": [...]}}.\n\nPassage:\n"""\n{text}\n"""'
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class ReplyError(Exception):
    """A reply that cannot be used (retried, then skipped)."""


_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_reply(content: str, category: str, source: str, n: int) -> list[dict[str, str]]:
    """The rows in a model's reply: a JSON array of {"instruction","input","output"} objects,
    or an object {"rows": [...]} (the structured-output shape), possibly in a ```json fence.
    Any item that would not be a valid row rejects the reply."""
    text = content.strip()
    fenced = _FENCED.search(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("["), text.rfind("]")
        try:
            items = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            items = None
        if items is None:
            raise ReplyError("not JSON") from None
    if isinstance(items, dict) and isinstance(items.get("rows"), list) and len(items) == 1:
        items = items["rows"]
    if not isinstance(items, list):
        raise ReplyError(f"expected a JSON array, got {type(items).__name__}")
    rows = []
    for item in items[:n]:
        if not isinstance(item, dict):
            raise ReplyError("an item is not an object")
        values = [item.get("instruction"), item.get("input") or "", item.get("output")]
        if not all(isinstance(v, str) for v in values):
            raise ReplyError("an item lacks a string instruction or output")
        row = make_row(values[0], values[1], values[2], category, source)
        if not row_is_valid(row):
            raise ReplyError("an item is not a valid row (empty instruction or output)")
        rows.append(row)
    return rows


def chat_url(url: str) -> str:
    if not re.match(r"^https?://", url):
        raise UsageError(f"--llm-url {url}: expected an http:// or https:// URL")
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class RetryAfter(ReplyError):
    """HTTP 429/503 with a Retry-After the server wants honoured."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class Refused(ReplyError):
    """HTTP 400/422 to a request with response_format: the field, or something else."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def _detail(error: urllib.error.HTTPError) -> str:
    """The server's own words about an error, on one short line."""
    try:
        text = error.read(2000).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            inner = parsed.get("error", parsed.get("detail", parsed))
            if isinstance(inner, dict):
                inner = inner.get("message", inner)
            text = str(inner)
    except ValueError:
        pass
    return " ".join(text.split())[:200]


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from API servers; the usual backoff applies


@dataclass
class LlmClient:
    """Talks to an OpenAI-compatible chat-completions endpoint with the stdlib only; one
    instance is shared by the worker threads (urllib opens a connection per request)."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 2
    structured: bool = True  # send response_format; turned off when the server refuses them all
    format_index: int = 0  # which of RESPONSE_FORMATS is sent (the next when one is refused)
    structured_ok: bool = False  # has a request with response_format succeeded?
    max_tokens: int | None = None
    reached: bool = False  # has any request got an HTTP answer in this process?
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _body(self, messages: list[dict[str, str]], structured: bool) -> bytes:
        body: dict[str, object] = {"model": self.model, "messages": messages, "temperature": 0}
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if structured:
            body["response_format"] = RESPONSE_FORMATS[self.format_index][1]
        return json.dumps(body).encode()

    @property
    def format_name(self) -> str | None:
        """The response_format sent now (None: none)."""
        return RESPONSE_FORMATS[self.format_index][0] if self.structured else None

    def _next_format(self, refused_index: int) -> None:
        """The server refused RESPONSE_FORMATS[refused_index]: send the next one, or none."""
        with self._lock:
            if self.structured and self.format_index == refused_index:
                if refused_index + 1 < len(RESPONSE_FORMATS):
                    self.format_index = refused_index + 1
                else:
                    self.structured = False

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The reply's text; ReplyError for anything worth retrying, UsageError when the
        endpoint is plainly wrong (nothing there, or it refuses us on the very first request).
        A server that rejects a `response_format` (HTTP 400/422, or an error naming it) is
        asked again with the next server's way of saying it (RESPONSE_FORMATS), then without
        one; a refused format is never sent again."""
        while True:
            structured, index = self.structured, self.format_index
            try:
                return self._post(messages, structured)
            except Refused as e:
                # Once a structured request has succeeded, a 400 is about something else (a
                # passage too long for the context, say), unless it names the format.
                named = any(word in e.detail for word in FORMAT_WORDS)
                if structured and (not self.structured_ok or named):
                    self._next_format(index)
                    continue
                raise

    def _post(self, messages: list[dict[str, str]], structured: bool) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = self._body(messages, structured)
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with self._lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = _detail(e)
            # llama.cpp's server answers an unknown response_format with a 500 that names it.
            refused = e.code in (400, 422) or (
                e.code == 500 and structured and any(w in detail for w in FORMAT_WORDS)
            )
            if not self.reached and (e.code in (401, 403, 404) or (refused and not structured)):
                # Nothing has worked yet, and retrying will not help: say why, and stop.
                raise UsageError(
                    f"{self.url}: HTTP {e.code} {e.reason} on the first request"
                    f"{': ' + detail if detail else ''}; check --llm-url, --model and "
                    "--api-key-env"
                ) from e
            if refused and structured:
                raise Refused(f"HTTP {e.code}", detail) from e  # maybe response_format
            self.reached = True
            wait = _retry_after(e) if e.code in (429, 503) else None
            if wait is not None:
                raise RetryAfter(f"HTTP {e.code}", wait) from e
            raise ReplyError(f"HTTP {e.code}") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise ReplyError("timeout") from e
            if not self.reached:
                raise UsageError(f"cannot reach {self.url}: {e.reason}") from e
            raise ReplyError(f"connection error ({e.reason})") from e
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
            raise ReplyError(
                "timeout" if isinstance(e, TimeoutError) else "connection error"
            ) from e
        self.reached = True
        if structured:
            self.structured_ok = True
        try:
            return str(json.loads(raw)["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise ReplyError("not a chat-completions response") from e

    def generate(
        self, chunk_text: str, source: str, category: str, n: int
    ) -> tuple[list[dict[str, str]] | None, str]:
        """(rows, "") for one category of one chunk; (None, why) when every attempt failed."""
        messages = build_messages(chunk_text, source, category, n)
        reason = ""
        for attempt in range(self.retries + 1):
            try:
                return parse_reply(self.complete(messages), category, source, n), ""
            except ReplyError as e:
                reason = str(e)
                transport = reason.startswith(("HTTP", "timeout", "connection"))
                if attempt == self.retries:
                    break
                if isinstance(e, RetryAfter):
                    if e.seconds > MAX_RETRY_AFTER:
                        break
                    time.sleep(e.seconds)  # the server said when: do as it says
                elif transport:
                    time.sleep(RETRY_DELAY * 2**attempt)  # give a busy server a moment
        return None, reason
