"""Rule-based definitions: bold terms, "X is a ..." sentences and glossary entries, and the
"What is X?" rows made from them.

Precision comes first: a definition is kept only when its answer reads on its own, so a term
introduced mid-narrative ("The meat powder was an **unconditioned stimulus (UCS)**: a stimulus
that ...") is rewritten into a sentence about the term ("An unconditioned stimulus (UCS) is a
stimulus that ..."), and a definition that needs lost context ("It took effort. This is known
as X") is dropped rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .reading import MD_HEADING
from .rows import make_row
from .text import STRONG, clean_markdown, pick, split_sentences, word_set

_DEFINE = (
    "What is {t}?",
    'In psychology, what does "{bare}" mean?',
    'What does the term "{bare}" refer to in psychology?',
    "Explain the concept of {bare}.",
)
_DEFINE_PLURAL = ("What are {t}?", *_DEFINE[1:])
# Glossary rows ask differently: a term defined in the text and in the glossary gives two
# rows (the text's fuller wording and the glossary's short one), not two copies of a question.
_GLOSSARY = (
    'Define the term "{bare}".',
    "Give a short definition of {bare}.",
    'Define "{bare}" in one sentence.',
)

# The verb that makes a term-first sentence a definition, right after the term.
_LEADS = re.compile(
    r"^\s*(?:\([^)]{1,40}\)\s*)?,?\s*(?:(?:also|sometimes) (?:called|known as) [^,]{1,50},\s*)?"
    r"(?:is|are|(?:is|are|can be) defined as|refers? to|occurs? when|means?|involves?|"
    r"describes?)\b"
)
_NAMING = re.compile(r"\b(?:called|termed|known as|named|referred to as)\b[^.;:]{0,60}$", re.I)
# What follows a term and defines it: "X: a stimulus that ...", "X, which is ...", "X, the ...".
_GLOSS = re.compile(
    r"^\s*(?:\((?P<abbr>[^)]{1,20})\)\s*)?(?::\s*|,\s*(?:which|that) (?:is|are) )(?P<body>.+)$"
)
# "X, the understanding that ...": an apposition, weaker evidence than a colon.
_APPOSITION = re.compile(
    r"^\s*(?:\((?P<abbr>[^)]{1,20})\)\s*)?(?:,\s*|\s*[—–]\s*)(?P<body>(?:the|a|an) .+)$"
)
# A finite verb before any relative pronoun: "a desirable stimulus is added", a clause.
_CLAUSE = re.compile(
    r"^(?:(?!\b(?:that|which|who|whom|whose|where|when)\b).)*?\b(?:is|are|was|were|has|have|"
    r"gets?|got|does|do|did|must|can|will|would|may|varies|vary|needs?)\b"
)
_DISCOURSE = re.compile(
    r"^(?:in contrast|by contrast|however|thus|therefore|similarly|likewise|on the other hand|"
    r"in other words|also|so|but|and|finally|first|second|third|next|then|instead|"
    r"in addition|moreover|conversely|accordingly|consequently)(?:\s*,\s*|\s+|$)",
    re.IGNORECASE,
)
_PRONOUN = re.compile(
    r"^(?:it|this|these|that|those|they|them|he|she|his|her|their|its|such|here|there)\b",
    re.IGNORECASE,
)
# An answer that points at something the row does not contain.
_DANGLING = re.compile(
    r"\b(?:figure|fig\.|table)\s+\d|\b(?:this|the previous|the next|the following) "
    r"(?:chapter|section|figure|table|example|list|video)\b|\bthe following\b|"
    r"\bas (?:described|discussed|shown|mentioned|noted) (?:in|above|below|earlier)\b|"
    r"\bin the text\b|\b(?:see|read) (?:above|below)\b|\b(?:of|like) this (?:kind|sort|type)\b",
    re.IGNORECASE,
)
# Parentheses that only point elsewhere or quote an example from the lost context:
# "(Figure 6.7)", "(Hunt, 2007)", "(“squeak”)".
_ASIDE = re.compile(
    r"\s*\((?:(?:see )?(?:figure|fig\.|table)[^)]*|[^()]*\b(?:1[89]|20)\d\d[a-z]?|[“\"][^)]*)\)",
    re.IGNORECASE,
)
_NOT_TERMS = word_set(
    "the a an it this that these those there here he she they we you i one each every such "
    "another its "
    "his her their our your what which who why how when where both all some most many much "
    "other first second third finally however perhaps also and but or so thus yet result "
    "results study experiment idea answer problem reason goal aim point question finding "
    "findings outcome difference example key lesson case process effect way part rest "
    "chapter section book passage say consider imagine table figure link note remember"
)
_CLAUSE_WORDS = word_set("was were has had have be been not no if because when while and or")


@dataclass(frozen=True)
class Definition:
    term: str  # as it reads in the book, without article
    article: str  # "a" / "an" / "the" / "" as the book used it
    plural: bool
    sentences: tuple[str, ...]  # the defining sentence(s), plain text
    glossary: bool = False  # from a glossary entry


def good_term(term: str) -> bool:
    words = term.split()
    if not words or len(term) > 60 or len(words) > 6 or re.search(r"[,;!?]", term):
        return False  # "Rehearse, rehearse, rehearse": a slogan, not a term
    # "This is a ...", "The study is a ...", "Fear and anxiety are ...": a clause or a list.
    if words[0].casefold() in _NOT_TERMS or any(w.casefold() in _CLAUSE_WORDS for w in words):
        return False
    return any(c.isalpha() for c in term)


_SECOND_DEFINITION = re.compile(
    r",\s+(?:and|while|whereas)\s+(?:(?!(?:that|which|who)\b)[\w-]+\s+){1,3}(?:is|are)\s"
)


def tidy(sentence: str) -> str:
    """Asides that point elsewhere removed; a leading "In contrast," dropped; a second
    definition run on after ", and" cut ("X is ..., and Y is ..." -> "X is ...")."""
    text = _ASIDE.sub("", sentence).strip()
    second = _SECOND_DEFINITION.search(text)
    if second and second.start() >= 25:
        text = text[: second.start()]
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = _DISCOURSE.sub("", text)
    return _sentence_end(text)


def readable(sentences: tuple[str, ...] | list[str]) -> bool:
    """Can this answer be read without the book: no question, no "it"/"this" opening, nothing
    pointing at a figure, a table or "the following"."""
    if not sentences or _PRONOUN.match(sentences[0]):
        return False
    text = " ".join(sentences)
    return not (text.rstrip().endswith("?") or "? " in text or _DANGLING.search(text))


def _continues(first: str, nxt: str) -> bool:
    """The sentence after a definition still describes the term: "They tend to be simpler ..."
    (not an example, a story, a question, or the next term)."""
    return (
        bool(
            re.match(
                r"^(?:It|They|These)\s+(?:is|are|was|were|has|have|tend|can|may|involve|include|"
                r"occur|happen|usually|often|typically|do)\b",
                nxt,
            )
        )
        and len(first) + len(nxt) < 420
        and "?" not in nxt
        and not re.search(r"\byou\b|\*\*", nxt, re.I)
    )


def _join(*parts: str) -> str:
    out = ""
    for part in (p.strip() for p in parts):
        if part:
            out += part if not out or part[:1] in ",.;:)" else " " + part
    return out


def _plural(term: str, after: str = "") -> bool:
    if re.match(r"\s*(?:\([^)]*\)\s*)?,?\s*are\b", after):
        return True
    last = term.split()[-1].casefold()
    return last.endswith("s") and not last.endswith(("ss", "us", "is", "sis"))


def _glossed(
    term: str, article: str, after: str, context: str, pattern: re.Pattern[str] = _GLOSS
) -> Definition | None:
    """ "... an **X**: a stimulus that ..." -> "An X is a stimulus that ..."."""
    m = pattern.match(after)
    if not m:
        return None
    body = re.split(r";\s|\s[—–]\s|—(?=[a-z])", m.group("body"))[0].strip()
    if len(body) < 15 or not body[:1].islower() or _PRONOUN.match(body) or _CLAUSE.match(body):
        return None
    # "... the rats built a **cognitive map**: a picture of the layout of the maze": "the
    # maze" is the story's maze, and the gloss is not a general definition.
    story = {w.casefold() for w in re.findall(r"[A-Za-z]{4,}", context)}
    if any(w.casefold() in story for w in re.findall(r"(?<=.)\bthe ([A-Za-z]{4,})", body)):
        return None
    plural = _plural(term)
    name = term + (f" ({m.group('abbr')})" if m.group("abbr") else "")
    lead = f"{article} {name}" if article and not plural else name
    sentence = f"{lead} {'are' if plural else 'is'} {body}"
    return Definition(term, article, plural, (tidy(sentence),))


def bold_definitions(paragraph: str) -> list[Definition]:
    """`**Term**` in a sentence that defines it: term first ("**X** is ..."), glossed ("an
    **X**: a ..."), or named ("... is called **X**", with the sentence before when "this" is
    named and that sentence stands on its own)."""
    raw = split_sentences(paragraph)
    plain = [clean_markdown(s) for s in raw]
    found: list[Definition] = []
    for i, sentence in enumerate(raw):
        for m in STRONG.finditer(sentence):
            term = clean_markdown(m.group(2)).strip(" :;,.—–-")
            if not good_term(term):
                continue
            before = clean_markdown(sentence[: m.start()])
            after = clean_markdown(sentence[m.end() :])
            clause = re.split(r"[:;](?:\s|$)", before)[-1]  # "... experience: **learning** is ..."
            art = re.search(r"\b(a|an|the)\s*$", clause, re.IGNORECASE)
            article = art.group(1).lower() if art else ""
            context = " ".join([*plain[max(0, i - 1) : i], before])
            glossed = _glossed(term, article, after, context)
            if glossed is not None:
                found.append(glossed)
                continue
            lead = _DISCOURSE.sub("", clause)
            prepositional = re.fullmatch(
                r"(?i)(?:in|with|during|under)(?:\s+(?:a|an|the))?\s*", lead
            )
            start: list[str] = []
            if not prepositional and not _NAMING.search(before):
                glossed = _glossed(term, article, after, context, _APPOSITION)
                if glossed is not None:
                    found.append(glossed)
                    continue
            if re.fullmatch(r"(?i)according to(?: the)?", lead) and after[:1] == ",":
                # "According to the **law of effect**, behaviors that ...": a law stated.
                sentences = [_join(lead, term, after)]
            elif _NAMING.search(before):
                if _PRONOUN.match(lead) or re.search(
                    r"\b(?:called|termed|named|known as)\s+(?:this|these|that|such)\b", before, re.I
                ):
                    # "This is known as X": only with a previous sentence that stands alone.
                    if i == 0 or not readable([plain[i - 1]]) or _DISCOURSE.match(plain[i - 1]):
                        continue
                    start = [plain[i - 1]]
                sentences = [*start, plain[i]]
            elif _LEADS.match(after) and len(re.sub(r"\b(?:a|an|the)\s*$", "", lead).strip()) == 0:
                # The term leads its clause and a defining verb follows it.
                sentences = [_join(lead, term, after)]
                if i + 1 < len(plain) and _continues(sentences[0], plain[i + 1]):
                    sentences.append(plain[i + 1])
            elif prepositional and after[:1] == ",":
                # "In **positive reinforcement**, a desirable stimulus is added ..."
                sentences = [_join(lead, term, after)]
            else:
                continue
            out = tuple(tidy(s) for s in sentences)
            if readable(out):
                found.append(Definition(term, article, _plural(term, after), out))
    return found


_SUBJECT = re.compile(
    r"^(?:(?P<art>A|An)\s+)?(?P<term>[A-Za-z][\w'’-]*(?:\s+[\w'’-]+){0,4}?)"
    r"(?:\s*\([^)]{1,40}\))?\s+(?P<verb>is defined as|are defined as|refers? to|"
    r"is (?=(?:a|an)\b)|are (?=(?:a|an)\b)|"
    r"(?:is|are) (?=the (?!(?:least|most|best|worst|first|last|only|same|one|other|\w+est)\b))|"
    r"are (?!the\b)(?=[a-z]+ (?:that|which|who|in which)\b))"
)


def sentence_definitions(paragraph: str) -> list[Definition]:
    """Plain sentences "X is a/an/the ...", "X refers to ...", "X is defined as ...". Not "The
    X is ...": that describes one thing in a story ("The pressure is the stimulus the horse
    wants removed"), not a concept; nor "X is the least ...", a claim about X."""
    plain = [tidy(clean_markdown(s)) for s in split_sentences(paragraph)]
    found = []
    for sentence in plain:
        m = _SUBJECT.match(sentence)
        if not m or len(sentence) < 30 or not good_term(m.group("term")):
            continue
        term = m.group("term")
        if not readable([sentence]) or (
            " " not in term and re.search(r"(?:ed|ive|able|ible|al|ous|ful|ic)$", term)
        ):
            continue  # "Fixed refers to ...": an adjective of some other term, not a term
        plural = m.group("verb").startswith("are")
        article = (m.group("art") or "").lower()
        found.append(Definition(term, article, plural, (sentence,)))
    return found


_VERB_FIRST = word_set(
    "has have is are occurs occur involves involve refers means describes includes consists "
    "happens takes makes uses results can may must will does do shows"
)
_MASS = word_set(
    "learning knowledge behavior behaviour information memory research evidence thinking "
    "awareness attention perception cognition"
)


def glossary_entry(line: str, style: TermStyle | None = None) -> Definition | None:
    """ "Term: definition", "Term - definition", "**Term** definition" (a glossary line),
    turned into a sentence: "A cognitive map is a mental picture of ...", "Shaping is rewarding
    successive approximations ...", "A primary reinforcer has innate reinforcing qualities"."""
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
    body = _ASIDE.sub("", clean_markdown(body))
    body = re.sub(r"^\((?:also,?|or)\s[^)]*\)\s*", "", body).strip()  # "(also, second-order ...)"
    if not good_term(term) or len(body) < 10:
        return None
    sentence = _gloss_sentence(term, body, style)
    return Definition(term, "", _plural(term), (sentence,), glossary=True)


def _gloss_sentence(term: str, body: str, style: TermStyle | None) -> str:
    if body[:1].isupper() and not body[:2].isupper():
        if re.search(r"[.!?]\s+[A-Z]", body):
            return _sentence_end(body)  # already sentences: keep the book's wording
        body = body[0].lower() + body[1:]
    first = body.split()[0].casefold().strip(",;")
    plural = _plural(term)
    article = style.article(term) if style else ""
    name = style.display(term) if style else term
    lead = f"{article} {name}" if article and not plural else name
    if first in _VERB_FIRST:
        return _sentence_end(f"{lead} {body}")
    if re.search(r"\b(?:will|must|should)\b", body) and re.search(
        r"\b(?:law|principle|rule|effect|hypothesis)\b", term, re.I
    ):
        return _sentence_end(f"According to {lead}, {body}")  # a law states a clause
    if re.match(r"^(?:set )?(?:number|amount) of\b", body):
        body = ("a " if body.startswith("set") else "the ") + body
    if re.match(r"^(?:a |the )?[a-z]+ (?:is|are|must|will|can)\b", body) or re.match(
        r"^(?:a |the )?(?:set )?(?:number|amount) of\b", body
    ):
        # A clause ("behavior is rewarded after ...") describes what happens under the term.
        return _sentence_end(f"In {lead}, {body}")
    verb = "are" if plural else "is"
    head = re.split(r"[,;(]|\s(?:that|which|who|of|in|to|for|by|with|where|when)\s", body)[0]
    head_word = head.split()[-1].casefold() if head.split() else first
    if first in ("a", "an", "the") or first.endswith("ing") or head_word in _MASS or plural:
        return _sentence_end(f"{lead} {verb} {body}")
    return _sentence_end(f"{lead} {verb} {'an' if first[:1] in 'aeiou' else 'a'} {body}")


def _sentence_end(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if re.search(r"[.!?][\"”’)]*$", text) else text + "."


# After a whole noun phrase comes punctuation or a verb / preposition, not another noun
# ("a learning process" says nothing about "learning").
_PHRASE_END = (
    r"(?=\s*[,.;:()]|\s+(?:is|are|was|were|that|which|who|and|or|to|in|of|by|for|with|as|can|"
    r"may|will|would|has|had|does|occurs?|involves?|refers?)\b)"
)


class TermStyle:
    """How a term should read in a question: "classical conditioning", not "Classical ..."
    (which is how it reads at the start of a sentence), unless the book writes it capitalised;
    and the article the book uses with it ("a reflex", "the law of effect").

    Both look at every place the book uses the term, found through a word index built once:
    scanning the whole book per term would make a long book quadratic."""

    def __init__(self, book_text: str) -> None:
        # Line by line, headings left out: "## How Memory Works" is not a mid-sentence "Memory".
        lines = book_text.split("\n")
        # Feature boxes (block quotes) left out too: "Link to Learning" is a label.
        keep = (ln for ln in lines if not MD_HEADING.match(ln) and not ln.lstrip().startswith(">"))
        self.text = "\n".join(clean_markdown(ln) for ln in keep)
        self._where: dict[str, list[int]] = {}
        for m in _WORD.finditer(self.text):
            self._where.setdefault(m.group().lower(), []).append(m.start())
        self._display: dict[str, str] = {}
        self._article: dict[str, str] = {}

    def _uses(self, phrase: str) -> list[int]:
        """Start offsets where `phrase` occurs as whole words, any case."""
        words = phrase.split()
        if not words:
            return []
        key, n = phrase.lower(), len(phrase)
        return [
            i
            for i in self._where.get(words[0].lower(), ())
            if self.text[i : i + n].lower() == key
            and not _WORD_CHAR.match(self.text[i + n : i + n + 1])
        ]

    def display(self, term: str) -> str:
        if term not in self._display:
            shown = term
            if len(term) > 1 and term[0].isupper() and term[1].islower():
                # Capitalised mid-sentence somewhere ("the Strange Situation"): a name; keep it.
                named = any(
                    self.text.startswith(term, i)
                    and _MID_SENTENCE.search(self.text[max(0, i - 3) : i])
                    for i in self._uses(term)
                )
                shown = term if named else term[0].lower() + term[1:]
            self._display[term] = shown
        return self._display[term]

    def article(self, term: str) -> str:
        """ "a"/"an" when the book ever says "a TERM"; "the" when it only ever says "the TERM";
        else none (a mass noun: "learning", "extinction")."""
        if term not in self._article:
            bare = re.sub(r"\s*\([^)]*\)$", "", term)
            uses = []
            for i in self._uses(bare):
                if not _PHRASE_END_AT.match(self.text, i + len(bare)):
                    continue  # "a learning process" says nothing about "learning"
                before = _WORD_BEFORE.search(self.text[max(0, i - 40) : i])
                if before:  # after "(" or at a line's start: says nothing either way
                    uses.append(before.group(1).lower())
            found = ""
            if any(u in ("a", "an") for u in uses):
                found = "an" if bare[:1].lower() in "aeiou" else "a"
            elif len(uses) >= 2 and all(u == "the" or u.endswith(("'s", "’s")) for u in uses):
                found = "the"
            self._article[term] = found
        return self._article[term]


_WORD = re.compile(r"[\w’'-]+")
_WORD_CHAR = re.compile(r"[\w’'-]")
_MID_SENTENCE = re.compile(r"[a-z,;][ \t]+$")
_WORD_BEFORE = re.compile(r"([\w’']+)\s+$")
_PHRASE_END_AT = re.compile(_PHRASE_END)


def definition_row(d: Definition, style: TermStyle, source: str) -> dict[str, str]:
    bare = style.display(d.term)
    article = d.article if d.article in ("a", "an") else ""
    if not d.plural and style.article(d.term):
        article = style.article(d.term)
    with_article = f"{article} {bare}" if article and not d.plural else bare
    templates = _GLOSSARY if d.glossary else _DEFINE_PLURAL if d.plural else _DEFINE
    template = pick(d.term, templates)
    output = " ".join(_sentence_end(s) for s in d.sentences)
    return make_row(template.format(t=with_article, bare=bare), "", output, "definition", source)
