"""Rule-based definitions: bold terms and "X is a ..." sentences, glossary entries, and the
"What is X?" rows made from them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..dataset.rows import normalise
from .reading import MD_HEADING
from .rows import make_row
from .text import STRONG, clean_markdown, pick, split_sentences, word_set

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
_NOT_TERMS = word_set(
    "it this that these those there here he she they we you i one each every such another its "
    "his her their our your what which who why how when where both all some most many much "
    "other first second third finally however perhaps also and but or so thus yet result "
    "results study experiment idea answer problem reason goal aim point question finding "
    "findings outcome difference example key lesson case process effect way part rest "
    "chapter section book passage"
)
_CLAUSE_WORDS = word_set("was were has had have be been not no if because when while")


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
        for m in STRONG.finditer(sentence):
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


def _sentence_end(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", '"', "”", ")")) else text + "."


class TermStyle:
    """How a term should read in a question: "classical conditioning", not "Classical ..."
    (which is how it reads at the start of a sentence), unless the book writes it capitalised."""

    def __init__(self, book_text: str) -> None:
        # Line by line, headings left out: "## How Memory Works" is not a mid-sentence "Memory".
        lines = book_text.split("\n")
        self.text = "\n".join(clean_markdown(ln) for ln in lines if not MD_HEADING.match(ln))

    def display(self, term: str) -> str:
        sentence_case = len(term) > 1 and term[0].isupper() and term[1].islower()
        # Capitalised mid-sentence somewhere ("the Strange Situation"): a name; keep it.
        if sentence_case and not re.search(rf"[a-z,;][ \t]+{re.escape(term)}(?!\w)", self.text):
            return term[0].lower() + term[1:]
        return term


def definition_row(d: Definition, style: TermStyle, source: str) -> dict[str, str]:
    bare = style.display(d.term)
    with_article = f"{d.article} {bare}" if d.article in ("a", "an") else bare
    template = pick(d.term, _DEFINE_PLURAL if d.plural else _DEFINE)
    output = " ".join(_sentence_end(s) for s in d.sentences)
    return make_row(template.format(t=with_article, bare=bare), "", output, "definition", source)
