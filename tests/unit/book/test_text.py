"""psych_plugin/book/text.py: Markdown to plain text, sentences, the deterministic pick."""

from __future__ import annotations

from psych_plugin.book.text import clean_markdown, pick, split_sentences


def test_split_sentences_keeps_abbreviations_and_initials():
    assert split_sentences(
        "B. F. Skinner used rats, e.g. in boxes. Then pigeons (et al. 1950). Dr. Smith agreed!"
    ) == [
        "B. F. Skinner used rats, e.g. in boxes.",
        "Then pigeons (et al. 1950).",
        "Dr. Smith agreed!",
    ]


def test_clean_markdown_and_pick():
    assert clean_markdown("**Bold** and *it* [link](http://x) `code` <b>t</b>") == (
        "Bold and it link code t"
    )
    assert clean_markdown("snake_case_name stays") == "snake_case_name stays"
    options = ("a", "b", "c", "d")
    assert pick("Learning", options) == pick("learning!", options)  # normalised key
    assert len({pick(f"term {i}", options) for i in range(40)}) == 4
