"""LLM generation: prompts for one category of one chunk, an OpenAI-compatible
chat-completions client (stdlib only), and parsing its replies into rows."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..dataset.schema import row_is_valid
from ..problems import UsageError
from .rows import make_row

RETRY_DELAY = 0.5  # seconds before the first retry of a transport error; doubles each time

CATEGORY_GUIDES = {
    "definition": "definitions of the terms the passage defines: ask what a term means and "
    "answer with the passage's definition",
    "theory": "theories and models the passage describes: ask what a theory or model proposes, "
    "its parts, or its claims",
    "experiment": "experiments and studies the passage reports: ask about their design, "
    "participants, procedure and findings",
    "case_study": "case studies (an individual patient or case) the passage describes: ask "
    "what happened and what the case shows",
    "comparison": "comparisons the passage makes: ask how two concepts differ or are alike",
    "how_to": "processes, stages and steps the passage explains: ask how something works or "
    "happens, and answer step by step",
}
SYSTEM_PROMPT = (
    "You write instruction-tuning data for a psychology assistant. Use only facts stated in the "
    "passage you are given. Reply with a JSON array only, no other text."
)


def build_messages(text: str, source: str, category: str, n: int) -> list[dict[str, str]]:
    user = (
        f"Below is a passage from a psychology book ({source}).\n\n"
        f"Category: {category} ({CATEGORY_GUIDES[category]}).\n\n"
        f"Write up to {n} instruction-tuning examples of this category, grounded only in the "
        'passage. Each example is an object with "instruction" (a question or task), "input" '
        '(context the instruction needs, or "" if none) and "output" (a complete, accurate '
        "answer of 1 to 4 sentences). If the passage has nothing of this category, reply [].\n\n"
        f'Reply with a JSON array only.\n\nPassage:\n"""\n{text}\n"""'
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class ReplyError(Exception):
    """A reply that cannot be used (retried, then skipped)."""


_FENCED = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def parse_reply(content: str, category: str, source: str, n: int) -> list[dict[str, str]]:
    """The rows in a model's reply: a JSON array of {"instruction","input","output"} objects,
    possibly in a ```json fence. Any item that would not be a valid row rejects the reply."""
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


@dataclass
class LlmClient:
    """Talks to an OpenAI-compatible chat-completions endpoint with the stdlib only."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 2
    reached: bool = False  # has any request got an HTTP answer in this process?

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The reply's text; ReplyError for anything worth retrying, UsageError when the
        endpoint is plainly wrong (nothing there, or it refuses us on the very first request)."""
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            if not self.reached and e.code in (401, 403, 404):
                raise UsageError(
                    f"{self.url}: HTTP {e.code} {e.reason} on the first request; "
                    "check --llm-url and --api-key-env"
                ) from e
            self.reached = True
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
                if transport and attempt < self.retries:
                    time.sleep(RETRY_DELAY * 2**attempt)  # give a busy server a moment
        return None, reason
