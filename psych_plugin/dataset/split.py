"""Does the "unseen" held-out set really avoid what training teaches?

`data/psychology_eval_unseen.jsonl` promises concepts, studies and cases that are absent from
training, so a score on it measures generalisation rather than recall. A row breaks that promise
when it names something a training row also names: a study ("Lepper et al. 1973"), a case
("H.M.", "Phineas Gage"), a research team ("Simons and Chabris") or the specific topic in its
`source` ("sunk cost fallacy"). This module finds such shared *named things* mechanically.

It is deliberately a narrow, low-noise check, not a semantic one: it compares names, not ideas,
so it cannot see that two rows share an unnamed concept or scenario (that still needs a human
read), and it only reports what a reader could verify by searching the training file for the
named term. What counts as a named thing:

- author-year citations, kept as a study key "surname year" (first author) plus, with several
  authors, a team key "surname1 & surname2": "Darley & Batson (1973)" and "Darley & Latané
  (1968)" are different studies and do not match each other;
- author lists without a year ("Lepper, Greene & Nisbett"): the team key;
- patient initials ("H.M.", "D.F.", "H.J.A."), kept as "hm", "df", "hja";
- other capitalised word sequences ("Little Albert", "Stanford", "Good Samaritan"); a sequence
  that looks like a person's name (two or three capitalised words, not introduced by an article
  or a quote) also yields its last word, so "Robert Rosenthal" matches "Rosenthal";
- the specific part of `source` ("Cognition: decision making (status quo bias)" gives
  "status quo bias"; the area before the colon is a chapter name, not a marker); a training
  row's multi-word source topic also counts when an unseen question spells it out in
  lower case ("explain how the visual cliff was used").

Noise control. Capitalised words that are not names are ignored through a small stop-list
(sentence starters, instruction verbs, days and months, nationalities, psychology field and
chapter names). A word at the start of a sentence is only taken when it begins a longer
capitalised sequence. Abbreviations for field-wide ideas ("REM", "IQ", "fMRI") and the given
names used for anonymous scenario characters ("Tom", "Priya") are ignored too. Finally, the
frequency rule: a term found in more than 2% of training rows (`FIELD_WIDE_SHARE`; a row counts
when its text mentions the term anywhere) is a field-wide name such as "Freud" or "Piaget" that
a textbook mentions in every chapter; it marks no particular study, so it is ignored on both
sides. The threshold is 2% rather than a rounder 3% because in the shipped training set no
person's name reaches 3% (Piaget is in 29 of 1,050 rows, 2.8%; Freud in 25), while the most-
cited case, H.M., is in about 13 rows (1.2%) and must stay a marker.

Only the instruction, input and source of an unseen row are read (the question the model sees
and the row's declared topic); training rows are read in full, output included, because training
teaches through its answers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from psych_plugin.problems import Problem


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A term in more than this share of training rows is field-wide (see the module docstring).
FIELD_WIDE_SHARE = 0.02

# Fields read from a row, in the order a problem reports them.
QUESTION_FIELDS = ("instruction", "input", "source")

# Capitalised words that name no study, case or person. Kept small on purpose: the frequency
# rule removes the common ones that are names ("Freud"), this list the ones that are not names.
STOP_WORDS = _words(
    """
    a an the this that these those there their they them it its i we you he she his her him our
    my your one some any each every all both either neither no not nothing something
    everyone everything someone anyone never rarely sometimes often usually always yes
    in on at of for from by with without within into onto to as and or but if then than when
    where while after before during since until unless because although though however also yet
    so thus hence therefore once only even just still instead rather later finally first second
    third next last most many more much few several other another such same
    what which who whom whose why how is are was were be been being do does did has have had
    can could may might must shall should will would
    describe explain outline summarise summarize compare contrast define identify name use using
    apply distinguish differentiate read based according give list evaluate discuss state walk
    trace classify sort analyse analyze assess consider imagine suppose calculate interpret
    illustrate show tell note look see say says said asked ask told make made take took help
    briefly
    philosophy science genetics behaviour behavior behaviourist behaviorist psychoanalytic
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    american british english european western eastern northern southern russian german french
    canadian israeli dutch italian spanish chinese japanese indian african asian australian
    scottish irish swiss austrian swedish norwegian danish black white
    psychology psychological psychologist psychologists psychiatry psychiatric psychiatrist
    social cognitive developmental clinical biological behavioural behavioral personality
    learning memory cognition perception sensation motivation emotion intelligence language
    consciousness sleep stress health statistics research methods method therapy treatment
    neuropsychology neuroscience psychopathology psychometrics psychophysics foundations
    history approaches industrial organizational organisational applied scenario case cases
    experiment experiments study studies theory theories model models effect effects test tests
    task tasks group groups condition conditions phase phases participant participants patient
    patients subject subjects student students child children adult adults person people man
    woman men women boy boys girl girls baby infant infants parent parents mother father
    teacher family team job worker employee manager client therapist researcher researchers
    example examples scenario scenarios demonstration finding findings figure item items sign
    option options question questions answer answers episode episodes tactic procedure plan
    design type types stage stages level levels part parts step steps version versions card
    cards day days week weeks month months year years time advert passage statement data
    dr mr mrs ms professor prof university college school hospital
    us uk usa eu ii iii iv vi
    """
)

# Abbreviations for field-wide concepts and methods: every chapter uses them ("REM sleep",
# "an IQ test", "an fMRI study"), so on their own they mark no study.
GENERIC_ABBREVIATIONS = _words(
    "iq rem nrem eeg mri fmri pet ct dsm icd cbt ssri ssris gaba dna rna hz ms"
)

# Given names the datasets use for anonymous scenario characters ("Tom sees a woman ..."):
# a reader would not call two scenarios the same case because both have a Tom.
SCENARIO_NAMES = _words(
    """
    alex ana ben dan jamal jo jon lena leo maria maya mei mina nia omar paul priya ravi sam
    sara tom zara
    """
)

_IGNORED = STOP_WORDS | GENERIC_ABBREVIATIONS | SCENARIO_NAMES

# Lower-case words that may sit inside a name ("Victor of Aveyron", "van Gogh").
_CONNECTORS = frozenset({"of", "von", "van", "de", "der", "den", "du", "la", "le", "y"})
_ARTICLES = frozenset({"the", "a", "an"})

_UPPER = r"A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UPPER}][\w'’\-]*"
_NAME = rf"{_WORD}(?:\s+{_WORD})*"
_SEP = r"\s*(?:,\s*(?:and\s+|&\s*)?|&|\band\b)\s*"
_YEAR = r"(?<!\d)(?P<year>1[6-9]\d\d|20\d\d)[ab]?(?![\w])"

_CITATION = re.compile(
    rf"(?P<authors>{_NAME}(?:{_SEP}{_NAME})*)"
    rf"(?:\s+et\s+al\.?|\s+and\s+(?:colleagues|co-workers))?(?:'s|’s|')?"
    rf"\s*(?:\(\s*|,\s*|\s)(?:in\s+)?{_YEAR}\)?"
)
_AUTHOR_LIST = re.compile(rf"(?P<authors>{_NAME}(?:{_SEP}{_NAME})+)")
_INITIALS = re.compile(r"(?<![\w.])((?:[A-Z]\.){2,3})(?![\w])")
_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*|\d+|[^\w\s]")
_SENTENCE_END = re.compile(r"[.!?:;]\s*['\"‘“(]*\s*$")


def _fold(text: str) -> str:
    """Lowercase, no accents, punctuation to spaces: 'Latané's' and 'latane s' compare equal."""
    text = text.replace("’", "'")
    text = re.sub(r"'(?:s|ll|m|ve|d|re)\b", " ", text)  # possessives and "I'll"
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def _surname(name: str) -> str:
    """Last word of a name, a hyphenated one whole: "Simon Baron-Cohen" -> "baron cohen"."""
    words = [w for w in name.split() if _fold(w) not in STOP_WORDS]
    return _fold(words[-1]) if words else ""


def _authors(span: str) -> list[str]:
    """Surnames in an author list, stop-listed words dropped ("In Darley and Batson" -> 2)."""
    parts = re.split(_SEP, span)
    return [s for s in (_surname(p) for p in parts) if s and s not in STOP_WORDS]


def _blank(text: str, start: int, end: int) -> str:
    # Keep positions (and sentence boundaries) while removing what was already read.
    return text[:start] + " " * (end - start) + text[end:]


def _citations(text: str, terms: set[str]) -> str:
    for m in reversed(list(_CITATION.finditer(text))):
        names = _authors(m.group("authors"))
        if not names:
            continue
        terms.add(f"{names[0]} {m.group('year')}")
        if len(names) > 1:
            terms.add(f"{names[0]} & {names[1]}")
        text = _blank(text, m.start(), m.end())
    return text


def _author_lists(text: str, terms: set[str]) -> str:
    for m in reversed(list(_AUTHOR_LIST.finditer(text))):
        span = m.group("authors")
        names = _authors(span)
        if len(names) < 2:
            continue
        terms.add(f"{names[0]} & {names[1]}")
        # Full names in the list ("Daniel Simons") still name someone; bare surnames stay in
        # the team key only.
        for part in re.split(_SEP, span):
            folded = [w for w in _fold(part).split() if w not in STOP_WORDS]
            if len(folded) > 1:
                terms.add(" ".join(folded))
        text = _blank(text, m.start(), m.end())
    return text


def _initials(text: str, terms: set[str]) -> str:
    for m in reversed(list(_INITIALS.finditer(text))):
        key = m.group(1).replace(".", "").lower()
        if key not in STOP_WORDS:
            terms.add(key)
        text = _blank(text, m.start(), m.end())
    return text


def _is_capitalised(token: str) -> bool:
    return token[:1].isupper()


def _phrases(text: str, terms: set[str], *, label: bool = False) -> None:
    """Capitalised runs; in prose (not `label`) a sentence's first word only starts a run."""
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    i = 0
    while i < len(tokens):
        tok, pos = tokens[i]
        if not _is_capitalised(tok):
            i += 1
            continue
        run = [tok]
        j = i + 1
        while j < len(tokens):
            nxt = tokens[j][0]
            if _is_capitalised(nxt) and not _gap(text, tokens[j - 1], tokens[j]):
                run.append(nxt)
                j += 1
            elif (
                nxt.lower() in _CONNECTORS
                and j + 1 < len(tokens)
                and _is_capitalised(tokens[j + 1][0])
                and not _gap(text, tokens[j], tokens[j + 1])
            ):
                run.extend([nxt, tokens[j + 1][0]])
                j += 2
            else:
                break
        before = text[:pos]
        starts_sentence = not label and (not before.strip() or bool(_SENTENCE_END.search(before)))
        prev_word = before.split()[-1].casefold() if before.split() else ""
        introduced = prev_word in _ARTICLES or before.rstrip()[-1:] in {"'", "‘", '"', "“"}
        # In a label ("Darley & Batson (1973), Good Samaritan") nothing tells a person's name
        # from a title, so only prose yields bare surnames.
        _add_run(run, terms, starts_sentence=starts_sentence, introduced=introduced or label)
        i = j


def _gap(text: str, left: tuple[str, int], right: tuple[str, int]) -> bool:
    """True when anything but spaces lies between two tokens (punctuation ends a name)."""
    between = text[left[1] + len(left[0]) : right[1]]
    return bool(between.strip())


def _add_run(run: list[str], terms: set[str], *, starts_sentence: bool, introduced: bool) -> None:
    words = [_fold(w) for w in run]
    if starts_sentence:
        if len(words) == 1:
            return  # "Participants heard ...": capitalised because it starts the sentence
        words = words[1:] if words[0] in STOP_WORDS else words
    while words and (words[0] in STOP_WORDS or words[0] in _CONNECTORS):
        words = words[1:]
    while words and (words[-1] in STOP_WORDS or words[-1] in _CONNECTORS):
        words = words[:-1]
    words = [w for w in words if w]
    if not words:
        return
    phrase = " ".join(words)
    if len(phrase) < 2 or phrase.isdigit():
        return
    terms.add(phrase)
    person_like = (
        2 <= len(words) <= 3
        and not introduced
        and not any(w in _CONNECTORS for w in words)
        and all(w not in STOP_WORDS for w in words)
    )
    if person_like:
        terms.add(words[-1])


def _text_terms(text: str, *, label: bool = False) -> set[str]:
    terms: set[str] = set()
    text = _citations(text, terms)
    text = _initials(text, terms)
    text = _author_lists(text, terms)
    _phrases(text, terms, label=label)
    return {t for t in terms if len(t) > 1 and t not in _IGNORED}


def _source_terms(source: str) -> set[str]:
    """Names anywhere in `source`, plus its specific topic (the part after the chapter name)."""
    # The chapter before the colon ("Behaviour genetics:") names no study; names in brackets
    # there ("Philosophy of science (Popper)") still count.
    area, _, rest = source.partition(":") if ":" in source else ("", "", source)
    terms = _text_terms(" ; ".join(re.findall(r"\(([^()]*)\)", area) + [rest]), label=True)
    return terms | source_topics(source)


def source_topics(source: str) -> set[str]:
    """The specific topic of a `source` label, lower-cased: "Applied scenario: cognition (sunk
    cost fallacy)" gives "sunk cost fallacy", "Gibson & Walk (1960), visual cliff" gives
    "visual cliff", a bare chapter name such as "Social psychology" gives nothing."""
    # "Area: topic (detail)"; experiment-style sources are "Authors (year), topic". Topics are
    # the lower-case pieces (capitalised ones are names); a lower-case detail in brackets is
    # more specific than the topic before it.
    if ":" not in source and "," not in source and "(" not in source:
        return set()
    specific = source.split(":", 1)[1] if ":" in source else source
    brackets = [p for p in re.findall(r"\(([^()]*)\)", specific) if _is_topic(p)]
    main = re.sub(r"\([^()]*\)", " ", specific)
    topics = {_fold(p) for p in brackets or [p for p in main.split(",") if _is_topic(p)]}
    return {t for t in topics if t not in _IGNORED}


def _is_topic(piece: str) -> bool:
    """A lower-case label piece with letters in it: not a name, not a bare year."""
    piece = re.sub(r"\b\d+s?\b", " ", piece)  # "(1890s)" is a date, not a topic
    return bool(re.search(r"[^\W\d_]", piece)) and not re.search(f"[{_UPPER}]", piece)


def _field_terms(row: dict, fields: Iterable[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for field in fields:
        value = row.get(field) or ""
        if not isinstance(value, str) or not value.strip():
            out[field] = set()
        elif field == "source":
            out[field] = _source_terms(value)
        else:
            out[field] = _text_terms(value)
    return out


def named_terms(row: dict, *, include_output: bool = False) -> set[str]:
    """The normalised named things of one row: what a reader would search the other file for.

    Reads instruction, input and source; `include_output` adds the answer, which is how
    training rows are read (a training answer teaches the names it mentions)."""
    fields = QUESTION_FIELDS + (("output",) if include_output else ())
    return set().union(*_field_terms(row, fields).values())


def field_wide_terms(train_rows: list[dict], terms: Iterable[str] | None = None) -> set[str]:
    """Terms in more than FIELD_WIDE_SHARE of training rows: names of the whole field, not of a
    study ("Freud", "Piaget"), which would otherwise make every row look like a leak.

    A row counts when its text contains the term anywhere (a sentence that opens with "Piaget"
    still mentions Piaget); a citation or team key counts where all its words occur."""
    texts = [" " + _fold(" ".join(str(v) for v in row.values())) + " " for row in train_rows]
    rows_with: dict[str, set[int]] = {}
    for i, text in enumerate(texts):
        for word in set(text.split()):
            rows_with.setdefault(word, set()).add(i)
    if terms is None:
        terms = set().union(*(named_terms(r, include_output=True) for r in train_rows))
    limit = FIELD_WIDE_SHARE * len(train_rows)
    wide = set()
    for term in terms:
        keyed = " & " in term or re.fullmatch(r".+ \d{4}", term)
        words = term.replace(" & ", " ").split()
        candidates = set.intersection(*(rows_with.get(w, set()) for w in words))
        if len(candidates) <= limit:
            continue  # cheap upper bound: most terms stop here
        hits = candidates if keyed else {i for i in candidates if f" {term} " in texts[i]}
        if len(hits) > limit:
            wide.add(term)
    return wide


def split_problems(
    train_rows: list[dict], unseen_rows: list[dict], unseen_path: str
) -> list[Problem]:
    """One warning per unseen row that names something training also names.

    Two kinds of match: a named term of the unseen row's instruction, input or source that a
    training row also has (see `named_terms`), and a training row's multi-word source topic
    ("visual cliff", "testing effect") written out in the unseen row's instruction or input,
    which catches a taught key term even when nobody's name is attached to it.

    A warning, not an error: the check compares names and can be fooled (a place name shared by
    two unrelated studies), so a person decides. `line` is the row's 1-based position (its line
    in a JSONL file without blank lines); `field` is the first of instruction, input and source
    that holds a shared term; the message names each shared term with the first training row
    (1-based) that has it."""
    first_line: dict[str, int] = {}
    topic_line: dict[str, int] = {}
    for lineno, row in enumerate(train_rows, start=1):
        for term in named_terms(row, include_output=True):
            first_line.setdefault(term, lineno)
        for topic in source_topics(str(row.get("source") or "")):
            if " " in topic and not re.search(r"\d", topic):
                topic_line.setdefault(topic, lineno)
    ignored = field_wide_terms(train_rows, first_line.keys() | topic_line.keys())
    known = {t: n for t, n in first_line.items() if t not in ignored}
    topics = {t: n for t, n in topic_line.items() if t not in ignored}

    problems: list[Problem] = []
    for lineno, row in enumerate(unseen_rows, start=1):
        shared_field = ""
        shared: dict[str, int] = {}
        for field, terms in _field_terms(row, QUESTION_FIELDS).items():
            hits = {t: known[t] for t in terms if t in known}
            if field != "source":
                text = f" {_fold(str(row.get(field) or ''))} "
                hits.update({t: n for t, n in topics.items() if f" {t} " in text})
            if hits and not shared_field:
                shared_field = field
            shared.update(hits)
        if not shared:
            continue
        listed = ", ".join(f"'{t}' (training line {n})" for t, n in sorted(shared.items()))
        problems.append(
            Problem(
                unseen_path,
                lineno,
                shared_field,
                f"names what training names: {listed}; the unseen set should hold concepts, "
                f"studies and cases absent from training (first training line: "
                f"{min(shared.values())})",
                "warning",
            )
        )
    return problems


def read_rows(path: str | Path) -> list[dict]:
    """JSONL rows of a file (blank lines skipped), for callers that start from paths."""
    with open(path, encoding="utf-8-sig") as f:
        return [json.loads(line) for line in f if line.strip()]
