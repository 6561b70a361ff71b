"""The build: options checked, the book split, each chunk not done yet turned into rows
(rules, then the LLM, then the filter) and committed; OUT written whole at the end, then
a table of rows per category."""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import random
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..atomic import write_text_atomic
from ..dataset.rows import CATEGORIES, load_rows, prompt_key
from ..dataset.validate import check_readable
from ..problems import UsageError
from .definitions import TermStyle
from .llm import LlmClient, chat_url
from .reading import Chunk, read_book, split_book
from .rows import RowFilter
from .rules import rule_rows
from .state import (
    BuildState,
    Sidecars,
    append_rows,
    committed_rows,
    load_state,
    save_state,
)

if TYPE_CHECKING:
    from rich.progress import Progress

Reply = tuple[list[dict[str, str]] | None, str]
COMMIT_EVERY = 0.5  # seconds of rule-only work a kill may lose (it is redone on resume)
TICK_EVERY = 15.0  # seconds between progress lines in a log (stderr not a terminal)

COUNT_LABELS = {
    "duplicates": "exact duplicates dropped",
    "near_duplicates": "near-duplicates dropped",
    "in_eval": "dropped: also in --eval (leakage)",
    "invalid": "invalid rule rows dropped",
    "skipped": "LLM replies skipped",
}


@dataclass
class Builder:
    """One chunk at a time: rules, then the LLM, then the filter; committed after each chunk."""

    book: str
    style: TermStyle
    args: argparse.Namespace
    client: LlmClient | None
    row_filter: RowFilter
    categories: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def ask(self, chunk: Chunk, category: str) -> Reply:
        assert self.client is not None
        return self.client.generate(
            chunk.text, chunk.source(self.book), category, self.args.per_chunk
        )

    def chunk_rows(
        self, chunk: Chunk, counts: dict[str, int], replies: dict[str, Future[Reply]] | None = None
    ) -> list[dict[str, str]]:
        """The chunk's rule rows, then its LLM rows (`replies`: requests already in flight,
        one per category; asked here, one by one, when not given)."""
        candidates = rule_rows(chunk, self.book, self.style, self.args.min_paragraph)
        if self.client is not None:
            for category in CATEGORIES:
                if replies is not None:
                    got, why = replies[category].result()
                else:
                    got, why = self.ask(chunk, category)
                if got is None:
                    # Kept in the state file, so a resumed run still reports them.
                    for key in ("skipped", f"skipped: {why}"):
                        counts[key] = counts.get(key, 0) + 1
                else:
                    candidates.extend(got)
        kept = []
        for row in candidates:
            verdict = self.row_filter.verdict(row)
            if verdict == "ok":
                kept.append(row)
                self.categories[row["category"]] += 1
            else:
                counts[verdict] = counts.get(verdict, 0) + 1
        return kept


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _eval_keys(paths: list[str] | None) -> tuple[frozenset[str], str | None]:
    """Prompt keys of every held-out file (--eval is repeatable: paraphrase and unseen sets),
    and one hash of them all, so a resumed run knows they did not change."""
    if not paths:
        return frozenset(), None
    keys: set[str] = set()
    digest = hashlib.sha256()
    for path in paths:
        check_readable(Path(path))
        rows, errors = load_rows(Path(path))
        if errors:
            raise UsageError(f"{path}: {len(errors)} invalid row(s); run: psych validate {path}")
        keys.update(prompt_key(r.data) for r in rows)
        digest.update(_sha256(Path(path).read_bytes()).encode())
    return frozenset(keys), digest.hexdigest()


def _client(args: argparse.Namespace) -> LlmClient | None:
    if bool(args.llm_url) != bool(args.model):
        raise UsageError("--llm-url and --model go together")
    if not args.llm_url:
        return None
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {args.api_key_env}: that variable is not set")
    return LlmClient(
        chat_url(args.llm_url),
        args.model,
        key,
        args.timeout,
        args.retries,
        structured=not args.no_json_schema,
        max_tokens=args.max_tokens,
    )


def _check_numbers(args: argparse.Namespace) -> None:
    for name, low in (
        ("per_chunk", 1),
        ("retries", 0),
        ("chunk_chars", 200),
        ("min_paragraph", 1),
        ("concurrency", 1),
        ("sample", 0),
    ):
        if getattr(args, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {low}")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")


def _progress_bar(total: int, done: int) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    )
    bar.add_task("chunks", total=total, completed=done)
    return bar


def _summary(builder: Builder, counts: dict[str, int], out: Path, rows: int, chunks: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="build-dataset: rows per category")
    table.add_column("category")
    table.add_column("rows", justify="right")
    for cat in CATEGORIES:
        table.add_row(cat, str(builder.categories.get(cat, 0)))
    table.add_row("total", str(rows), style="bold")
    table.add_section()
    for key, label in COUNT_LABELS.items():
        if key != "invalid" or counts.get(key):
            table.add_row(label, str(counts.get(key, 0)))
    Console().print(table)
    reasons = sorted(
        (k.removeprefix("skipped: "), n) for k, n in counts.items() if k.startswith("skipped: ")
    )
    why = f" ({', '.join(f'{r}: {n}' for r, n in reasons)})" if reasons else ""
    print(
        f"wrote {rows} row(s) to {out} from {chunks} chunk(s); dropped "
        f"{counts.get('duplicates', 0) + counts.get('near_duplicates', 0)} duplicate(s), "
        f"{counts.get('in_eval', 0)} in --eval; skipped {counts.get('skipped', 0)} LLM "
        f"repl{'y' if counts.get('skipped', 0) == 1 else 'ies'}{why}"
    )


def _start(
    args: argparse.Namespace, cars: Sidecars, sha: str, settings: dict[str, Any], total: int
) -> tuple[BuildState, list[dict[str, str]]]:
    """Resume the interrupted run, or start a new one (OUT is never overwritten unasked)."""
    if args.restart:
        cars.remove()
    state = load_state(cars, sha, settings)
    if state is not None:
        if state.total_chunks != total:
            raise UsageError(f"{cars.state}: chunk count differs; rerun with --restart")
        return state, committed_rows(cars, state)
    if cars.out.exists() and not args.force:
        raise UsageError(f"{cars.out}: exists; not overwriting it without --force")
    cars.partial.unlink(missing_ok=True)  # stale: without a state file nothing in it counts
    return BuildState(sha, settings, total), []


def _settings(
    args: argparse.Namespace, name: str, client: LlmClient | None, eval_sha: str | None
) -> dict[str, Any]:
    """What decides the rows; a resumed run must have the same, or it would mix two datasets."""
    return {
        "name": name,
        "chunk_chars": args.chunk_chars,
        "min_paragraph": args.min_paragraph,
        "llm_url": client.url if client else None,
        "model": args.model,
        "per_chunk": args.per_chunk if client else None,
        "max_tokens": args.max_tokens if client else None,
        "eval": eval_sha,
    }


def build(args: argparse.Namespace) -> int:
    book_path, out = Path(args.book), Path(args.output)
    text = read_book(book_path)
    if out.exists() and out.resolve() == book_path.resolve():
        raise UsageError(f"{out}: the output must be a new file, not the book")
    _check_numbers(args)
    client = _client(args)
    eval_keys, eval_sha = _eval_keys(args.eval)
    name, chunks = split_book(book_path, text, args.name, args.chunk_chars)
    if not chunks:
        raise UsageError(f"{book_path}: no paragraphs found")
    cars = Sidecars(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = _settings(args, name, client, eval_sha)
    state, kept = _start(args, cars, _sha256(text.encode("utf-8")), settings, len(chunks))
    builder = Builder(name, TermStyle(text), args, client, RowFilter(eval_keys))
    for row in kept:
        builder.row_filter.verdict(row)  # re-learn what the finished chunks produced
        builder.categories[row["category"]] += 1
    try:
        run_chunks(builder, chunks, state, cars)
    except KeyboardInterrupt:
        kept_msg = "nothing kept"
        if state.chunks_done:
            kept_msg = (
                f"{len(state.chunks_done)}/{len(chunks)} chunk(s) kept in {cars.state}; "
                "rerun the same command to resume"
            )
        print(f"psych build-dataset: stopped; {out} untouched; {kept_msg}", file=sys.stderr)
        raise
    return finish(builder, state, cars, len(chunks))


def run_chunks(builder: Builder, chunks: list[Chunk], state: BuildState, cars: Sidecars) -> None:
    """Each chunk not done yet: its rows appended to the partial file, then the state saved.

    With an LLM, up to --concurrency requests are in flight (the chunks ahead are asked while
    the current one is finished), but chunks are committed in book order, so the output is
    the same whatever the concurrency and a resumed run matches a clean one."""
    done = set(state.chunks_done)
    todo = deque(c for c in chunks if c.index not in done)
    client = builder.client
    workers = builder.args.concurrency if client is not None else 0
    pool = _Workers(workers) if workers else None
    ahead = 1 + -(-workers // len(CATEGORIES))  # chunks asked in advance: keeps workers busy
    inflight: deque[tuple[Chunk, dict[str, Future[Reply]] | None]] = deque()
    ticker = _Ticker(len(chunks), len(done), client)

    def submit() -> None:
        while todo and len(inflight) < max(ahead, 1):
            chunk = todo.popleft()
            futures = None
            if pool is not None:
                futures = {c: pool.submit(builder.ask, chunk, c) for c in CATEGORIES}
            inflight.append((chunk, futures))

    # Finished chunks not yet committed. Each commit is two fsyncs, which would cost more
    # than the rules themselves (a 1 MB book: 20 s instead of 3), so without an LLM they are
    # committed every COMMIT_EVERY seconds, and always before leaving, Ctrl-C included.
    finished: list[tuple[int, list[dict[str, str]]]] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        if finished:
            rows = [r for _, chunk_rows in finished for r in chunk_rows]
            state.partial_bytes += append_rows(cars.partial, rows) if rows else 0
            state.chunks_done.extend(index for index, _ in finished)
            save_state(cars, state)  # the commit point: these chunks are done
            finished.clear()
        last_commit = time.monotonic()

    try:
        with _progress_bar(len(chunks), len(done)) as bar:
            submit()
            while inflight:
                chunk, futures = inflight.popleft()
                counts: dict[str, int] = {}  # merged only once the chunk is done
                finished.append((chunk.index, builder.chunk_rows(chunk, counts, futures)))
                for key, n in counts.items():
                    state.counts[key] = state.counts.get(key, 0) + n
                if client is not None or time.monotonic() - last_commit >= COMMIT_EVERY:
                    commit()
                bar.advance(bar.task_ids[0])
                ticker.tick()
                submit()
    finally:
        commit()
        if pool is not None:
            pool.stop()


class _Workers:
    """A thread pool whose threads do not hold up the exit: after Ctrl-C, a request in flight
    (up to --timeout seconds) is abandoned, not waited for (ThreadPoolExecutor joins its
    threads at exit)."""

    def __init__(self, n: int) -> None:
        self.jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None]
        self.jobs = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._work, name=f"llm-{i}", daemon=True) for i in range(n)
        ]
        for t in self.threads:
            t.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.put((future, fn, args))
        return future

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # handed to whoever waits on the future
                future.set_exception(e)

    def stop(self) -> None:
        """Queued jobs are cancelled; running ones finish (or not) in the background."""
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self.threads:
            self.jobs.put(None)


class _Ticker:
    """Progress for logs (stderr not a terminal, where the bar is hidden) on the LLM path: a
    line every 15 s with chunks done, requests per second and the time left."""

    def __init__(self, total: int, done: int, client: LlmClient | None) -> None:
        self.total, self.done, self.client = total, done, client
        self.start = self.last = time.monotonic()
        self.start_done = done
        self.quiet = client is None or sys.stderr.isatty()

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.quiet or (now - self.last < TICK_EVERY and self.done < self.total):
            return
        self.last = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate else 0.0
        assert self.client is not None
        print(
            f"build-dataset: {self.done}/{self.total} chunks, "
            f"{self.client.requests / max(now - self.start, 1e-9):.1f} requests/s, "
            f"about {_duration(left)} left",
            file=sys.stderr,
            flush=True,
        )


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return (
        f"{minutes} min {seconds:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def finish(builder: Builder, state: BuildState, cars: Sidecars, chunks: int) -> int:
    rows = sum(builder.categories.values())
    if rows == 0:
        cars.remove()
        print(
            f"psych build-dataset: no rows found in {builder.args.book}; nothing written",
            file=sys.stderr,
        )
        return 1
    data = cars.partial.read_bytes()[: state.partial_bytes].decode("utf-8")
    write_text_atomic(cars.out, data)
    cars.remove()  # only after OUT is complete: a kill in between just redoes this step
    _summary(builder, state.counts, cars.out, rows, chunks)
    client = builder.client
    if client is not None and client.requests:
        took = time.monotonic() - builder.started
        # "sent", not "used": some servers accept the field and ignore it.
        fmt = (
            "response_format (JSON schema) sent"
            if client.structured
            else "no response_format ("
            + ("--no-json-schema" if builder.args.no_json_schema else "the server rejected it")
            + ")"
        )
        print(
            f"LLM: {client.requests} request(s) in {_duration(took)} "
            f"({client.requests / max(took, 1e-9):.1f}/s, {builder.args.concurrency} in flight), "
            f"{fmt}"
        )
    if builder.args.sample:
        from .sample import print_sample

        seed = builder.args.seed
        if seed is None:
            seed = random.SystemRandom().randrange(10_000)  # printed, so it can be repeated
        numbered = [(i + 1, orjson.loads(line)) for i, line in enumerate(data.splitlines())]
        print_sample(cars.out, numbered, builder.args.sample, seed)
    return 0
