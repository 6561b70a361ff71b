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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..dataset.rows import normalise
from .critic import Candidate, Rejection, leans_elsewhere
from .definitions import (
    Definition,
    TermStyle,
    _vowel_sound,
    bare_reads,
    bold_definitions,
    definition_row,
    glossary_attempt,
    readable,
    sentence_definitions,
    tidy,
)
from .reading import Chunk
from .rows import make_row
from .text import clean_markdown, pick, split_sentences, word_set

_COMPARE = (
    "What is the difference between {a} and {b}?",
    "How does {a} differ from {b}?",
    "Compare {a} and {b}.",
    "Contrast {a} with {b}.",
)
_COMPARE_PLURAL = (
    "What is the difference between {a} and {b}?",
    "How do {a} differ from {b}?",
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
    r"administered|recruited|designed (?:an?|the) (?:experiment|study)|instructed|conditioned|"
    r"(?:began|carried out|ran|performed) (?:an?|the) (?:[\w-]+ )?(?:study|experiment)|"
    r"shocked|observed (?:how|whether)|"
    r"(?:was|were) (?:told|asked|shown|given|led|conditioned|randomly assigned)|"
    r"showed (?:[\w-]+ )?(?:the|a|them|children|participants|subjects|infants)|"
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
    if len(re.findall(r"[.!?][”\"’)]*\s+(?=[A-Z“\"])", paragraph[ia : ib + 1])) > 1:
        # A sentence between them: "Situationism is ... In contrast, dispositionism holds ...
        # An internal factor is ...": the contrast is the book's with another term.
        between = ""
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
            rows.append(pair_row(a, b, style, source))
    return rows


def _article_in(text: str, term: str) -> str | None:
    """The article `text` puts before `term`: "a"/"an"/"the", "" when the term opens the
    text bare ("Manifest content is ..."), None when the text does not say."""
    bare = re.escape(re.sub(r"\s*\([^)]*\)", "", term))
    m = re.search(rf"(?:\b(?P<art>[Aa]n?|[Tt]he) )?(?<![\w-])(?P<t>{bare})\b", text, re.I)
    if m is None:
        return None
    if m.group("art"):
        return m.group("art").lower()
    if m.start() == 0 or re.search(
        r"\b(?:whereas|unlike|in|with|while|during|of|and|or)\s+$", text[: m.start()], re.I
    ):
        return ""  # "Whereas positive affect is ...", "In positive reinforcement, ...": bare
    return None


def named_pair(
    a: tuple[str, bool, str], b: tuple[str, bool, str], style: TermStyle
) -> tuple[str, str]:
    """Two terms (term, plural, the book's sentence about it) as a question names them, each
    with the article its definition uses: "a dominant allele", "the central route", but
    "operant conditioning", "manifest content"; "a ... and a ..." when one says "a" and the
    other "the" (both are then one of a kind)."""
    said = ["" if plural else _article_in(text, term) for term, plural, text in (a, b)]
    arts = []
    for (term, _, _), art, other in zip((a, b), said, reversed(said), strict=True):
        if art is None and other is not None:
            art = other  # a pair of one kind: "manifest content" / "latent content"
        if art is None:
            art = style.article(term)
            if not art and not bare_reads(style.display(term)):
                art = "a"
        arts.append(art)
    if {"the"} < set(arts) and "" not in arts:
        arts = ["a" if x == "the" else x for x in arts]
    if arts[0] != arts[1] and a[0].split()[-1].casefold() == b[0].split()[-1].casefold():
        # One head, one kind: "collectivist culture" / "individualistic culture".
        arts = ["the" if "the" in arts else "" if "" in arts else "a"] * 2
    out = []
    for (term, _, _), art in zip((a, b), arts, strict=True):
        shown = style.display(term)
        if art in ("a", "an"):
            art = "an" if _vowel_sound(shown.split()[0]) else "a"
        out.append(f"{art} {shown}" if art else shown)
    return out[0], out[1]


def pair_row(a: Definition, b: Definition, style: TermStyle, source: str) -> dict[str, str]:
    """The two definitions, the second marked as the contrast, answering "How does X differ
    from Y?"."""
    second = " ".join(b.sentences)
    if not _CONTRAST.search(second[:60]):
        first = re.match(r"[A-Za-z]+", second)
        # Lower-case the opening word unless the book writes it capitalised (a name).
        lower = first is not None and style.display(first.group())[:1].islower()
        lower = lower and not second.startswith('The term "')
        lower = lower or bool(re.match(r"(?:The|A|An|In|With|According|During|For|When)\b", second))
        second = "In contrast, " + (second[0].lower() + second[1:] if lower else second)
    shown = style.display(b.term)
    at = len("In contrast, ")
    if second[at : at + len(shown)].casefold() == shown.casefold():
        second = second[:at] + shown + second[at + len(shown) :]  # "Couples therapy" -> "couples"
    output = f"{' '.join(a.sentences)} {second}"
    na, nb = named_pair(
        (a.term, a.plural, " ".join(a.sentences)), (b.term, b.plural, " ".join(b.sentences)), style
    )
    for name in (na, nb):
        if name.startswith("the "):
            # "In contrast, in authoritarian style, ..." where the question says "the
            # authoritarian style": the answer uses the article the question does.
            bare = re.escape(name[len("the ") :])
            output = re.sub(rf"\b([Ii]n|[Ww]ith) ({bare}),", r"\1 the \2,", output)
    names = {"a": na, "b": nb}
    key = normalise(a.term) + normalise(b.term)
    asks = _COMPARE_PLURAL if a.plural else _COMPARE
    return make_row(pick(key, asks).format(**names), "", output, "comparison", source)


_CITED = re.compile(
    # "Garcia and Koelling (1966)", "Hoogendoorn, Oosterbeek, & van Praag (2013)"
    r"(?P<who>(?:[A-Z][\w’'-]+|(?<=[ ,&])(?:van|de|von|der))(?:(?:,? (?:&|and) |, | )"
    r"(?:[A-Z][\w’'-]+|van|de|von|der))*(?: et al\.)?) \((?P<year>(?:1[89]|20)\d\d)[a-z]?\)"
    # "(Amsterdam, 1972)", "(Ross, Amabile, & Steinmetz, 1977)"
    r"|\((?P<who2>[A-Z][\w’'-]+(?:(?:,? (?:&|and) |, | )(?:[A-Z][\w’'-]+|van|de|von|der))*"
    r"(?: et al\.)?),? (?P<year2>(?:1[89]|20)\d\d)[a-z]?[;)]"
)
_STUDY_WORD = re.compile(r"\b(?:stud(?:y|ies)|experiments?|researchers|participants|subjects)\b")
_STUDY_ASK = (
    "Describe the study by {who} ({year}): what was done, and what was found?",
    "What did {who} ({year}) do in their study, and what did they find?",
    "Summarize the study by {who} ({year}): its method and its findings.",
)
_CASE_ASK = (
    "What happened in the case of {name}, and what did it show?",
    "Describe the case of {name} and what it revealed.",
)
# A finding reported by the study's own people: "they found", "the results showed".
_REPORTED = re.compile(
    r"\b(?:[Tt]hey|[Rr]esearchers|[Tt]he researchers|[Tt]he (?:results|findings|study|experiment|"
    r"experimenters|investigators)|"
    r"(?:[Hh]is|[Hh]er|[Tt]heir) (?:results|findings|study|experiment)|"
    r"[Hh]e|[Ss]he|[A-Z][a-z]+(?: and [A-Z][a-z]+| et al\.)?(?: \(\d{4}\))?) (?:also |later )?"
    r"(?:found|showed (?:not only )?that|demonstrated|discovered|revealed|concluded|reported|"
    r"observed|noted)\b|"
    # "In the experiment, children's aggressive behavior was influenced by whether ..."
    r"^In (?:the|this|their|his|her) (?:study|experiment), [^,]{5,80} (?:was|were) "
    r"(?:influenced|affected|changed) by\b"
)
_CASE_NAME = re.compile(r"\b[Tt]he case of (?P<name>[A-Z][\w.’'-]*(?: [A-Z][\w.’'-]*){0,2})")
_NOT_WHO = word_set(
    "The In This That These Those They He She It We You A An One For When After Before During "
    "According Although Some Many Most Research Studies Study Researchers Figure Table"
)


def _who(m: re.Match[str]) -> tuple[str, str] | None:
    who = m.group("who") or m.group("who2") or ""
    year = m.group("year") or m.group("year2") or ""
    names = [n.strip(" &") for n in re.split(r",\s*|\s+(?:and|&)\s+", who.replace(" et al.", ""))]
    names = [n for n in names if n]
    # "In his studies with dogs, Pavlov" is not a name list: keep the trailing capitalised run.
    if names and len(names[0].split()) > 2:
        return None
    if not names or names[0].split()[0] in _NOT_WHO:
        return None
    if " et al." in who or len(names) > 2:
        return f"{names[0].split()[-1]} et al.", year
    if len(names) == 2:
        return f"{names[0].split()[-1]} and {names[1].split()[-1]}", year
    return names[0], year


_THEIR_STUDY_FOUND = re.compile(
    r"^(?P<who>[A-Z][a-z]+(?: and [A-Z][a-z]+)?)(?:’s|'s) (?P<kind>experiments?|study|studies)"
    r"(?: with (?P<what>[A-Z][a-z]+(?: [A-Z][a-z]+)?|[a-z]+))? (?:demonstrated|showed|revealed)"
    r" (?:that|how)\b"
)
_TOLD_ASK = (
    "Describe {name}: what was done, and what was found?",
    "What was done in {name}, and what did it show?",
)
_GOES_ON = re.compile(
    rf"^(?:In (?:their|his|her|the|this|that) (?:study|studies|experiments?)\b|(?:He|She|They) "
    rf"(?:also |then |first |later )?{_DID_VERBS}\b)"
)
_NAMED_DID = re.compile(
    r"^(?:In (?:the|his|her|their|a|one|an) [a-z]+(?: [a-z]+){0,2}, )?"
    r"(?P<who>(?:[A-Z][a-z]+ )?[A-Z][a-z]+(?: (?:and|&) [A-Z][a-z]+)?) (?:also |then |first |"
    rf"later )?{_DID_VERBS}\b"
)
_NAMED_ASK = (
    "Describe {who}’s study: what was done, and what was found?",
    "What did {who} do in this line of research, and what was found?",
)


def study_rows(
    paragraph: str,
    source: str,
    min_chars: int = 200,
    researchers: frozenset[str] = frozenset(),
    people: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """A study the paragraph reports, named by who ran it and when: "Describe the study by
    Garcia and Koelling (1966) ..." answered with the book's stretch from the sentence naming
    them to the first finding, which must include what was done. The instruction names the
    study, so the row needs no input (an answer copied out of its own input teaches copying).
    A named case ("the case of Phineas Gage") the same way, up to what it showed."""
    text = clean_markdown(paragraph)
    if len(text) < min_chars:
        return []
    sentences = split_sentences(text)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, sentence in enumerate(sentences):
        m = _CITED.search(sentence)
        case = _CASE_NAME.search(sentence)
        if case and _CASE_CUE.search(text) is None and "case" not in sentence.casefold():
            case = None
        named_did = None
        told = _THEIR_STUDY_FOUND.match(sentence)
        if told and i > 0 and m is None and case is None:
            # "Rayner and Watson’s experiments with Little Albert demonstrated how ...", after
            # the sentence saying what they did ("Watson and ... Rayner conducted research on a
            # baby nicknamed Little Albert").
            before = tidy(sentences[i - 1])
            names = re.findall(r"[A-Z][a-z]+", told.group("who"))
            if (
                _DID.search(before)
                and all(re.search(rf"\b{n}\b", before) for n in names)
                and readable([before])
                and not _STORY.search(before + " " + sentence)
            ):
                what = told.group("what")
                name = f"{told.group('who')}’s {told.group('kind')}" + (
                    f" with {what}" if what else ""
                )
                if name not in seen:
                    seen.add(name)
                    ask = pick(name, _TOLD_ASK).format(name=name)
                    output = f"{before} {tidy(sentence)}"
                    rows.append(make_row(ask, "", output, "experiment", source))
            continue
        if m is None and case is None:
            named_did = _NAMED_DID.match(sentence)
            # "Tolman placed hungry rats ...": a researcher the book cites with a year elsewhere,
            # or names in full ("Ivan Pavlov").
            surname = named_did.group("who").split()[-1] if named_did else ""
            if named_did is None or surname not in researchers and surname not in (people or {}):
                continue
        found = _CASE_FOUND if case and m is None and named_did is None else _REPORTED
        window = 5 if case and m is None else 4  # a case is told at more length than a study
        # What was found comes after the sentence naming who ran the study (a sentence that
        # both names them and reports the finding is a finding cited, not a study told).
        start = i if case and m is None and named_did is None else i + 1
        end = next(
            (
                k
                for k in range(start, min(i + window, len(sentences)))
                if found.search(sentences[k])
            ),
            None,
        )
        if end is None:
            continue
        stretch = sentences[i : end + 1]
        # The study itself, in the sentence naming who ran it, or in the next when that one
        # goes on about them ("Garcia and Koelling (1966) showed ... In their study, groups of
        # rats were conditioned ...", "Bandura researched ... He conducted an experiment").
        goes_on = len(stretch) > 1 and _GOES_ON.match(stretch[1]) is not None
        if goes_on and m is not None and m.group("who2"):
            # "(Hunt, 2007)" cites a source, not who did it: the name must be in the story.
            surname = re.split(r"[ ,&]", m.group("who2"))[0]
            goes_on = re.search(
                rf"\b{re.escape(surname)}\b(?! et al\.?,? \d)", sentence[: m.start()]
            )
            goes_on = goes_on is not None
        if (m is not None or named_did is not None) and not (
            (_DID.search(sentence) or _STUDY_WORD.search(sentence) or goes_on)
            and any(_DID.search(s) for s in stretch[:-1])  # done before what was found
            and 2 <= len(stretch) <= 4
        ):
            continue  # a finding cited, or someone else's story around the citation
        chosen = [tidy(s) for s in stretch]
        if not readable(chosen) or _STORY.search(" ".join(chosen)) or len(" ".join(chosen)) > 900:
            continue
        if m is not None:
            named = _who(m)
            if named is None or named in seen:
                continue
            seen.add(named)
            ask = pick(" ".join(named), _STUDY_ASK).format(who=named[0], year=named[1])
            category = "experiment"
        elif named_did is not None:
            who = named_did.group("who").replace(" & ", " and ")
            who = (people or {}).get(who, who)  # "Pavlov" -> "Ivan Pavlov", as the book has it
            if who in seen:
                continue
            seen.add(who)
            ask = pick(who, _NAMED_ASK).format(who=who)
            category = "experiment"
        else:
            assert case is not None
            name = case.group("name")
            if name in seen:
                continue
            seen.add(name)
            ask = pick(name, _CASE_ASK).format(name=name)
            category = "case_study"
        rows.append(make_row(ask, "", " ".join(chosen), category, source))
    return rows


def _term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    alts = sorted({t for t in terms if len(t) > 3}, key=len, reverse=True)
    if not alts:
        return None
    body = "|".join(re.escape(t) + r"(?:e?s)?" for t in alts)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_PATTERNS: dict[tuple[str, ...], re.Pattern[str] | None] = {}
_DET = r"(?:(?:the|a|an)\s+)?"
_SIDE = r"(?P<{0}>[^,;:]{{3,80}}?)"
# The two sides of a contrast, each a term right where the sentence puts it:
#   "Unlike A, B ...", "Whereas A ..., B ...", "A ..., whereas B ...", "In contrast to A, B ..."
_VERB_AFTER = r"\s+(?:[a-z]+s|are|were|have|can|may|do|did|tend|occur|involve|require)\b"
_CONTRAST_SHAPES = (
    re.compile(
        rf"^(?:Unlike|In contrast to|Compared (?:to|with)) {_DET}{_SIDE.format('a')}, "
        rf"{_DET}{_SIDE.format('b')}{_VERB_AFTER}"
    ),
    re.compile(
        # Not "While": "While X is used ..., Y is the most ..." concedes, it does not contrast.
        rf"^Whereas {_DET}{_SIDE.format('a')}{_VERB_AFTER}[^,]*, {_DET}"
        rf"{_SIDE.format('b')}{_VERB_AFTER}"
    ),
    re.compile(
        rf"^{_DET}{_SIDE.format('a')}{_VERB_AFTER}[^;]*?,? whereas {_DET}"
        rf"{_SIDE.format('b')}{_VERB_AFTER}"
    ),
)


def _exact_term(side: str, pattern: re.Pattern[str]) -> str | None:
    """The side of a contrast when it is one of the book's terms and nothing more (not
    "language disability", where "language" only modifies)."""
    side = re.sub(
        r"^(?:children|people|those|someone|a person) (?:in|with) (?:the |a |an )?",
        "",
        side.strip(),
    )
    m = pattern.fullmatch(side)
    return m.group(0) if m else None


def contrast_rows(
    paragraph: str, known: Sequence[str], style: TermStyle, source: str
) -> list[dict[str, str]]:
    """A sentence that sets two of the book's defined terms against each other ("Positive
    reinforcement adds ..., whereas negative reinforcement removes ...") -> "How does X differ
    from Y?", answered with that sentence. Each term must be one side of the contrast, exactly
    where the sentence's shape puts it; anything looser pairs terms that merely co-occur."""
    key = tuple(known)
    if key not in _PATTERNS:
        _PATTERNS[key] = _term_pattern(known)
    pattern = _PATTERNS[key]
    if pattern is None:
        return []
    rows = []
    for sentence in split_sentences(clean_markdown(paragraph)):
        if not 50 <= len(sentence) <= 400:
            continue
        for shape in _CONTRAST_SHAPES:
            m = shape.match(sentence)
            if m is None:
                continue
            a, b = _exact_term(m.group("a"), pattern), _exact_term(m.group("b"), pattern)
            if a is None or b is None or term_key(a) == term_key(b):
                continue
            text = tidy(sentence)
            if not readable([text]) or _STORY.search(text):
                continue
            sides = []
            for side in (a, b):
                term = next((t for t in known if term_key(t) == term_key(side)), side)
                last = term.split()[-1].casefold()
                plural = last.endswith("s") and not re.search(r"(?:ss|us|is|ics)$", last)
                sides.append((term, plural, sentence))
            names = named_pair(sides[0], sides[1], style)
            ask = pick(term_key(a) + term_key(b), _COMPARE).format(a=names[0], b=names[1])
            rows.append(make_row(ask, "", text, "comparison", source))
            break
    return rows


# "Bandura described specific steps in the process of modeling ...: attention, retention,
# reproduction, and motivation." -> how_to.
_STEPS = re.compile(
    r"\b(?:steps|stages|phases)\s+(?:in|of)\s+(?P<what>(?:the\s+)?[\w'’-]+(?:\s+[\w'’-]+){0,4}?)"
    r"(?:\s+(?:that|which)\b[^:]*)?:\s*(?P<list>[^:;]+,[^:;]+\band\s+[^:;]+)\.$"
)
# "Jean Piaget's theory proposes that ..." -> theory.
_CLAIM = re.compile(
    r"^(?:In simple terms, )?(?P<who>(?:(?:The|the)\s+)?"
    r"(?:(?:[A-Z][\w-]+\s+){0,2}[A-Z][\w-]+(?:'s|’s)\s+)?"
    r"(?:[\w-]+\s+){0,4}?(?:theory|model|hypothesis)(?:\s+of\s+[\w-]+(?:\s+[\w-]+){0,2}?)?)"
    r"\s+(?P<verb>proposes|suggests|states|holds|argues|predicts|posits|claims|asserts|"
    r"maintains)\s+that\b"
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
    "asserts": "assert",
    "maintains": "maintain",
}
# "Skinner (1957) proposed that language is learned through reinforcement." -> theory:
# "What did Skinner propose about language?"
_PERSON_CLAIM = re.compile(
    r"^(?P<who>[A-Z][a-z]+(?: [A-Z][a-z]+)?)(?: \((?:1[89]|20)\d\d\))? "
    r"(?P<verb>proposed|suggested|argued|theorized|theorised|believed|posited|hypothesized|"
    r"maintained|asserted) that (?P<about>(?:the |a |an )?[a-z][\w-]*(?: [a-z][\w-]*){0,3}?)"
    r"(?=,| (?:is|are|was|were|can|could|should|must|will|would|has|have|had|[a-z]+s|[a-z]+ed)\b)"
)
_CLAIM_PAST = {
    "proposed": "propose",
    "suggested": "suggest",
    "argued": "argue",
    "theorized": "theorize",
    "theorised": "theorise",
    "believed": "believe",
    "posited": "posit",
    "hypothesized": "hypothesize",
    "maintained": "maintain",
    "asserted": "assert",
}
_NOT_PERSON = word_set(
    "The This That These Those They He She It We You Researchers Scientists Psychologists Some "
    "Many Most Others Studies Research Theorists Critics One Both While Although When Whereas "
    "If Because After Before Since Unlike Like"
)
_NOT_ABOUT = word_set(
    "we they he she it i you there this that these those in for of to as if when because all "
    "people someone one how what our their his her its some any during through with about by "
    "from into on at after before each every both"
)
_VAGUE_THEORY = re.compile(
    r"^(?:the\s+)?(?:theory|model|hypothesis|this|that|another|one|a)\b", re.I
)
_DEICTIC = re.compile(r"^(?:this|that|these|those|it)\b", re.IGNORECASE)


def claim_rows(
    paragraph: str, source: str, full_names: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Sequences ("the steps in X ...: A, B, C and D") as how_to, and what a named theory
    proposes as theory; the sentence itself is the answer, so it must read on its own."""
    rows = []
    for raw in split_sentences(clean_markdown(paragraph)):
        sentence = tidy(raw)
        if not readable([sentence]):
            continue
        steps = _STEPS.search(sentence)
        if steps and not _DEICTIC.match(steps.group("what")):
            kind = steps.group(0).split()[0]
            prep = steps.group(0).split()[1]
            instruction = f"What are the {kind} {prep} {steps.group('what')}?"
            whose = re.match(r"^According to ([A-Z][\w’'-]+(?: [A-Z][\w’'-]+)?),", sentence)
            if whose:  # "the stages of development" are Freud's: say so
                instruction = (
                    f"According to {whose.group(1)}, {instruction[0].lower()}{instruction[1:]}"
                )
            # Steps are what a person does (how_to); stages or phases are what a theory or
            # model describes ("the stages of Piaget's theory"): a theory question.
            category = "how_to" if kind == "steps" else "theory"
            rows.append(make_row(instruction, "", sentence, category, source))
            continue
        person = _PERSON_CLAIM.match(sentence)
        if person and person.group("who").split()[0] not in _NOT_PERSON:
            about = person.group("about")
            if not any(w in _NOT_ABOUT for w in about.split()[1:]) and about.split()[0] not in (
                _NOT_ABOUT
            ):
                ask = _CLAIM_PAST[person.group("verb")]
                who = person.group("who")
                # "What did James theorize ...?": the name as the book first gives it in full.
                who = (full_names or {}).get(who, who)
                cited = re.search(rf"\b{re.escape(who)} \(((?:1[89]|20)\d\d)\)", raw)
                if " " not in who and cited:
                    # "What did Dana suggest ...?" names no one a reader knows: the citation
                    # does ("Dana (1986)").
                    who = f"{who} ({cited.group(1)})"
                question = f"What did {who} {ask} about {about}?"
                rows.append(make_row(question, "", sentence, "theory", source))
                continue
        claim = _CLAIM.match(sentence)
        if claim and not _VAGUE_THEORY.match(claim.group("who")):
            ask = _CLAIM_ASK[claim.group("verb")]
            who = claim.group("who")
            who = who[0].lower() + who[1:] if who.startswith("The ") else who
            question = f"What does {who} {ask}?"
            rows.append(make_row(question, "", sentence, "theory", source))
    return rows


# ---------------------------------------------------------------------------- the whole chunk

# A definition of a theory or a model teaches what it proposes: category theory.
# "hypothesis" is left out: "perceptual hypothesis" is a guess, not a theory.
_THEORY_TERM = re.compile(r"\b(?:theory|theories|model|law|principle)\b", re.I)
_THEORY_ASK = ("What does {t} propose?", "Explain {t}.", "Describe {t}.")
_LAW_ASK = ("What does {t} state?", "Explain {t}.")
# How a definition was found, best first: the book's own sentence about the term beats the
# glossary's gloss made into a sentence, which beats a sentence rewritten from the running text.
_RANK = {
    "text": 0,
    "glossary": 1,
    "sentence": 2,
    "named": 3,
    "rewritten": 4,
    "glossary-weak": 5,  # a gloss only "The term X refers to ..." fits
    "context-bound": 6,
    "sentence-weak": 7,
}
# A sentence that leans on what came before: "Theta waves are even lower frequency ... than the
# alpha wave patterns", "X is also ...", "these ...".
_CONTEXT_BOUND = re.compile(
    r"\beven (?:[a-z]+er|more|less|fewer)\b|\b(?:likewise|similarly|the latter|the former)\b|"
    r"\balso (?!(?:be )?(?:known|called|referred|termed)\b)|"
    r"\b(?:[a-z]+er|more|less|fewer) (?:[\w-]+ ){0,4}than (?:the|that|those|in)\b"
)


def term_key(term: str) -> str:
    """One key for a term however it is written: case, an abbreviation in parentheses, a
    plural ("reflexes" / "reflex")."""
    key = normalise(re.sub(r"\s*\([^)]*\)", "", term))
    words = key.split()
    if not words:
        return key
    last = words[-1]
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif re.search(r"(?:x|ch|sh|ss)es$", last):
        last = last[:-2]
    elif last.endswith("s") and not re.search(r"(?:ss|us|is|ics)$", last):
        last = last[:-1]
    return " ".join([*words[:-1], last])


@dataclass(frozen=True)
class Found:
    """A definition found in a chunk, with the text it came from."""

    definition: Definition
    passage: str
    order: int  # its place among the chunk's definitions


def chunk_definitions(
    chunk: Chunk,
    style: TermStyle | None = None,
    failed: list[tuple[str, str, str]] | None = None,
) -> list[Found]:
    """Every definition in the chunk, in reading order (several per term possible).
    `failed` collects (term, reason, line) for each glossary entry that made no definition."""
    out: list[Found] = []

    said: set[tuple[str, str]] = set()

    def add(defs: Iterable[Definition], passage: str) -> None:
        for d in defs:
            key = (term_key(d.term), d.sentences[0])
            if key not in said:  # the same sentence found twice (bold and "X is a ...")
                said.add(key)
                out.append(Found(d, passage, len(out)))

    for block in chunk.blocks:
        if chunk.glossary or block.kind == "list":
            for line in block.lines:
                glossy = chunk.glossary or line.startswith(("**", "__"))
                entry = glossary_attempt(line, style) if glossy else None
                if isinstance(entry, Definition):
                    add([entry], clean_markdown(line))
                elif entry is not None and entry[0] and failed is not None:
                    failed.append((entry[0], entry[1], clean_markdown(line)))
                elif not glossy:
                    add(bold_definitions(line), clean_markdown(line))
            continue
        plain = clean_markdown(block.text)
        add(bold_definitions(block.text), plain)
        add(
            sentence_definitions(block.text),
            plain,
        )
    return out


def choose_definitions(found: Iterable[tuple[int, Found]]) -> dict[str, tuple[int, int]]:
    """term key -> (chunk index, order) of the one definition kept for it, book-wide: the best
    kind (see _RANK), then the first in the book."""
    best: dict[str, tuple[tuple[int, int, int], tuple[int, int]]] = {}
    found = list(found)
    # "X is a ..." in plain text is a definition only when the book marks X as a term (bold
    # or glossary) somewhere; otherwise it is often a remark ("Heart disease is one ...").
    marked = {
        term_key(f.definition.term)
        for _, f in found
        if f.definition.how not in ("sentence", "sentence-weak")
    }
    for index, f in found:
        key = term_key(f.definition.term)
        if f.definition.how == "sentence-weak" and marked and key not in marked:
            continue
        how = f.definition.how
        said = " ".join(f.definition.sentences)
        if (
            not how.startswith("glossary")
            and _CONTEXT_BOUND.search(said)
            or leans_elsewhere(said, f.definition.term)
        ):
            how = "context-bound"  # the glossary's gloss, when there is one, reads on its own
        rank = (_RANK.get(how, 9), index, f.order)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, (index, f.order))
    return {k: where for k, (_, where) in best.items()}


def _definition_candidate(
    d: Definition, style: TermStyle, source: str, section: str, passage: str
) -> Candidate:
    row = definition_row(d, style, source)
    head = _THEORY_TERM.search(d.term)
    if head and not d.plural and len(d.term.split()) > 1:
        # "What does drive theory propose?": a theory's definition says what it proposes.
        bare = style.display(d.term)
        article = style.article(d.term)
        if article in ("a", "an") and re.search(r"\b(?:theory|model)$", d.term, re.I):
            article = ""  # "a social-cognitive theory" in passing; the row asks about this one
        named = f"{article} {bare}" if article else bare
        if (
            not article
            and not re.search(r"(?:’s|'s)\b", bare)
            and not re.match(
                r"(?:Theory|Model) [A-Z]\b",
                bare,  # "Theory X" is a name
            )
        ):
            theory_word = head.group(0).lower() in ("theory", "theories")
            needs_the = (
                " of " in bare
                or bare[:1].isupper()
                or not theory_word
                or bool(_THEORY_TERM.match(bare))
            )
            named = f"the {bare}" if needs_the else bare
        asks = _LAW_ASK if head.group(0).lower() in ("law", "principle") else _THEORY_ASK
        row = make_row(pick(d.term, asks).format(t=named), "", row["output"], "theory", source)
    notes = (d.shape,) if d.shape else ()
    if d.how == "rewritten":
        notes = (*notes, "rewritten: the book glosses the term mid-sentence")
    return Candidate(row, section, passage, notes, term=d.term)


@dataclass
class ChunkRows:
    candidates: list[Candidate]
    rejected: list[Rejection]


def rule_rows(
    chunk: Chunk,
    book: str,
    style: TermStyle,
    min_paragraph: int = 200,
    chosen: dict[str, tuple[int, int]] | None = None,
    known: Sequence[str] = (),
    later: Sequence[Candidate] = (),
    researchers: frozenset[str] = frozenset(),
    full_names: Mapping[str, str] | None = None,
) -> ChunkRows:
    """The rows the rules find in one chunk, in reading order. `chosen`: the definition kept
    for each term book-wide (choose_definitions); without it, the first per chunk. `known`:
    the book's defined terms, for the comparisons its sentences draw."""
    source = chunk.source(book)
    section = " > ".join(t for t in (chunk.chapter, chunk.section) if t)
    out = ChunkRows([], [])
    failed: list[tuple[str, str, str]] = []
    found = chunk_definitions(chunk, style, failed)
    for term, why, line in failed:
        # Never a silent skip: the entry is listed with its reason (--explain-rejections).
        row = make_row(f'Define the term "{term}".', "", line, "definition", source)
        out.rejected.append(Rejection(why, Candidate(row, section, line, term=term), term))
    seen: set[str] = set()
    kept: list[tuple[Definition, str | None]] = []
    by_passage: dict[str, list[Candidate]] = {}
    for f in found:
        key = term_key(f.definition.term)
        c = _definition_candidate(f.definition, style, source, section, f.passage)
        # Without a plan (one chunk alone), the chunk's first definition of each term.
        keep = chosen.get(key) == (chunk.index, f.order) if chosen is not None else key not in seen
        seen.add(key)
        if not keep:
            why = "term defined better elsewhere"
            if chosen is not None and key not in chosen:
                why = "not a term the book marks"  # plain "X is a ...", X never bold/glossary
            out.rejected.append(Rejection(why, c, f.definition.term))
            continue
        by_passage.setdefault(f.passage, []).append(c)
        kept.append((f.definition, None if chunk.glossary or f.definition.glossary else f.passage))
    emitted: set[str] = set()
    for block in chunk.blocks:
        plain = clean_markdown(block.text) if block.kind == "prose" else ""
        passages = [plain] if plain else [clean_markdown(ln) for ln in block.lines]
        for p in passages:
            if p in by_passage and p not in emitted:
                emitted.add(p)
                out.candidates.extend(by_passage[p])
        if block.kind != "prose" or chunk.glossary:
            continue
        for row in study_rows(block.text, source, min_paragraph, researchers, full_names):
            out.candidates.append(Candidate(row, section, plain))
        for row in claim_rows(block.text, source, full_names):
            out.candidates.append(Candidate(row, section, plain))
        for row in contrast_rows(block.text, known, style, source):
            out.candidates.append(Candidate(row, section, plain))
    if not chunk.glossary:
        paragraphs = {d.term: p for d, p in kept}
        for row in comparison_rows(kept, style, source):
            names = [d for d, _ in kept if style.display(d.term) in row["instruction"]]
            passage = " ".join(dict.fromkeys(paragraphs[d.term] or "" for d in names))
            out.candidates.append(Candidate(row, section, passage or chunk.text))
    out.candidates.extend(later)
    return out


@dataclass(frozen=True)
class BookPlan:
    """What the rules need to know about the whole book before any chunk: the one definition
    kept per term, the defined terms (for the comparisons its sentences draw), and the rows
    that draw on definitions from several chunks (sibling terms, stages in order), each made
    in the chunk of its last definition."""

    chosen: dict[str, tuple[int, int]]
    known: tuple[str, ...]
    later: dict[int, list[Candidate]] = field(default_factory=dict)
    researchers: frozenset[str] = frozenset()  # surnames the book cites with a year
    full_names: dict[str, str] = field(default_factory=dict)  # "James" -> "William James"
    # term key -> (chunk index, the definition kept, its passage)
    definitions: dict[str, tuple[int, Definition, str]] = field(default_factory=dict)


# Heads too general to make two terms siblings ("limbic system" / "endocrine system").
_GENERIC_HEADS = word_set(
    "system psychology effect effects disorder disorders pain spectrum perception theory model "
    "study studies process principle law test approach"
)
_STAGE = re.compile(
    r"\b(?P<nth>first|second|third|fourth|fifth|sixth|final|last) stage (?:of|in) "
    r"(?P<what>[^.;,]{5,80})"
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_LAST = 99  # "the final stage": after all the numbered ones


def _sibling_rows(
    defs: dict[str, tuple[int, Definition, str]],
    glossary: dict[str, tuple[int, Definition, str]],
    chunks: Sequence[Chunk],
    style: TermStyle,
    book: str,
) -> dict[int, list[Candidate]]:
    """ "How does fixed ratio ... differ from variable ratio ...?" for terms of one chapter that
    share all but their first word (2 to 4 of them, neighbours in book order), answered with
    the two definitions; and "What are the stages of X, in order?" when the glossary numbers
    three or more stages of one thing."""
    by_index = {c.index: c for c in chunks}
    out: dict[int, list[Candidate]] = {}

    def add(index: int, row: dict[str, str], passage: str) -> None:
        c = by_index[index]
        section = " > ".join(t for t in (c.chapter, c.section) if t)
        out.setdefault(index, []).append(Candidate(row, section, passage))

    groups: dict[tuple[str, str], list[str]] = {}
    stages: dict[tuple[str, str], dict[int, str]] = {}
    for key, (_, d, _) in sorted(defs.items(), key=lambda kv: kv[1][0]):
        words = key.split()
        numbered = d.glossary and _STAGE.search(d.sentences[0])
        # Stages the glossary numbers get one "in order" row, not pairs of "Nth stage of X".
        if len(words) >= 2 and words[-1] not in _GENERIC_HEADS and not d.plural and not numbered:
            # Book-wide: the glossary's terms sit in their own section, away from the text's.
            groups.setdefault(("", " ".join(words[1:])), []).append(key)
    # Stages: the glossary's own numbering, whichever definition of each stage was kept.
    for key, (_, d, _) in sorted(glossary.items(), key=lambda kv: kv[1][0]):
        m = _STAGE.search(d.sentences[0])
        if m:
            what = m.group("what").strip()
            nth = m.group("nth")
            at = _LAST if nth in ("final", "last") else _ORDINALS.index(nth)
            stages.setdefault(("", normalise(what)), {})[at] = key
    for members in groups.values():
        if not 2 <= len(members) <= 3:
            continue  # four or more: neighbours in book order are not a natural pair
        for ka, kb in zip(members, members[1:], strict=False):
            (ia, a, pa), (ib, b, pb) = defs[ka], defs[kb]
            pair = frozenset((ka.split()[0], kb.split()[0]))
            if len(members) == 3 and pair not in _OPPOSITES:
                continue  # of three, only a named opposite is the natural pair
            if kb in normalise(" ".join(a.sentences)) or ka in normalise(" ".join(b.sentences)):
                continue  # one definition already speaks of the other: the pair says it twice
            if pair not in _OPPOSITES and not _contrasted_in_book(ka, kb, chunks):
                continue  # "longitudinal" / "archival research": not a contrast the book draws
            index = max(ia, ib)
            row = pair_row(a, b, style, by_index[index].source(book))
            add(index, row, " ".join(dict.fromkeys((pa, pb))))
    for (_, _), found in stages.items():
        n = len(found)
        numbered = sorted(i for i in found if i != _LAST)
        if n < 3 or numbered != list(range(len(numbered))):
            continue  # the glossary must number them all, from the first
        keys = [found[i] for i in sorted(found)]
        first = glossary[keys[0]][1]
        m = _STAGE.search(first.sentences[0])
        assert m is not None
        what = m.group("what").strip()
        numbers = ("three", "four", "five", "six")[n - 3]
        # All of them, or only those the glossary numbers? A "final stage" closes the list, or
        # the book says how many there are ("Selye's three-stage model"); else no row (the
        # glossary numbers three stages of sleep, and REM sleep is a fourth).
        said = " ".join(
            d.sentences[0]
            for _, d, _ in glossary.values()
            if normalise(what).endswith(term_key(d.term))
        )
        if _LAST not in found and not re.search(rf"\b{numbers}[- ]stages?\b", said):
            continue
        names = [style.display(glossary[k][1].term) for k in keys]
        listed = ", ".join(names[:-1]) + f", and {names[-1]}"
        output = _sentence_of(f"{what} has {numbers} stages, in this order: {listed}")
        index = max(glossary[k][0] for k in keys)
        row = make_row(
            f"What are the stages of {what}, in order?",
            "",
            output,
            "theory",  # stages a model describes, not steps a person takes
            by_index[index].source(book),
        )
        add(index, row, " ".join(glossary[k][2] for k in keys))
    return out


def _contrasted_in_book(ka: str, kb: str, chunks: Sequence[Chunk]) -> bool:
    """The book treats the two terms together itself: one section of its text (not the
    glossary) names both ("obstructive" and "central sleep apnea" in "Sleep Disorders"), where
    "longitudinal" and "archival research" each have a section of their own."""
    sections: dict[tuple[str, str], str] = {}
    for c in chunks:
        if not c.glossary:
            key = (c.chapter, c.section)
            sections[key] = sections.get(key, "") + " " + normalise(clean_markdown(c.text))
    return any(_mentions_key(t, ka) and _mentions_key(t, kb) for t in sections.values())


def _mentions_key(text: str, key: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(key)}(?:e?s)?(?![\w-])", text) is not None


def _sentence_of(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def plan_book(chunks: Sequence[Chunk], style: TermStyle, book: str = "") -> BookPlan:
    found = [(c.index, f) for c in chunks for f in chunk_definitions(c, style)]
    chosen = choose_definitions(found)
    terms: dict[str, str] = {}
    defs: dict[str, tuple[int, Definition, str]] = {}
    for index, f in found:
        key = term_key(f.definition.term)
        terms.setdefault(key, re.sub(r"\s*\([^)]*\)", "", f.definition.term))
        if chosen.get(key) == (index, f.order):
            defs[key] = (index, f.definition, f.passage)
    known = tuple(t for k, t in sorted(terms.items()) if k in chosen)
    researchers: set[str] = set()
    for c in chunks:
        for m in _CITED.finditer(c.text):
            who = m.group("who") or m.group("who2") or ""
            researchers.update(re.findall(r"\b[A-Z][a-z]+\b", who.replace(" et al.", "")))
    researchers -= _NOT_PERSON
    glossary: dict[str, tuple[int, Definition, str]] = {}
    for index, f in found:
        if f.definition.glossary:
            glossary.setdefault(term_key(f.definition.term), (index, f.definition, f.passage))
    later = _sibling_rows(defs, glossary, chunks, style, book)
    return BookPlan(chosen, known, later, frozenset(researchers), _full_names(chunks), defs)


# "William James", "Lev Vygotsky": a given name and a surname, as a book first names someone.
_FULL_NAME = re.compile(r"\b(?P<given>[A-Z][a-z]+) (?P<surname>[A-Z][a-z]{2,})\b(?![\w’'-])")


def _full_names(chunks: Sequence[Chunk]) -> dict[str, str]:
    """surname -> the full name at its first mention in the book's text ("James" -> "William
    James"), for surnames the book also uses alone; a surname given two first names (two
    people) is left as it is."""
    found: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    text = " ".join(clean_markdown(c.text) for c in chunks if not c.glossary)
    for m in _FULL_NAME.finditer(text):
        given, surname = m.group("given"), m.group("surname")
        if given in _NOT_PERSON or given in _NOT_WHO or surname in _NOT_WHO:
            continue
        found.setdefault(surname, set()).add(given)
        if text[max(0, m.start() - 4) : m.start()] == "and ":
            found[surname].add("")  # "Hans and Sybil Eysenck": two people, one surname
        first.setdefault(surname, f"{given} {surname}")
    return {
        s: full
        for s, full in first.items()
        if len(found[s]) == 1 and re.search(rf"(?<![A-Z][a-z] ){s} (?:[a-z]|\()", text)
    }
