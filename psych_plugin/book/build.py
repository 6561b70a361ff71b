"""The build: options checked, the book split and planned (one definition per term, book-wide),
each chunk not done yet turned into rows (rules, then the LLM), every row read by the critic and
the filter, and committed; OUT and its sources sidecar written whole at the end. Nothing here
prints: the result (rows per category, what was dropped and why) goes back to the caller, and
progress to an optional callback."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..dataset.rows import load_rows, prompt_key
from ..dataset.schema import categories as schema_categories
from ..dataset.validate import check_readable
from ..problems import UsageError
from .critic import Candidate, Critic, Rejection, repair
from .definitions import TermStyle
from .llm import DEFAULT_MAX_TOKENS, LlmClient, chat_url
from .reading import Chunk, read_book, split_book
from .rows import RowFilter
from .rules import BookPlan, plan_book, rule_rows
from .state import (
    BuildState,
    Sidecars,
    append_records,
    committed_records,
    load_state,
    save_state,
)
from .stories import with_stories

Reply = tuple[list[dict[str, str]] | None, str]
COMMIT_EVERY = 0.5  # seconds of rule-only work a kill may lose (it is redone on resume)
REJECTED = "rejected: "  # prefix of the critic's counts in BuildResult.counts


@dataclass(frozen=True)
class BuildOptions:
    """What `psych build-dataset` was asked to do (the CLI's flags, typed)."""

    book: Path
    output: Path
    name: str | None = None
    eval_files: tuple[Path, ...] = ()
    chunk_chars: int = 3000
    min_paragraph: int = 200
    force: bool = False
    restart: bool = False
    llm_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    per_chunk: int = 3
    retries: int = 2
    timeout: float = 60.0
    concurrency: int = 4
    max_tokens: int | None = DEFAULT_MAX_TOKENS  # None: the server's own default
    json_schema: bool = True

    def check(self) -> None:
        for name, low in (
            ("per_chunk", 1),
            ("retries", 0),
            ("chunk_chars", 200),
            ("min_paragraph", 1),
            ("concurrency", 1),
        ):
            if getattr(self, name) < low:
                raise UsageError(f"--{name.replace('_', '-')} must be at least {low}")
        if self.timeout <= 0:
            raise UsageError("--timeout must be positive")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UsageError("--max-tokens must be at least 1 (0: the server's default)")
        if bool(self.llm_url) != bool(self.model):
            raise UsageError("--llm-url and --model go together")


@dataclass(frozen=True)
class Progress:
    done: int  # chunks finished, this run and before
    total: int
    requests: int  # LLM requests sent by this run
    elapsed: float  # seconds since this run started


@dataclass
class BuildResult:
    output: Path
    sources: Path  # the sidecar: where each row came from
    rows: int
    chunks: int
    categories: dict[str, int]  # rows written per category, in the schema's order
    counts: dict[str, int]  # what was dropped, by reason (this run and the run it resumed)
    rejected: list[Rejection]  # each row the critic or the filter dropped in this run
    lines: list[str]  # OUT's lines (for a sample drawn after the build)
    llm_requests: int = 0
    llm_seconds: float = 0.0
    structured: bool | None = None  # response_format sent (None: no LLM)
    response_format: str | None = None  # which one (RESPONSE_FORMATS' name)
    concurrency: int = 0
    json_schema: bool = True  # --no-json-schema not given


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a build: what was kept, and whether requests were left in flight (their
    threads are abandoned, not waited for: a request may take --timeout seconds)."""

    def __init__(self, message: str, abandoned: bool) -> None:
        super().__init__(message)
        self.message = message
        self.abandoned = abandoned


@dataclass
class Builder:
    """One chunk at a time: rules, then the LLM, then the critic and the filter."""

    book: str
    style: TermStyle
    options: BuildOptions
    plan: BookPlan
    client: LlmClient | None
    row_filter: RowFilter
    critic: Critic
    kinds: tuple[str, ...]
    categories: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)

    def ask(self, chunk: Chunk, category: str) -> Reply:
        assert self.client is not None
        return self.client.generate(
            chunk.text, chunk.source(self.book), category, self.options.per_chunk
        )

    def chunk_rows(
        self, chunk: Chunk, counts: dict[str, int], replies: dict[str, Future[Reply]] | None = None
    ) -> list[Candidate]:
        """The chunk's rule rows, then its LLM rows (`replies`: requests already in flight,
        one per category; asked here, one by one, when not given), each kept or rejected."""
        found = rule_rows(
            chunk,
            self.book,
            self.style,
            self.options.min_paragraph,
            self.plan.chosen,
            self.plan.known,
            self.plan.later.get(chunk.index, ()),
            self.plan.researchers,
            self.plan.full_names,
        )
        candidates = found.candidates
        rejected = list(found.rejected)
        if self.client is not None:
            section = " > ".join(t for t in (chunk.chapter, chunk.section) if t)
            for category in self.kinds:
                if replies is not None:
                    got, why = replies[category].result()
                else:
                    got, why = self.ask(chunk, category)
                if got is None:
                    # Kept in the state file, so a resumed run still reports them.
                    for key in ("skipped", f"skipped: {why}"):
                        counts[key] = counts.get(key, 0) + 1
                else:
                    candidates.extend(Candidate(r, section, chunk.text, llm=True) for r in got)
        kept = []
        for c in map(repair, candidates):
            verdict = self.critic.verdict(c)
            if verdict is None:
                filtered = self.row_filter.verdict(c.row)
                if filtered == "ok":
                    self.critic.accept(c)
                    kept.append(c)
                    self.categories[c.row["category"]] += 1
                    continue
                counts[filtered] = counts.get(filtered, 0) + 1
                continue
            rejected.append(Rejection(verdict[0], c, verdict[1]))
        for r in rejected:
            key = REJECTED + r.reason
            counts[key] = counts.get(key, 0) + 1
        self.rejected.extend(rejected)
        return kept


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _eval_keys(paths: tuple[Path, ...]) -> tuple[frozenset[str], str | None]:
    """Prompt keys of every held-out file (--eval is repeatable: paraphrase and unseen sets),
    and one hash of them all, so a resumed run knows they did not change."""
    if not paths:
        return frozenset(), None
    keys: set[str] = set()
    digest = hashlib.sha256()
    for path in paths:
        check_readable(path)
        rows, errors = load_rows(path)
        if errors:
            raise UsageError(f"{path}: {len(errors)} invalid row(s); run: psych validate {path}")
        keys.update(prompt_key(r.data) for r in rows)
        digest.update(_sha256(path.read_bytes()).encode())
    return frozenset(keys), digest.hexdigest()


def _client(o: BuildOptions) -> LlmClient | None:
    if not o.llm_url:
        return None
    key = None
    if o.api_key_env:
        key = os.environ.get(o.api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {o.api_key_env}: that variable is not set")
    assert o.model is not None
    return LlmClient(
        chat_url(o.llm_url),
        o.model,
        key,
        o.timeout,
        o.retries,
        structured=o.json_schema,
        max_tokens=o.max_tokens,
    )


def _start(
    o: BuildOptions, cars: Sidecars, sha: str, settings: dict[str, Any], total: int
) -> tuple[BuildState, list[dict[str, Any]]]:
    """Resume the interrupted run, or start a new one (OUT is never overwritten unasked)."""
    if o.restart:
        cars.remove()
    state = load_state(cars, sha, settings)
    if state is not None:
        if state.total_chunks != total:
            raise UsageError(f"{cars.state}: chunk count differs; rerun with --restart")
        return state, committed_records(cars, state)
    if cars.out.exists() and not o.force:
        raise UsageError(f"{cars.out}: exists; not overwriting it without --force")
    cars.partial.unlink(missing_ok=True)  # stale: without a state file nothing in it counts
    return BuildState(sha, settings, total), []


def _settings(
    o: BuildOptions, name: str, client: LlmClient | None, eval_sha: str | None
) -> dict[str, Any]:
    """What decides the rows; a resumed run must have the same, or it would mix two datasets."""
    return {
        "name": name,
        "chunk_chars": o.chunk_chars,
        "min_paragraph": o.min_paragraph,
        "llm_url": client.url if client else None,
        "model": o.model,
        "per_chunk": o.per_chunk if client else None,
        "max_tokens": o.max_tokens if client else None,
        "eval": eval_sha,
    }


def build_dataset(
    o: BuildOptions, progress: Callable[[Progress], None] | None = None
) -> BuildResult:
    """Build OUT from the book; UsageError for bad options or input, Interrupted on Ctrl-C
    (OUT untouched, progress kept for a rerun)."""
    book_path, out = o.book, o.output
    text = read_book(book_path)
    if out.exists() and out.resolve() == book_path.resolve():
        raise UsageError(f"{out}: the output must be a new file, not the book")
    o.check()
    client = _client(o)
    eval_keys, eval_sha = _eval_keys(o.eval_files)
    name, chunks = split_book(book_path, text, o.name, o.chunk_chars)
    if not chunks:
        raise UsageError(f"{book_path}: no paragraphs found")
    cars = Sidecars(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = _settings(o, name, client, eval_sha)
    state, kept = _start(o, cars, _sha256(text.encode("utf-8")), settings, len(chunks))
    style = TermStyle(text)
    kinds = schema_categories() or ("definition",)
    builder = Builder(
        name,
        style,
        o,
        with_stories(plan_book(chunks, style, name), chunks, name, o.min_paragraph, style),
        client,
        RowFilter(eval_keys),
        Critic(style.text),
        kinds,
    )
    for record in kept:  # re-learn what the finished chunks produced
        row = record["row"]
        builder.row_filter.verdict(row)
        builder.critic.accept(Candidate(row, "", ""))
        builder.categories[row["category"]] += 1
    started = time.monotonic()
    try:
        run_chunks(builder, chunks, state, cars, progress)
    except KeyboardInterrupt as e:
        kept_msg = "nothing kept"
        if state.chunks_done:
            kept_msg = (
                f"{len(state.chunks_done)}/{len(chunks)} chunk(s) kept in {cars.state}; "
                "rerun the same command to resume"
            )
        abandoned = isinstance(e, Interrupted) and e.abandoned
        raise Interrupted(f"stopped; {out} untouched; {kept_msg}", abandoned) from None
    result = finish(builder, state, cars, len(chunks))
    if client is not None:
        result.llm_requests = client.requests
        result.llm_seconds = time.monotonic() - started
        result.structured = client.structured
        result.response_format = client.format_name
        result.concurrency = o.concurrency
        result.json_schema = o.json_schema
    return result


def run_chunks(
    builder: Builder,
    chunks: list[Chunk],
    state: BuildState,
    cars: Sidecars,
    progress: Callable[[Progress], None] | None = None,
) -> None:
    """Each chunk not done yet: its rows appended to the partial file, then the state saved.

    With an LLM, up to --concurrency requests are in flight (the chunks ahead are asked while
    the current one is finished), but chunks are committed in book order, so the output is
    the same whatever the concurrency and a resumed run matches a clean one."""
    done = set(state.chunks_done)
    todo = deque(c for c in chunks if c.index not in done)
    client = builder.client
    kinds = builder.kinds
    workers = builder.options.concurrency if client is not None else 0
    pool = ThreadPoolExecutor(workers, thread_name_prefix="llm") if workers else None
    ahead = 1 + -(-workers // len(kinds))  # chunks asked in advance: keeps workers busy
    inflight: deque[tuple[Chunk, dict[str, Future[Reply]] | None]] = deque()
    started = time.monotonic()
    finished_count = len(done)

    def submit() -> None:
        while todo and len(inflight) < max(ahead, 1):
            chunk = todo.popleft()
            futures = None
            if pool is not None:
                futures = {c: pool.submit(builder.ask, chunk, c) for c in kinds}
            inflight.append((chunk, futures))

    # Finished chunks not yet committed. Each commit is two fsyncs, which would cost more
    # than the rules themselves, so without an LLM they are committed every COMMIT_EVERY
    # seconds, and always before leaving, Ctrl-C included.
    finished: list[tuple[int, list[Candidate]]] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        if finished:
            records = [_record(c) for _, rows in finished for c in rows]
            state.partial_bytes += append_records(cars.partial, records) if records else 0
            state.chunks_done.extend(index for index, _ in finished)
            save_state(cars, state)  # the commit point: these chunks are done
            finished.clear()
        last_commit = time.monotonic()

    interrupted = False
    try:
        submit()
        while inflight:
            chunk, futures = inflight.popleft()
            counts: dict[str, int] = {}  # merged only once the chunk is done
            finished.append((chunk.index, builder.chunk_rows(chunk, counts, futures)))
            for key, n in counts.items():
                state.counts[key] = state.counts.get(key, 0) + n
            if client is not None or time.monotonic() - last_commit >= COMMIT_EVERY:
                commit()
            finished_count += 1
            if progress is not None:
                requests = client.requests if client is not None else 0
                progress(
                    Progress(finished_count, len(chunks), requests, time.monotonic() - started)
                )
            submit()
    except KeyboardInterrupt:
        interrupted = True
        raise Interrupted("interrupted", pool is not None) from None
    finally:
        commit()
        if pool is not None:
            # After Ctrl-C, requests in flight are abandoned (not waited for); queued ones
            # are cancelled either way.
            pool.shutdown(wait=not interrupted, cancel_futures=True)


def _record(c: Candidate) -> dict[str, Any]:
    return {"row": c.row, "section": c.section, "passage": c.passage, "notes": list(c.notes)}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def finish(builder: Builder, state: BuildState, cars: Sidecars, chunks: int) -> BuildResult:
    """OUT and OUT.sources.jsonl written whole (atomically), the sidecars removed."""
    records = committed_records(cars, state)
    rows = len(records)
    sources = cars.sources
    base = BuildResult(
        cars.out,
        sources,
        rows,
        chunks,
        {c: builder.categories.get(c, 0) for c in builder.kinds},
        dict(state.counts),
        builder.rejected,
        [],
    )
    if rows == 0:
        cars.remove()
        return base
    lines = [_json(r["row"]) for r in records]
    side = [
        _json(
            {
                "line": i + 1,
                "section": r.get("section", ""),
                "passage": r.get("passage", ""),
                "notes": r.get("notes", []),
            }
        )
        for i, r in enumerate(records)
    ]
    # The sources first: a kill between the two leaves OUT as it was, and a rerun redoes both.
    write_text_atomic(sources, "\n".join(side) + "\n")
    write_text_atomic(cars.out, "\n".join(lines) + "\n")
    cars.remove()  # only after OUT is complete: a kill in between just redoes this step
    base.lines = lines
    return base
