"""`psych build-dataset BOOK -o OUT.jsonl`: a psychology book -> candidate Alpaca rows.

The book (plain text or Markdown) is split into chapters, sections and chunks of paragraphs.
Each chunk gets rule-based rows (defined terms, glossary entries, one summarise/explain task per
substantial paragraph) and, with --llm-url, rows from an OpenAI-compatible chat endpoint (one
prompt per category). Every row passes the schema; duplicates, near-duplicates and rows that
overlap the eval file are dropped.

Progress lives in two sidecars next to OUT: OUT.partial (the rows so far, appended and fsynced
after each chunk) and OUT.state.json (chunks done, the partial file's committed length, the
book's sha256). A run killed at any point resumes on the same command; OUT itself is only ever
written whole, atomically, at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .atomic import write_text_atomic
from .lint import CATEGORIES, load_rows, normalise, prompt_key
from .problems import UsageError
from .schema import row_is_valid
from .validate import check_readable

if TYPE_CHECKING:
    from rich.progress import Progress

STATE_VERSION = 1
RETRY_DELAY = 0.5  # seconds before the first retry of a transport error; doubles each time


# ================================================================ reading the book
def read_book(path: Path) -> str:
    """The book's text with newlines normalised; UsageError when it cannot be read as UTF-8."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a text or Markdown book")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from e
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UsageError(f"{path}: the book is empty")
    return text


# ================================================================ structure
@dataclass(frozen=True)
class Block:
    """A run of non-blank lines: prose (a paragraph) or a list (items kept apart)."""

    kind: str  # "prose" | "list"
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines)


@dataclass(frozen=True)
class Section:
    chapter: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Chunk:
    """The unit of work and of resumption: a few paragraphs of one section."""

    index: int
    chapter: str
    section: str
    blocks: tuple[Block, ...]

    @property
    def glossary(self) -> bool:
        return "glossary" in f"{self.chapter} {self.section}".casefold()

    def source(self, book: str) -> str:
        where = " > ".join(t for t in (self.chapter, self.section) if t)
        return f"{book}: {where}" if where else book

    @property
    def text(self) -> str:
        """Plain text of the chunk, as the LLM sees it."""
        parts = []
        for block in self.blocks:
            if block.kind == "list":
                parts.append("\n".join(clean_markdown(line) for line in block.lines))
            else:
                parts.append(clean_markdown(block.text))
        return "\n\n".join(parts)


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+")
_CHAPTER_LINE = re.compile(
    r"^(?:chapter|part)\s+(?:\d+|[ivxlc]+|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve)\b.{0,80}$",
    re.IGNORECASE,
)


def _markdown_events(lines: list[str]) -> tuple[str | None, list[tuple[str, str]]]:
    """(book title, events) where events are ("chapter"|"section"|"line", text)."""
    headings: list[tuple[int, int, str]] = []  # (line number, level, title)
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            headings.append((i, len(m.group(1)), clean_markdown(m.group(2))))
    levels = [lvl for _, lvl, _ in headings]
    title = None
    if levels.count(1) == 1 and levels[0] == 1 and 2 in levels:
        # One H1 over H2 chapters: it is the book's title, not a chapter.
        title, chapter_level = headings[0][2], 2
    else:
        chapter_level = min(levels) if levels else 1
    kinds = {i: ("chapter" if lvl <= chapter_level else "section", t) for i, lvl, t in headings}
    if title is not None:
        kinds[headings[0][0]] = ("title", title)
    events: list[tuple[str, str]] = []
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            events.append(("line", ""))  # code is not prose: it ends the paragraph
            continue
        if in_fence:
            continue
        kind = kinds.get(i)
        if kind is None:
            events.append(("line", line))
        elif kind[0] != "title":
            events.append(kind)
    return title, events


def _is_caps_heading(line: str) -> bool:
    s = line.strip()
    letters = [c for c in s if c.isalpha()]
    return (
        3 <= len(s) <= 80
        and len(letters) >= 3
        and s == s.upper()
        and not s.endswith((".", ",", ";"))
        and len(s.split()) <= 10
    )


def _plain_events(lines: list[str]) -> list[tuple[str, str]]:
    """Headings in plain text: "Chapter 3 ..." lines, ALL-CAPS lines, a lone "Glossary"."""

    def standalone(i: int) -> bool:
        return i == 0 or not lines[i - 1].strip()

    has_chapters = any(
        _CHAPTER_LINE.match(ln.strip()) and standalone(i) for i, ln in enumerate(lines)
    )
    events: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s and standalone(i) and _CHAPTER_LINE.match(s):
            title, i = _chapter_title(lines, i)
            events.append(("chapter", title))
            continue
        if s and standalone(i) and (_is_caps_heading(s) or s.casefold() == "glossary"):
            events.append(("section" if has_chapters else "chapter", s))
        else:
            events.append(("line", lines[i]))
        i += 1
    return events


def _chapter_title(lines: list[str], i: int) -> tuple[str, int]:
    """A "CHAPTER 3" line followed by a caps subtitle line is one heading: "CHAPTER 3: MEMORY"."""
    title = lines[i].strip()
    nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if len(title.split()) == 2 and nxt and _is_caps_heading(nxt):
        return f"{title}: {nxt}", i + 2
    return title, i + 1


def _blocks(lines: list[str]) -> tuple[Block, ...]:
    """Paragraphs (blank-line separated); tables and rules are not prose and are dropped."""
    blocks: list[Block] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            block = _make_block(current)
            if block is not None:
                blocks.append(block)
            current.clear()

    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        else:
            flush()
    flush()
    return tuple(blocks)


def _make_block(lines: list[str]) -> Block | None:
    lines = [re.sub(r"^\s*>\s?", "", ln) for ln in lines]  # block quotes are prose too
    if all(ln.lstrip().startswith("|") for ln in lines) or re.fullmatch(r"[-*_=\s]{3,}", lines[0]):
        return None
    if _LIST_ITEM.match(lines[0]):
        items: list[str] = []
        for ln in lines:
            if _LIST_ITEM.match(ln) or not items:
                items.append(_LIST_ITEM.sub("", ln).strip())
            else:
                items[-1] += " " + ln.strip()  # a wrapped item continues on the next line
        return Block("list", tuple(items))
    return Block("prose", tuple(ln.strip() for ln in lines))


def parse_sections(text: str, markdown: bool) -> tuple[str | None, list[Section]]:
    """(title found in the book, sections in reading order)."""
    lines = text.split("\n")
    if markdown:
        title, events = _markdown_events(lines)
    else:
        title, events = None, _plain_events(lines)
    sections: list[Section] = []
    chapter, section, body = "", "", []

    def flush() -> None:
        blocks = _blocks(body)
        if blocks:
            sections.append(Section(chapter, section, blocks))
        body.clear()

    for kind, value in events:
        if kind == "line":
            body.append(value)
            continue
        flush()
        if kind == "chapter":
            chapter, section = value, ""
        else:
            section = value
    flush()
    return title, sections


def is_markdown(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".md", ".markdown"):
        return True
    return any(_MD_HEADING.match(line) for line in text.split("\n"))


def make_chunks(sections: Iterable[Section], chunk_chars: int) -> list[Chunk]:
    """Group each section's blocks into chunks of about `chunk_chars` (never split a block)."""
    chunks: list[Chunk] = []
    for sec in sections:
        group: list[Block] = []
        size = 0
        for block in sec.blocks:
            if group and size + len(block.text) > chunk_chars:
                chunks.append(Chunk(len(chunks), sec.chapter, sec.title, tuple(group)))
                group, size = [], 0
            group.append(block)
            size += len(block.text)
        if group:
            chunks.append(Chunk(len(chunks), sec.chapter, sec.title, tuple(group)))
    return chunks


def split_book(
    path: Path, text: str, name: str | None = None, chunk_chars: int = 3000
) -> tuple[str, list[Chunk]]:
    """(book name for `source`, chunks). The name: --name, else a Markdown title, else the stem."""
    title, sections = parse_sections(text, is_markdown(path, text))
    return name or title or path.stem, make_chunks(sections, chunk_chars)


# ================================================================ text helpers
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_STRONG = re.compile(r"(\*\*|__)(.+?)\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?![\w])")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def clean_markdown(text: str) -> str:
    """Markdown inline formatting -> plain text (emphasis, links, code marks, tags)."""
    text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
    text = _EM_UNDER.sub(r"\1", _EM_STAR.sub(r"\1", _STRONG.sub(r"\2", text)))
    text = _TAG.sub("", text.replace("`", ""))
    return re.sub(r"\s+", " ", text).strip()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BOUNDARY = re.compile(r"([.!?][\"'”’)\]*_]*)\s+(?=[\"'“‘(\[*_]*[A-Z0-9])")
_ABBREVIATIONS = _words(
    "e.g. i.e. etc. vs. dr. mr. mrs. ms. prof. st. al. cf. approx. fig. no. p. pp. ca. c. jr. "
    "sr. u.s. vol. ed. eds."
)


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph; abbreviations ("e.g.", "et al.") and initials ("B. F.") hold."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        token = text[start : m.start(1) + 1].split()[-1].lstrip("(*_\"'“‘").lower()
        if token in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", token):
            continue
        out.append(text[start : m.end(1)].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _pick(key: str, options: tuple[str, ...]) -> str:
    """A deterministic choice: the same key always gets the same template, run after run."""
    digest = hashlib.sha256(normalise(key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def _sentence_end(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", '"', "”", ")")) else text + "."


# ================================================================ rules: definitions
_DEFINE = (
    "What is {t}?",
    'Define the term "{bare}".',
    'In psychology, what does "{bare}" mean?',
    'What does the term "{bare}" refer to in psychology?',
    "Explain the concept of {bare}.",
    "Give a short definition of {bare}.",
)
_DEFINE_PLURAL = ("What are {t}?", *_DEFINE[1:])

_CUE = re.compile(
    r"\b(?:is|are|refers? to|means?|describes?|involves?|occurs? when|is defined as)\b"
)
_NAMING = re.compile(r"\b(?:called|termed|known as|named)\b[^.;:]{0,60}$")
_APPOSITION = re.compile(r"^\s*,\s+(?:the|a|an)\s")
_CONTINUES = re.compile(
    r"^(?:It|This|These|They|Such|In other words|For example|For instance|Its)\b"
)
_SUBJECT = re.compile(
    r"^(?:(?P<art>The|A|An)\s+)?(?P<term>[A-Za-z][\w'’-]*(?:\s+[\w'’-]+){0,4}?)"
    r"(?:\s*\([^)]{1,40}\))?\s+(?P<verb>is defined as|are defined as|refers? to|"
    r"is (?=(?:a|an|the)\b)|are (?=(?:a|an|the)\b))"
)
_NOT_TERMS = _words(
    "it this that these those there here he she they we you i one each every such another its "
    "his her their our your what which who why how when where both all some most many much "
    "other first second third finally however perhaps also and but or so thus yet result "
    "results study experiment idea answer problem reason goal aim point question finding "
    "findings outcome difference example key lesson case process effect way part rest "
    "chapter section book passage"
)
_CLAUSE_WORDS = _words("was were has had have be been not no if because when while")


@dataclass(frozen=True)
class Definition:
    term: str  # as it reads in the book, without article
    article: str  # "a" / "an" / "the" / "" as the book used it
    plural: bool
    sentences: tuple[str, ...]  # the defining sentence(s), plain text


def _good_term(term: str) -> bool:
    words = term.split()
    if not words or len(term) > 60 or len(words) > 6:
        return False
    # "This is a ...", "The study is a ...", "It was ...": a clause, not a term.
    if words[0].casefold() in _NOT_TERMS or any(w.casefold() in _CLAUSE_WORDS for w in words):
        return False
    return any(c.isalpha() for c in term)


def _continuation(sentences: list[str], i: int, term: str, limit: int = 2) -> tuple[str, ...]:
    """The defining sentence plus the next ones while they go on about the term."""
    out = [sentences[i]]
    key = normalise(term)
    for nxt in sentences[i + 1 : i + 1 + limit]:
        if _CONTINUES.match(nxt) or key in normalise(nxt):
            out.append(nxt)
        else:
            break
    return tuple(out)


def bold_definitions(paragraph: str) -> list[Definition]:
    """`**Term**` in a sentence that defines it (term first, or introduced by "called")."""
    raw = split_sentences(paragraph)
    plain = [clean_markdown(s) for s in raw]
    found: list[Definition] = []
    for i, sentence in enumerate(raw):
        for m in _STRONG.finditer(sentence):
            term = clean_markdown(m.group(2)).strip(" :;,.—–-")
            if not _good_term(term):
                continue
            before = clean_markdown(sentence[: m.start()])
            after = clean_markdown(sentence[m.end() :])
            art = re.search(r"\b(a|an|the)\s*$", before, re.IGNORECASE)
            article = art.group(1).lower() if art else ""
            if _NAMING.search(before):
                # "Pavlov called this the **conditioned response**": the previous sentence says
                # what "this" is.
                back = i > 0 and re.search(r"\b(?:this|these|that|such)\b", before, re.I)
                found.append(Definition(term, article, False, tuple(plain[i - bool(back) : i + 1])))
            elif _APPOSITION.match(after) or (
                len(before) <= 40 and (_CUE.search(after) or after[:1] in ":(—–,")
            ):
                # The term leads its sentence and a verb defines it, or an apposition follows:
                # "acquire **object permanence**, the understanding that ...".
                plural = bool(re.match(r"\s*(?:\([^)]*\)\s*)?are\b", after))
                found.append(Definition(term, article, plural, _continuation(plain, i, term)))
    return found


def sentence_definitions(paragraph: str) -> list[Definition]:
    """Plain sentences "X is a/an/the ...", "X refers to ...", "X is defined as ..."."""
    plain = [clean_markdown(s) for s in split_sentences(paragraph)]
    found = []
    for i, sentence in enumerate(plain):
        m = _SUBJECT.match(sentence)
        if not m or len(sentence) < 30 or not _good_term(m.group("term")):
            continue
        term = m.group("term")
        plural = m.group("verb").startswith("are")
        article = (m.group("art") or "").lower()
        found.append(Definition(term, article, plural, _continuation(plain, i, term)))
    return found


def glossary_entry(line: str) -> Definition | None:
    """ "Term: definition", "Term - definition", "**Term** definition" (a glossary line)."""
    line = line.strip()
    m = re.match(r"^(\*\*|__)(.+?)\1\s*[:.\-–—]?\s*(.+)$", line)
    if m:
        term, body = m.group(2), m.group(3)
    else:
        m = re.match(r"^([^:]{1,60}?)\s*(?::|\s[-–—]\s)\s*(.+)$", line)
        if not m:
            return None
        term, body = m.group(1), m.group(2)
    term = clean_markdown(term).strip(" :;,.—–-")
    body = clean_markdown(body)
    if not _good_term(term) or len(body) < 10:
        return None
    return Definition(term, "", False, (_sentence_end(body),))


class TermStyle:
    """How a term should read in a question: "classical conditioning", not "Classical ..."
    (which is how it reads at the start of a sentence), unless the book writes it capitalised."""

    def __init__(self, book_text: str) -> None:
        # Line by line, headings left out: "## How Memory Works" is not a mid-sentence "Memory".
        lines = book_text.split("\n")
        self.text = "\n".join(clean_markdown(ln) for ln in lines if not _MD_HEADING.match(ln))

    def display(self, term: str) -> str:
        sentence_case = len(term) > 1 and term[0].isupper() and term[1].islower()
        # Capitalised mid-sentence somewhere ("the Strange Situation"): a name; keep it.
        if sentence_case and not re.search(rf"[a-z,;][ \t]+{re.escape(term)}(?!\w)", self.text):
            return term[0].lower() + term[1:]
        return term


def definition_row(d: Definition, style: TermStyle, source: str) -> dict[str, str]:
    bare = style.display(d.term)
    with_article = f"{d.article} {bare}" if d.article in ("a", "an") else bare
    template = _pick(d.term, _DEFINE_PLURAL if d.plural else _DEFINE)
    output = " ".join(_sentence_end(s) for s in d.sentences)
    return _row(template.format(t=with_article, bare=bare), "", output, "definition", source)


# ================================================================ rules: paragraph tasks
_SUMMARISE = (
    "Summarise this passage from the chapter on {topic}.",
    "Summarise the following passage about {topic} in one or two sentences.",
    "Give a brief summary of this passage on {topic}.",
)
_EXPLAIN = (
    "Explain the main idea of this passage.",
    "What is the main point of this passage about {topic}?",
    "What is the central idea of this passage on {topic}?",
)
_STOPWORDS = _words(
    "the a an and or but of to in on at by for with from as is are was were be been being it "
    "its this that these those they them their there which who whom whose what when where why "
    "how not no can could may might will would should shall do does did has have had than then "
    "so such also into about over under more most other some any each only very just because "
    "while if both between after before during through one two"
)
# Keyword rules for a paragraph's category, checked in this order of priority on ties.
_CATEGORY_WORDS = {
    "case_study": r"\bcase of\b|\bcase stud(?:y|ies)\b|\bpatients?\b",
    "experiment": r"\bstud(?:y|ies)\b|\bexperiment\w*|\bparticipants?\b",
    "comparison": r"\bwhereas\b|\bunlike\b|\bdiffer\w*|\bcompared\b|\bin contrast\b",
    "theory": r"\btheor(?:y|ies|ists?)\b|\bmodels?\b",
    "how_to": r"\bhow\b|\bprocess(?:es)?\b|\bstages?\b|\bsteps?\b",
}
_HOW_TO_BODY = r"\bprocess(?:es)?\b|\bstages?\b|\bsteps?\b"


def classify(section: str, paragraph: str) -> str:
    """The category a paragraph teaches: its section title weighs double; none -> definition."""
    scores = {}
    for cat, pattern in _CATEGORY_WORDS.items():
        # "how" is too common in prose to count there; in a title it means a process.
        body = _HOW_TO_BODY if cat == "how_to" else pattern
        scores[cat] = 2 * len(re.findall(pattern, section, re.I)) + len(
            re.findall(body, paragraph, re.I)
        )
    best = max(scores.values())
    if best == 0:
        return "definition"
    return next(cat for cat, score in scores.items() if score == best)


def _content_words(sentence: str) -> set[str]:
    words = re.findall(r"[a-z][a-z'-]+", sentence.casefold())
    # A crude stem, so that "memory" and "memories", "schema" and "schemas" count together.
    return {_stem(w) for w in words if len(w) > 2 and w not in _STOPWORDS}


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 4 else word


_PRONOUN_START = re.compile(r"^(?:It|This|These|They|He|She|His|Her|Their|Its)\b")


def central_sentences(sentences: list[str], k: int, topic: str = "") -> list[int]:
    """Indices (best first) of the `k` most central sentences: those whose words recur in the
    paragraph or name its topic. Deterministic: ties go to the earlier sentence."""
    words = [_content_words(s) for s in sentences]
    freq = Counter(w for ws in words for w in ws)
    topic_words = _content_words(topic)
    scores = []
    for i, (sentence, ws) in enumerate(zip(sentences, words, strict=True)):
        weight = sum(freq[w] - 1 + 2 * (w in topic_words) for w in ws)  # once-only words: 0
        score = weight / math.sqrt(len(ws)) if ws else 0.0
        if i == 0:
            score = 1.5 * score + 1.0  # a textbook paragraph's lead usually states its point
        if i and _PRONOUN_START.match(sentence):
            score *= 0.6  # "It ..." out of context is a poor summary
        scores.append(score)
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    return order[:k]


_NUMBERING = re.compile(r"^(?:(?:chapter|part)\s+\w+\s*[:.—–-]\s*|\d+(?:\.\d+)*\.?\s+)", re.I)


def _topic(chunk: Chunk) -> str:
    """What a passage is about, for an instruction: "Memory", not "CHAPTER 2: MEMORY"."""
    title = chunk.section or chunk.chapter or "this topic"
    title = _NUMBERING.sub("", title) or title
    return title.capitalize() if title.isupper() else title


def paragraph_task(
    paragraph: str, chunk: Chunk, source: str, min_chars: int
) -> dict[str, str] | None:
    """A summarise or explain row; the answer is extractive, which is all rules can honestly do."""
    text = clean_markdown(paragraph)
    sentences = split_sentences(text)
    if len(text) < min_chars or len(sentences) < 2:
        return None
    topic = _topic(chunk)
    category = classify(chunk.section, text)
    if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 2 == 0:
        k = 1 if len(sentences) <= 3 else 2
        picked = sorted(central_sentences(sentences, k, topic))  # a summary keeps the book's order
        instruction = _pick(text, _SUMMARISE).format(topic=topic)
    else:
        picked = central_sentences(
            sentences, 1 if len(sentences) < 4 else 2, topic
        )  # main idea first
        instruction = _pick(text, _EXPLAIN).format(topic=topic)
    output = " ".join(sentences[i] for i in picked)
    return _row(instruction, text, output, category, source)


def _row(instruction: str, input_: str, output: str, category: str, source: str) -> dict[str, str]:
    return {
        "instruction": instruction.strip(),
        "input": input_.strip(),
        "output": output.strip(),
        "category": category,
        "source": source,
    }


def rule_rows(
    chunk: Chunk, book: str, style: TermStyle, min_paragraph: int = 200
) -> list[dict[str, str]]:
    """Rows the rules find in one chunk, in reading order."""
    source = chunk.source(book)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()

    def add_definitions(defs: Iterable[Definition]) -> None:
        for d in defs:
            key = normalise(d.term)
            if key not in seen:  # one definition per term per chunk: the first one
                seen.add(key)
                rows.append(definition_row(d, style, source))

    for block in chunk.blocks:
        if chunk.glossary or block.kind == "list":
            for line in block.lines:
                entry = (
                    glossary_entry(line)
                    if chunk.glossary or line.startswith(("**", "__"))
                    else None
                )
                add_definitions([entry] if entry else bold_definitions(line))
            continue
        add_definitions(bold_definitions(block.text))
        add_definitions(sentence_definitions(block.text))
        task = paragraph_task(block.text, chunk, source, min_paragraph)
        if task is not None:
            rows.append(task)
    return rows


# ================================================================ LLM generation
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
        row = _row(values[0], values[1], values[2], category, source)
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


# ================================================================ filtering rows
@dataclass
class RowFilter:
    """Drops exact duplicates, near-duplicates (lint.prompt_key) and rows in the eval file."""

    eval_keys: frozenset[str] = frozenset()
    exact: set[tuple[str, str, str]] = field(default_factory=set)
    near: set[str] = field(default_factory=set)

    def verdict(self, row: dict[str, str]) -> str:
        """ "ok" (and remembered), or why the row is dropped."""
        if not row_is_valid(row):
            return "invalid"
        ekey = (row["instruction"], row["input"], row["output"])
        if ekey in self.exact:
            return "duplicates"
        nkey = prompt_key(row)
        if nkey in self.near:
            return "near_duplicates"
        if nkey in self.eval_keys:
            return "in_eval"
        self.exact.add(ekey)
        self.near.add(nkey)
        return "ok"


# ================================================================ state and sidecars
@dataclass
class BuildState:
    book_sha256: str
    settings: dict[str, Any]
    total_chunks: int
    chunks_done: list[int] = field(default_factory=list)
    partial_bytes: int = 0  # the partial file's committed length; anything after is torn
    counts: dict[str, int] = field(default_factory=dict)
    version: int = STATE_VERSION


@dataclass(frozen=True)
class Sidecars:
    out: Path

    @property
    def state(self) -> Path:
        return self.out.with_name(self.out.name + ".state.json")

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".partial")

    def remove(self) -> None:
        # State first: a partial file without state is stale and ignored.
        self.state.unlink(missing_ok=True)
        self.partial.unlink(missing_ok=True)


def load_state(cars: Sidecars, sha: str, settings: dict[str, Any]) -> BuildState | None:
    """The interrupted run to continue, None when there is none; UsageError when it is another
    book's or another command's."""
    if not cars.state.exists():
        return None
    try:
        state = BuildState(**json.loads(cars.state.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise UsageError(f"{cars.state}: unreadable progress file; rerun with --restart") from e
    if state.version != STATE_VERSION:
        raise UsageError(f"{cars.state}: from another version; rerun with --restart")
    if state.book_sha256 != sha:
        raise UsageError(
            f"{cars.state}: an interrupted run of a different book is in progress "
            "for this output; rerun with --restart to start over"
        )
    if state.settings != settings:
        changed = sorted(k for k in settings if settings[k] != state.settings.get(k))
        raise UsageError(
            f"{cars.state}: the interrupted run used other options "
            f"({', '.join(changed)}); repeat them to resume, or --restart"
        )
    size = cars.partial.stat().st_size if cars.partial.exists() else 0  # no rows yet: none
    if size < state.partial_bytes:
        raise UsageError(f"{cars.partial}: shorter than recorded; rerun with --restart")
    return state


def committed_rows(cars: Sidecars, state: BuildState) -> list[dict[str, str]]:
    """Rows of the finished chunks; a torn tail (killed mid-append) is cut off first."""
    if not cars.partial.exists():
        return []
    os.truncate(cars.partial, state.partial_bytes)
    with open(cars.partial, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


def append_rows(path: Path, rows: list[dict[str, str]]) -> int:
    """Append and fsync; returns the bytes written."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return len(data)


def save_state(cars: Sidecars, state: BuildState) -> None:
    write_text_atomic(cars.state, json.dumps(asdict(state), indent=1) + "\n")


# ================================================================ the command
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

    def chunk_rows(self, chunk: Chunk, counts: dict[str, int]) -> list[dict[str, str]]:
        candidates = rule_rows(chunk, self.book, self.style, self.args.min_paragraph)
        if self.client is not None:
            for category in CATEGORIES:
                got, why = self.client.generate(
                    chunk.text, chunk.source(self.book), category, self.args.per_chunk
                )
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


def _eval_keys(path: str | None) -> tuple[frozenset[str], str | None]:
    if not path:
        return frozenset(), None
    check_readable(Path(path))
    rows, errors = load_rows(Path(path))
    if errors:
        raise UsageError(f"{path}: {len(errors)} invalid row(s); run: psych validate {path}")
    return frozenset(prompt_key(r.data) for r in rows), _sha256(Path(path).read_bytes())


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
    return LlmClient(chat_url(args.llm_url), args.model, key, args.timeout, args.retries)


def _check_numbers(args: argparse.Namespace) -> None:
    for name, low in (("per_chunk", 1), ("retries", 0), ("chunk_chars", 200), ("min_paragraph", 1)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {low}")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")


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
    """Each chunk not done yet: its rows appended to the partial file, then the state saved."""
    done = set(state.chunks_done)
    with _progress_bar(len(chunks), len(done)) as bar:
        for chunk in chunks:
            if chunk.index in done:
                continue
            rows = builder.chunk_rows(chunk, state.counts)
            state.partial_bytes += append_rows(cars.partial, rows) if rows else 0
            state.chunks_done.append(chunk.index)
            save_state(cars, state)  # the commit point: this chunk is done
            bar.advance(bar.task_ids[0])


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
    return 0


def cmd_build_dataset(args: argparse.Namespace) -> int:
    try:
        return build(args)
    except OSError as e:
        raise UsageError(f"{e.filename or args.output}: {e.strerror or e}") from e


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "build-dataset",
        help="turn a book (text/Markdown) into Alpaca rows (rules, optionally an LLM)",
        description="Split a psychology book into chapters, sections and chunks and turn it into "
        "schema-valid Alpaca rows. Rules always run; --llm-url adds an OpenAI-compatible model. "
        "Resumable: rerun the same command after an interruption.",
    )
    p.add_argument("book", metavar="BOOK", help="the book: UTF-8 plain text or Markdown")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="JSONL file to write")
    p.add_argument(
        "--name",
        help="book name used in each row's source (default: the Markdown "
        "title, else the file name)",
    )
    p.add_argument("--eval", metavar="EVAL", help="drop rows whose prompt is in this eval file")
    p.add_argument(
        "--chunk-chars",
        type=int,
        default=3000,
        metavar="N",
        help="about N characters of a section per chunk (default 3000)",
    )
    p.add_argument(
        "--min-paragraph",
        type=int,
        default=200,
        metavar="N",
        help="paragraphs of N+ characters get a summarise/explain row (default 200)",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard an interrupted run's progress and start over",
    )
    g = p.add_argument_group("LLM generation (any OpenAI-compatible chat-completions endpoint)")
    g.add_argument("--llm-url", metavar="URL", help="e.g. http://localhost:8000/v1")
    g.add_argument("--model", metavar="NAME", help="model name sent with each request")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the key")
    g.add_argument(
        "--per-chunk",
        type=int,
        default=3,
        metavar="N",
        help="rows asked for per category per chunk (default 3)",
    )
    g.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="retries of a failed or malformed reply before skipping it (default 2)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for one reply (default 60)",
    )
    p.set_defaults(func=cmd_build_dataset)
