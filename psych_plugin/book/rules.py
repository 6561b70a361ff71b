"""The rows rules find in a chunk: definitions and glossary entries, and one summarise or
explain task per substantial paragraph (classified by keywords, answered extractively)."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable

from ..dataset.rows import normalise
from .definitions import (
    Definition,
    TermStyle,
    bold_definitions,
    definition_row,
    glossary_entry,
    sentence_definitions,
)
from .reading import Chunk
from .rows import make_row
from .text import clean_markdown, pick, split_sentences, word_set

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
_STOPWORDS = word_set(
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
        instruction = pick(text, _SUMMARISE).format(topic=topic)
    else:
        picked = central_sentences(
            sentences, 1 if len(sentences) < 4 else 2, topic
        )  # main idea first
        instruction = pick(text, _EXPLAIN).format(topic=topic)
    output = " ".join(sentences[i] for i in picked)
    return make_row(instruction, text, output, category, source)


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
