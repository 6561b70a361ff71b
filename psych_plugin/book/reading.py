"""Reading the book: its text, its chapters and sections (Markdown or plain-text headings),
its paragraphs and lists, and the chunks they are grouped into."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..problems import UsageError
from .text import clean_markdown


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


@dataclass(frozen=True)
class Block:
    """A run of non-blank lines: prose (a paragraph) or a list (items kept apart)."""

    kind: str  # "prose" | "list"
    lines: tuple[str, ...]
    quoted: bool = False  # a block quote: a feature box's text or a quotation, not the narrative

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
        return bool(GLOSSARY.search(f"{self.chapter} {self.section}"))

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


MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
GLOSSARY = re.compile(r"\b(?:glossary|key terms|key concepts|terms to know)\b", re.IGNORECASE)
# Textbook apparatus, not teaching prose: a section with one of these titles gives no rows.
_SKIP_SECTION = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?\s+)?(?:summary|chapter summary|review questions|critical thinking "
    r"questions|personal application questions|discussion questions|exercises|references|"
    r"bibliography|further reading|self-test|quiz)\b",
    re.IGNORECASE,
)
_OBJECTIVES = re.compile(r"^(?:learning )?objectives\b|^learning outcomes\b", re.IGNORECASE)
# Feature boxes: asides, links to videos, self-checks. Their prose leans on a video or the
# reader ("Watch this clip ...") and their first words are a label, not a subject.
FEATURE_BOX = re.compile(
    r"^(?i:link to learning|dig deeper|everyday connection|what do you think|connect the "
    r"concepts|try it|think it over|psych in real life|applying psychology|research "
    r"spotlight|case in point|focus on|spotlight on|learning objectives|review questions|"
    r"critical thinking)"
    # A label, not a sentence that happens to start so ("Focus on the cue ..."): it ends the
    # line, or a colon, dash or a capitalised title follows.
    r"(?=\s*$|\s*[:.\-–—]|\s+[A-Z\d*_\"“])"
)
_CAPTION = re.compile(r"^(?:figure|fig\.|table|photo|image|exhibit)\s+\d+(?:[.-]\d+)*\b", re.I)
_OBJECTIVES_INTRO = re.compile(r"by the end of this (?:section|chapter)|you will be able to", re.I)
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
        m = None if in_fence else MD_HEADING.match(line)
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
    quoted = all(ln.lstrip().startswith(">") for ln in lines)
    lines = [re.sub(r"^\s*>\s?", "", ln) for ln in lines]  # block quotes are prose too
    lines = [ln for ln in lines if ln.strip()] or [""]  # a ">" alone joins a box's paragraphs
    if all(ln.lstrip().startswith("|") for ln in lines) or re.fullmatch(r"[-*_=\s]{3,}", lines[0]):
        return None
    label = clean_markdown(lines[0])
    if _CAPTION.match(label) or re.fullmatch(r"\s*!\[[^\]]*\]\([^)]*\)\s*", lines[0]):
        return None  # a figure or table caption, or a bare image: it describes what is not here
    if FEATURE_BOX.match(label) or (quoted and re.match(r"^\s*(\*\*|__)[^*_]+\1\s*$", lines[0])):
        return None  # a feature box ("Link to Learning", a labelled aside), not the main text
    if _LIST_ITEM.match(lines[0]):
        items: list[str] = []
        for ln in lines:
            if _LIST_ITEM.match(ln) or not items:
                items.append(_LIST_ITEM.sub("", ln).strip())
            else:
                items[-1] += " " + ln.strip()  # a wrapped item continues on the next line
        return Block("list", tuple(items))
    return Block("prose", tuple(ln.strip() for ln in lines), quoted)


def parse_sections(text: str, markdown: bool) -> tuple[str | None, list[Section]]:
    """(title found in the book, sections in reading order)."""
    lines = text.split("\n")
    if markdown:
        title, events = _markdown_events(lines)
    else:
        title, events = None, _plain_events(lines)
    sections: list[Section] = []
    chapter, section, parent, body = "", "", "", []

    def flush() -> None:
        blocks = _blocks(body)
        body.clear()
        if _SKIP_SECTION.match(chapter) or _SKIP_SECTION.match(section):
            return
        if FEATURE_BOX.match(section) and not _OBJECTIVES.match(section):
            return
        where = section
        if _OBJECTIVES.match(section):
            # "By the end of this section ..." and its list are objectives; the prose after
            # them (before the next heading) is the parent section's opening.
            while blocks and (blocks[0].kind == "list" or _OBJECTIVES_INTRO.search(blocks[0].text)):
                blocks = blocks[1:]
            where = parent
        if blocks:
            sections.append(Section(chapter, where, blocks))

    for kind, value in events:
        if kind == "line":
            body.append(value)
            continue
        flush()
        if kind == "chapter":
            chapter, section, parent = value, "", ""
        else:
            parent = section if _OBJECTIVES.match(value) else value
            section = value
    flush()
    return title, sections


def is_markdown(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".md", ".markdown"):
        return True
    return any(MD_HEADING.match(line) for line in text.split("\n"))


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
