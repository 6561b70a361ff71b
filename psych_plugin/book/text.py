"""Text helpers: Markdown inline formatting to plain text, sentences, word sets, and a
deterministic template choice."""

from __future__ import annotations

import hashlib
import re

from ..dataset.rows import normalise

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
STRONG = re.compile(r"(\*\*|__)(.+?)\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?![\w])")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MARKUP = re.compile(r"[*_\[`<]")


def clean_markdown(text: str) -> str:
    """Markdown inline formatting -> plain text (emphasis, links, code marks, tags)."""
    # Most lines of a book have no markup at all: skip the regexes (the rule path's hot spot).
    if _MARKUP.search(text):
        if "[" in text:
            text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
        if "*" in text or "_" in text:
            text = _EM_UNDER.sub(r"\1", _EM_STAR.sub(r"\1", STRONG.sub(r"\2", text)))
        if "<" in text:
            text = _TAG.sub("", text)
        text = text.replace("`", "")
    return " ".join(text.split())


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_BOUNDARY = re.compile(r"([.!?][\"'”’)\]*_]*)\s+(?=[\"'“‘(\[*_]*[A-Z0-9])")
_ABBREVIATIONS = word_set(
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


def pick(key: str, options: tuple[str, ...]) -> str:
    """A deterministic choice: the same key always gets the same template, run after run."""
    digest = hashlib.sha256(normalise(key).encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]
