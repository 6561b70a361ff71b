"""The rows rules find in a chunk, precision first: definitions (bold terms, "X is a ..."
sentences, glossary entries), comparisons of two named concepts the book contrasts, study /
case reports (what was done, what was found), the steps of a named process, and what a named
theory proposes.

What rules cannot do honestly is left out: an extractive "summary" is just the passage's first
or most central sentences, and a paragraph's category guessed from keywords is often wrong, so
there are no generic summarise/explain rows. A row gets a category only when its own evidence
says so: `comparison` needs two defined terms set against each other, `experiment` a study
with who, what was done and what was found, `case_study` a patient or a case and what it
showed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..dataset.rows import normalise
from .definitions import (
    Definition,
    TermStyle,
    bold_definitions,
    definition_row,
    glossary_entry,
    readable,
    sentence_definitions,
    tidy,
)
from .reading import Chunk
from .rows import make_row
from .text import clean_markdown, pick, split_sentences

_COMPARE = (
    "What is the difference between {a} and {b}?",
    "How does {a} differ from {b}?",
    "Compare {a} and {b}.",
    "Contrast {a} with {b}.",
)
_CONTRAST = re.compile(
    r"\b(?:in contrast|by contrast|whereas|unlike|on the other hand|the opposite of|differs?|"
    r"different from|conversely)\b",
    re.IGNORECASE,
)
# Pairs a textbook names to be told apart: "positive"/"negative reinforcement".
_OPPOSITES = {
    frozenset(p)
    for p in (
        ("positive", "negative"),
        ("primary", "secondary"),
        ("fixed", "variable"),
        ("continuous", "partial"),
        ("conditioned", "unconditioned"),
        ("classical", "operant"),
        ("short-term", "long-term"),
        ("explicit", "implicit"),
        ("episodic", "semantic"),
        ("proactive", "retroactive"),
        ("intrinsic", "extrinsic"),
        ("internal", "external"),
        ("sensory", "motor"),
        ("independent", "dependent"),
    )
}

_STUDY = (
    "Describe the study reported in this passage: what was done, and what was found?",
    "What did the researchers in this passage do, and what did they find?",
    "Summarise the experiment described in this passage: its method and its findings.",
)
_CASE = (
    "Describe the case in this passage and what it showed.",
    "What happened in the case described in this passage, and what did it reveal?",
)
_DID_VERBS = (
    r"(?:placed|exposed|presented|paired|trained|tested|gave|divided|assigned|measured|"
    r"recorded|rang|taught|rewarded|allowed|asked|removed|memori[sz]ed|conducted|fed|deprived|"
    r"administered|showed (?:[\w-]+ )?(?:the|a|them|children|participants|subjects|infants)|"
    r"by (?:memori[sz]ing|testing|presenting|exposing|training|measuring|recording))"
)
# Not passive or planned ("research needs to be conducted"): something that was done.
_DID = re.compile(rf"(?<!\bbe )(?<!been )(?<!being )(?<!\bto )\b{_DID_VERBS}\b")
_WHO = re.compile(
    r"\b[A-Z][a-z]+(?: (?:and|&) [A-Z][a-z]+)?(?: et al\.?)? \((?:1[89]|20)\d\d[a-z]?\)|"
    r"\([A-Z][^()]{0,60}(?:1[89]|20)\d\d[a-z]?\)|\b(?:in|by) (?:the )?(?:1[89]|20)\d\ds?\b|"
    r"\b(?:researchers|experimenters|investigators|psychologists?|scientists?)\b|"
    r"\b[A-Z][a-z]+(?:’s|'s) (?:study|studies|experiments?|research)\b|"
    # "Tolman placed hungry rats ...": a named researcher doing something.
    r"\b(?!(?:The|In|This|They|He|She|It|We|You)\b)[A-Z][a-z]+ (?:also |then |first )?"
    rf"{_DID_VERBS}\b"
)
# What was done: verbs of a procedure, past tense (a study reported, not a principle stated).
# What was found.
_FOUND = re.compile(
    r"\b(?:found|(?:shows?|showed|shown|suggested) that|demonstrated|discovered|revealed|concluded|"
    r"results (?:showed|suggested|indicated)|were (?:more|less) likely|were (?:able|unable) to|"
    r"learned (?:to|that))\b"
)
_CASE_CUE = re.compile(
    r"\bpatients?\b|\bcase stud(?:y|ies)\b|\bthe case of (?:the patient |a patient )?"
    r"(?:[A-Z]|a (?:man|woman|boy|girl|patient))"
)
_CASE_FOUND = re.compile(r"\b(?:show(?:s|ed)?|reveal\w*|demonstrat\w*|suggest\w*)\b")
_STORY = re.compile(r"\byou\b|\byour\b|\bimagine\b|\bsuppose\b|\bconsider\b", re.IGNORECASE)


def _pair_contrasted(a: Definition, b: Definition, paragraph: str | None) -> bool:
    """Two named concepts the book sets against each other: opposite modifiers of one head
    ("fixed"/"variable ratio schedule"), or both defined in one paragraph with a contrast
    word in the second definition or between the two."""
    wa, wb = normalise(a.term).split(), normalise(b.term).split()
    if wa[1:] == wb[1:] and wa[1:] and frozenset((wa[0], wb[0])) in _OPPOSITES:
        return True
    if paragraph is None:
        return False
    ia, ib = paragraph.find(a.sentences[-1][:40]), paragraph.find(b.sentences[0][:40])
    between = paragraph[ia:ib] if 0 <= ia < ib else ""
    return bool(_CONTRAST.search(between) or _CONTRAST.search(b.sentences[0][:60]))


def comparison_rows(
    found: list[tuple[Definition, str | None]], style: TermStyle, source: str
) -> list[dict[str, str]]:
    """ "What is the difference between X and Y?" for each contrasted pair in a chunk; the
    answer is the two definitions, the second marked as the contrast."""
    rows = []
    used: set[str] = set()
    for i, (a, para_a) in enumerate(found):
        for b, para_b in found[i + 1 :]:
            ka, kb = normalise(a.term), normalise(b.term)
            if ka == kb or ka in used or kb in used:
                continue
            if not _pair_contrasted(
                a, b, para_a if para_a is not None and para_a == para_b else None
            ):
                continue
            used.update((ka, kb))
            second = " ".join(b.sentences)
            if not _CONTRAST.search(second[:60]):
                first = re.match(r"[A-Za-z]+", second)
                # Lower-case the opening word unless the book writes it capitalised (a name).
                lower = first is not None and style.display(first.group())[:1].islower()
                second = "In contrast, " + (second[0].lower() + second[1:] if lower else second)
            output = f"{' '.join(a.sentences)} {second}"
            names = {"a": style.display(a.term), "b": style.display(b.term)}
            rows.append(
                make_row(pick(ka + kb, _COMPARE).format(**names), "", output, "comparison", source)
            )
    return rows


def report_task(paragraph: str, source: str, min_chars: int) -> dict[str, str] | None:
    """A study or a case the paragraph reports -> "what was done / what was found", answered
    with the paragraph's own method and finding sentences (the paragraph is the input)."""
    text = clean_markdown(paragraph)
    sentences = split_sentences(text)
    if len(text) < min_chars or len(sentences) < 3 or _STORY.search(text):
        return None
    is_case = bool(_CASE_CUE.search(text) and _CASE_FOUND.search(text))
    if not is_case and not (_WHO.search(text) and _DID.search(text) and _FOUND.search(text)):
        return None
    found = _CASE_FOUND if is_case else _FOUND
    start = next((i for i, s in enumerate(sentences) if _DID.search(s)), None)
    if start is None:
        return None
    # The first finding after the procedure: later sentences drift into implications.
    end = next((i for i in range(start, len(sentences)) if found.search(sentences[i])), None)
    if end is None:
        return None
    while start > 0 and not readable([sentences[start]]):
        start -= 1  # "He then ..." needs the sentence naming him
    # One contiguous stretch, from who/what was done to what was found: picking sentences
    # here and there reads as a list of unrelated facts.
    chosen = [tidy(s) for s in sentences[start : end + 1]]
    if not 2 <= len(chosen) <= 5 or not readable(chosen):
        return None
    category = "case_study" if is_case else "experiment"
    instruction = pick(text, _CASE if is_case else _STUDY)
    return make_row(instruction, text, " ".join(chosen), category, source)


# "Bandura described specific steps in the process of modeling ...: attention, retention,
# reproduction, and motivation." -> how_to.
_STEPS = re.compile(
    r"\b(?:steps|stages|phases)\s+(?:in|of)\s+(?P<what>(?:the\s+)?[\w'’-]+(?:\s+[\w'’-]+){0,4}?)"
    r"(?:\s+(?:that|which)\b[^:]*)?:\s*(?P<list>[^:;]+,[^:;]+\band\s+[^:;]+)\.$"
)
# "Jean Piaget's theory proposes that ..." -> theory.
_CLAIM = re.compile(
    r"^(?P<who>(?:[A-Z][\w-]+\s+){0,2}[A-Z][\w-]+(?:'s|’s)\s+(?:[a-z-]+\s+){0,3}"
    r"(?:theory|model|hypothesis))\s+(?P<verb>proposes|suggests|states|holds|argues|predicts|"
    r"posits|claims)\s+that\b"
)
_CLAIM_ASK = {
    "proposes": "propose",
    "suggests": "suggest",
    "states": "state",
    "holds": "hold",
    "argues": "argue",
    "predicts": "predict",
    "posits": "posit",
    "claims": "claim",
}
_DEICTIC = re.compile(r"^(?:this|that|these|those|it)\b", re.IGNORECASE)


def claim_rows(paragraph: str, source: str) -> list[dict[str, str]]:
    """Sequences ("the steps in X ...: A, B, C and D") as how_to, and what a named theory
    proposes as theory; the sentence itself is the answer, so it must read on its own."""
    rows = []
    for sentence in split_sentences(clean_markdown(paragraph)):
        sentence = tidy(sentence)
        if not readable([sentence]):
            continue
        steps = _STEPS.search(sentence)
        if steps and not _DEICTIC.match(steps.group("what")):
            kind = steps.group(0).split()[0]
            prep = steps.group(0).split()[1]
            instruction = f"What are the {kind} {prep} {steps.group('what')}?"
            rows.append(make_row(instruction, "", sentence, "how_to", source))
            continue
        claim = _CLAIM.match(sentence)
        if claim:
            ask = _CLAIM_ASK[claim.group("verb")]
            question = f"What does {claim.group('who')} {ask}?"
            rows.append(make_row(question, "", sentence, "theory", source))
    return rows


def rule_rows(
    chunk: Chunk, book: str, style: TermStyle, min_paragraph: int = 200
) -> list[dict[str, str]]:
    """Rows the rules find in one chunk, in reading order."""
    source = chunk.source(book)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    found: list[tuple[Definition, str | None]] = []

    def add_definitions(defs: Iterable[Definition], paragraph: str | None) -> None:
        for d in defs:
            key = normalise(d.term)
            if key not in seen:  # one definition per term per chunk: the first one
                seen.add(key)
                rows.append(definition_row(d, style, source))
                found.append((d, paragraph))

    for block in chunk.blocks:
        if chunk.glossary or block.kind == "list":
            for line in block.lines:
                entry = (
                    glossary_entry(line, style)
                    if chunk.glossary or line.startswith(("**", "__"))
                    else None
                )
                add_definitions([entry] if entry else bold_definitions(line), None)
            continue
        plain = clean_markdown(block.text)
        add_definitions(bold_definitions(block.text), plain)
        add_definitions(sentence_definitions(block.text), plain)
        task = report_task(block.text, source, min_paragraph)
        if task is not None:
            rows.append(task)
        rows.extend(claim_rows(block.text, source))
    if not chunk.glossary:
        rows.extend(comparison_rows(found, style, source))
    return rows
