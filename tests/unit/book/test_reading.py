"""psych_plugin/book/reading.py: the book file -> chapters, sections, paragraphs and lists ->
chunks; textbook apparatus (objectives, captions, feature boxes, review sections) left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from psych_plugin.book.reading import make_chunks, parse_sections, read_book, split_book
from psych_plugin.problems import UsageError

from .conftest import BOOK, build, rows_of


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
    _, sections = parse_sections(book.read_text(encoding="utf-8"), markdown=False)
    assert [s.chapter for s in sections][0] == "CHAPTER 1: THE SCIENCE OF MIND"


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


def test_split_book_names_and_chunks():
    book = "# A Primer\n\nIntro.\n\n## Learning\n\nText.\n\n### Habits\n\nMore text.\n"
    name, chunks = split_book(Path("primer.md"), book)
    assert name == "A Primer"  # a lone H1 over H2 chapters is the title
    assert [c.source(name) for c in chunks] == [
        "A Primer",
        "A Primer: Learning",
        "A Primer: Learning > Habits",
    ]
    assert split_book(Path("primer.md"), book, name="Primer")[0] == "Primer"
    # A section's blocks are grouped into chunks of about N characters, never split.
    text = "# T\n\n" + "\n\n".join(f"Paragraph {i} " + "x" * 300 for i in range(5))
    _, sections = parse_sections(text, markdown=True)
    sizes = [len(c.blocks) for c in make_chunks(sections, 700)]
    assert sizes == [2, 2, 1]
    glossary = split_book(BOOK, BOOK.read_text(encoding="utf-8"))[1][-1]
    assert glossary.glossary and glossary.section == ""


def test_read_book_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read_book(tmp_path / "missing.md")
    with pytest.raises(UsageError, match="is a directory"):
        read_book(tmp_path)
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    with pytest.raises(UsageError, match="empty"):
        read_book(empty)
    crlf = tmp_path / "crlf.md"
    crlf.write_bytes(b"\xef\xbb\xbf# T\r\n\r\nText.\r")
    assert read_book(crlf) == "# T\n\nText.\n"
