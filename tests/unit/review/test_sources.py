"""Book passages and notes beside a row: the build's sidecar, or the book by section heading."""

from __future__ import annotations

import json

import pytest

from psych_plugin.problems import UsageError
from psych_plugin.review.sources import Sources, book_sections, section_of, sidecar_path

# A small book of its own (the shared fixture book changes with the builder's tests).
BOOK_TEXT = """# Chapter 1: Learning

Learning is a lasting change in behaviour that results from experience.

## Classical Conditioning

### Learning Objectives

- Describe how Pavlov's dogs learned to salivate to a sound

**Extinction** is the weakening of a conditioned response; **spontaneous recovery** follows.

## Operant Conditioning

Behaviour is shaped by its consequences.

# Chapter 2: Memory

## Encoding

Encoding turns what we perceive into a memory.

## The Case of H.M.

The case of the patient known as H.M., Henry Molaison, changed the understanding of memory.

## Forgetting

Hermann Ebbinghaus studied forgetting in the 1880s.
"""


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "book.md"
    path.write_text(BOOK_TEXT, encoding="utf-8")
    return path


def test_section_of_names_the_deepest_heading():
    assert section_of("Intro Psych: Chapter 2: Memory > Encoding") == "Encoding"
    assert section_of("Intro Psych: Chapter 2: Memory") == "Chapter 2: Memory"
    assert (
        section_of("Learning: classical conditioning (Pavlov)") == "classical conditioning (Pavlov)"
    )


def test_book_sections_from_markdown_headings():
    sections = book_sections(BOOK_TEXT)
    assert sections["encoding"] == "Encoding turns what we perceive into a memory."
    assert sections["chapter 1: learning"].startswith("Learning is a lasting change")
    # A heading straight followed by a subheading takes its subsections.
    classical = sections["classical conditioning"]
    assert classical.startswith("### Learning Objectives")
    assert "spontaneous recovery" in classical and "Operant" not in classical
    assert sections["the case of h.m."].startswith("The case of the patient known as H.M.")


def test_book_sections_of_a_plain_text_book():
    text = "MEMORY\n\nMemory is the retention of information.\n\nFORGETTING\n\nDecay.\n"
    assert book_sections(text) == {
        "memory": "Memory is the retention of information.",
        "forgetting": "Decay.",
    }


def test_headings_inside_code_fences_are_text():
    text = "## Real\n\n```\n# not a heading\n```\nafter\n"
    assert book_sections(text) == {"real": "```\n# not a heading\n```\nafter"}


def test_the_sidecar_wins_and_the_book_fills_in(tmp_path, book):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("", encoding="utf-8")
    entries = [
        {
            "line": 1,
            "section": "Memory > Encoding",
            "passage": "Exact chunk.",
            "notes": ["gloss rewritten"],
        },
        {"line": 2, "section": "Chapter 2: Memory > Forgetting", "notes": "check the date"},
    ]
    sidecar_path(rows).write_text("\n".join(json.dumps(e) for e in entries) + "\n", "utf-8")
    src = Sources.load(rows, book)
    one = src.get(1, {"source": "Book: Chapter 2: Memory > Encoding"})
    assert (one.passage, one.notes) == ("Exact chunk.", ["gloss rewritten"])
    two = src.get(2, {})
    assert two.passage.startswith("Hermann Ebbinghaus studied forgetting")
    assert two.notes == ["check the date"]
    three = src.get(3, {"source": "Book: Chapter 2: Memory > The Case of H.M."})
    assert three.section == "The Case of H.M." and "Henry Molaison" in three.passage
    assert src.get(4, {"source": "Book: Nowhere"}).passage is None
    assert src.get(5, {}).to_dict() == {"section": None, "passage": None, "notes": []}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "invalid JSON"),
        ('{"section": "x"}', "line: expected an object with an integer 'line'"),
        ('{"line": 1, "passage": 3}', "passage: expected a string"),
        ('{"line": 1, "notes": [1]}', "notes: expected a string or a list of strings"),
    ],
)
def test_a_bad_sidecar_line_is_named(tmp_path, line, message):
    rows = tmp_path / "rows.jsonl"
    sidecar_path(rows).write_text('{"line": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match=rf"rows\.jsonl\.sources\.jsonl:2: .*{message}"):
        Sources.load(rows)


def test_a_missing_book_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.md"):
        Sources.load(tmp_path / "rows.jsonl", tmp_path / "nope.md")
