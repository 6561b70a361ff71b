"""What a book tells over several sentences or paragraphs: a study (who ran it, what was done,
what was found), a named case (who, what happened, what it showed) and a theory someone
proposed (who, what it proposes). The rows of rules.py read one sentence or one paragraph; the
landmark studies of a textbook are told across a section ("Stanley Milgram's Experiment": who
Milgram was, what the participants were told, what 65% of them did), so these rows are composed
from the book's own sentences, chosen and kept in order: the sentence naming who, the
sentences saying what was done, the first saying what was found. Never the whole passage:
asides, questions to the reader, quotations, definitions of other terms and the reader's
story are left out, and a row is made only when each part is there.

Also here, because they too read across a section rather than one paragraph: studies the book
tells in one sentence or opens with "In one study, ..." (named by their citation), what a
theory or theorist holds ("According to X, ..."), the kinds or parts someone set out, a
technique's steps (how_to), and two kinds the book names together, compared by their
definitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .critic import Candidate, critique, repair
from .definitions import _ASIDE, _DISCOURSE, TermStyle, _sentence_end
from .reading import Chunk
from .rows import make_row
from .rules import (
    _CITED,
    _DID,
    _FOUND,
    _NOT_ABOUT,
    _NOT_WHO,
    _REPORTED,
    BookPlan,
    _who,
    pair_row,
    study_rows,
    term_key,
)
from .text import clean_markdown, pick, split_sentences, word_set

# -------------------------------------------------------------------------------- sentences


@dataclass(frozen=True)
class Sentence:
    text: str  # as the book has it (Markdown removed)
    para: int  # its paragraph's place in the section
    chunk: int  # the chunk it is in (rows are made in the chunk of their first sentence)


def _section_sentences(chunks: Sequence[Chunk]) -> list[tuple[str, list[Sentence]]]:
    """(heading, sentences) of each section's running text, across the chunks it spans;
    block quotes (feature boxes, quotations) and lists are not the narrative."""
    out: list[tuple[str, list[Sentence]]] = []
    key: tuple[str, str] | None = None
    para = 0
    for c in chunks:
        if c.glossary:
            key = None
            continue
        if (c.chapter, c.section) != key:
            key = (c.chapter, c.section)
            out.append((c.section, []))
            para = 0
        for b in c.blocks:
            para += 1
            if b.kind != "prose" or b.quoted:
                continue
            for s in split_sentences(clean_markdown(b.text)):
                out[-1][1].append(Sentence(s, para, c.index))
    return out


_YET = re.compile(
    r"^(?:yet|still|even so|in turn|in response|further(?:more)?|indeed|in addition),?\s+",
    re.IGNORECASE,
)


def _clean(sentence: str, first: bool) -> str:
    """Asides pointing elsewhere removed ("(Figure 12.20)", "(Milgram, 1965)"); a connective
    that tied the sentence to one left out dropped ("However, ...", "Yet, ...")."""
    text = _ASIDE.sub("", sentence).strip()
    text = re.sub(r", (?:for example|for instance),", ",", text)  # the example is the row
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    if not first:
        text = _YET.sub("", _DISCOURSE.sub("", text))
        # "Through these experiments, ...": the experiments are the row's own.
        text = re.sub(
            r"^(?:Through|In|From|During|With|After) (?:these|this|those) [^,]{1,40}, ", "", text
        )
    return _sentence_end(text[:1].upper() + text[1:])


# Sentences a composed answer never takes: questions, the reader, quotations, first person,
# a definition of another term (the row is about the study), pointers elsewhere.
_SKIP = re.compile(
    r"\?|\byou\b|\byour\b|\b(?:I|we|We|our|Our|us|my)\b|^[“\"]|"
    r"\b(?:figure|table)\s+\d|\bthis (?:chapter|section)\b|\b(?:discussed|described|mentioned) "
    r"(?:earlier|later|above|below|previously)\b|\bearlier in this\b|\bimagine\b|"
    r"\b(?:watch|view) (?:this|the) (?:video|clip)\b|"
    r"^(?:for example|for instance|consider|as an example)\b",
    re.IGNORECASE,
)
# A definition of another term: not part of a study's story (but what an anchor may lean on).
_DEFINITION = re.compile(
    r"^(?:(?:A|An|The) )?[a-z][\w-]*(?: [a-z][\w-]*){0,3} (?:is|are|refers to) (?:a|an|the) "
    r"[a-z][\w-]* (?:of|in|that|which|who|where)\b",
    re.IGNORECASE,
)
# Opens leaning on the sentence before it: kept only right after that sentence.
_LEANS = re.compile(
    r"^(?:he|she|they|it|this|these|those|that|his|her|their|its|such|there|"
    r"in (?:this|that|these|their|his|her) (?:case|study|studies|experiments?|research)|"
    r"the (?:results|findings|study|experiment|researchers?))\b",
    re.IGNORECASE,
)
# Leans on what came before without a pronoun: "this defense", "One of the earliest was ...".
_DEICTIC = re.compile(
    r"\b(?:this|these|those|such) (?!(?:study|studies|experiments?|research|way|is|was|"
    r"means|time|case|point|who|that|which|of|in|with|whose|whom|at|from)\b)[a-z]+\b|"
    r"^(?:one of the (?!most\b)|another|the other|the same|the first)\b|"
    r"^(?:a|one|another) (?:[a-z]+ )?example\b",
    re.IGNORECASE,
)


# ----------------------------------------------------------------------------------- studies

# What was done, in a study told at length: the procedure's verbs ("were told", "was shown",
# "were randomly assigned", "recruited"), the people it used ("confederates").
_PROCEDURE = re.compile(
    rf"{_DID.pattern}|\b(?:was|were) (?:then |later |first |also )?(?:told|shown|asked|led|"
    r"given|assigned|randomly assigned|placed|exposed|presented|paid|instructed|taught|"
    r"trained|tested|observed|interviewed|followed|recruited|constructed|divided|paired|"
    r"selected|manipulated|measured|compared|separated|raised|reared|housed)\b|"
    r"\b(?:separated|raised|reared|housed|deprived|fed) (?:[a-z-]+ )?(?:monkeys|rats|dogs|"
    r"animals|infants|babies|children|participants)\b|\bmade (?:out )?(?:of|from)\b|"
    r"\bconfederates?\b|\b(?:participants|subjects|children|infants|students|volunteers)\b"
    r"[^.]{0,30}\b(?:watched|listened to|completed|filled out|played)\b|"
    r"\b(?:volunteers?|participants|subjects)\b[^.]{0,40}\b"
    r"(?:were|was) (?:[a-z]+ )?(?:asked|told|shown|given|assigned|arrested|taken)\b|"
    r"\bdid not know that\b|\b[Ii]n one (?:study|condition|scenario|experiment)\b|"
    r"\b(?:made|struck|rang|played) (?:a|an|the) [a-z]+ (?:sound|noise|tone)\b|"
    r"\bby (?:striking|hitting|ringing|playing|showing|giving|pairing|presenting)\b",
)
# What was found: a finding verb, a share of the participants, a change.
_RESULT = re.compile(
    rf"{_FOUND.pattern}|{_REPORTED.pattern}|"
    r"\b\d+(?:\.\d+)?%\s+of\s+(?:the\s+)?(?:participants|subjects|children|students|people|"
    r"respondents|men|women)\b|\b(?:(?:was|were) (?:more|less) likely|(?<!which )(?<!that )"
    r"(?:increased|decreased|dropped|rose|fell)\b)|\bhad to be (?:ended|stopped)\b|"
    r"\bbegan to show\b|"
    r"\b(?:was|were) (?:higher|lower|greater|smaller|better|worse) (?:in|among|for|than)\b|"
    r"\bfind that\b|\bpreferred\b|\b(?i:nearly|almost|about|over|more than|less than|only) "
    r"(?:half|a third|a quarter|one third|two-thirds|\d+%) of\b|"
    r"\b(?:more|less|higher|lower|better|worse|greater|fewer)\b[^.;]{0,60}\bthan\b|"
    r"\bbecame (?:[a-z]+ )?(?:afraid|frightened|fearful|aggressive|able|unable)\b|"
    r"\b(?:highlighted|showed|suggests?|demonstrat\w+)\b"
)
# Who ran it: a study verb after the name or a study named by who ran it.
_STUDY_ACT = re.compile(
    r"\b(?:conducted|designed|carried out|ran|performed|began|published)\b[^.;]{0,40}?"
    r"\b(?:experiments?|stud(?:y|ies)|research|investigations?)\b|"
    r"\b(?:wanted|set out|sought) to (?:test|determine|find out|examine|see)\b|"
    r"\b(?:a|one|another|the|their|his|her|classic|famous|landmark) (?:[\w-]+ ){0,3}?"
    r"(?:study|experiment)s? (?:by|conducted by)\b|"
    r"\bknown as the [\w’'-]+(?: [A-Za-z][\w’'-]*){0,3} (?:experiment|study)\b|"
    r"\b(?:experiment|study),? conducted by\b|"
    r"^(?:[A-Z][a-z]+ )?[A-Z][a-z]+ (?:researched|studied|investigated) [a-z]|"
    # "Agerström and Rooth (2011) examined ...", "Harding (2018) compared groups of ...": a
    # cited name doing the study.
    r"\b[A-Z][\w’'-]+(?: et al\.)? \((?:1[89]|20)\d\d[a-z]?\),? (?:then |also |first )?"
    r"(?P<verb>examined|studied|compared|investigated|tested|gave|asked|surveyed|followed|"
    r"measured|recruited|placed|exposed|assigned|observed|presented|trained|interviewed|"
    r"showed)\b"
)
# The verbs of a study act that are themselves a method ("compared groups of students").
_METHOD_ACT = word_set(
    "compared tested gave asked surveyed followed measured recruited placed exposed assigned "
    "observed presented trained interviewed showed"
)
_KNOWN_AS = re.compile(
    r"\bknown as the (?P<name>[\w’'-]+(?: [A-Za-z][\w’'-]*){0,3} (?:experiment|study))\b"
)
_NAMED_STUDY = re.compile(
    r"^(?:The )?(?:famous |classic |well-known )?(?P<name>[A-Z][\w’'-]*(?: [a-z][\w’'-]*){0,3} "
    r"(?:experiment|study)),? conducted by\b"
)
_HEADING_STUDY = re.compile(
    r"^(?P<who>[A-Z][a-z]+(?: [A-Z][a-z]+)?)(?:’s|'s) (?P<name>(?:[A-Z][\w-]* ){0,3}"
    r"(?:Experiment|Study|Studies|Experiments))$"
)
_FULL_NAME = re.compile(r"\b(?P<given>[A-Z][a-z]+) (?P<surname>[A-Z][a-z]{2,})\b")
_STUDY_ASKS = (
    "Describe {name}: who conducted it, what was done, and what was found?",
    "What was done in {name}, and what did it find?",
    "Summarize {name}: its method and its findings.",
)
_STUDIES_ASKS = (
    "Describe {name}: what was done, and what was found?",
    "What was done in {name}, and what did they find?",
    "Summarize {name}: their method and their findings.",
)
_CASE_ASKS = (
    "What happened in the case of {name}, and what did it show?",
    "Describe the case of {name} and what it revealed.",
)
MAX_CHARS = 1400  # a study told in the book's sentences, not a page of it
MAX_PROCEDURE = 5


_NOT_GIVEN = word_set(
    "United New North South East West Supreme American British National Royal Johns Palo "
    "Nazi Harvard Stanford Yale Papua Little Santa San Los Las Saint St Then Also When While "
    "After Before Later Today Thus Here"
)


def _person(
    sentence: str, researchers: frozenset[str], people: Mapping[str, str], act: re.Match[str]
) -> str:
    """Who the sentence says ran the study: a citation ("Sherif et al. (1961)"), else a full
    name or a surname the book cites elsewhere ("Solomon Asch", "Milgram"); before the study
    verb (its subject), or right after "a study by" / "conducted by"."""
    by = act.group(0).endswith("by")

    def placed(start: int) -> bool:
        # "... known as the quizmaster study (Ross, Amabile, & Steinmetz, 1977)": its citation.
        cited = act.end() <= start <= act.end() + 2 and sentence[start : start + 1] == "("
        return start <= act.start() or cited or by and act.end() <= start <= act.end() + 70

    # (where, kind, who): the first named is the one who did it; a citation is its best name
    found: list[tuple[int, int, str]] = []
    for m in _CITED.finditer(sentence):
        named = _who(m)
        if named is not None and placed(m.start()):
            full = _full(people, named[0])
            found.append((m.start(), 0, f"{full} ({named[1]})" if full == named[0] else full))
    for m in _FULL_NAME.finditer(sentence):
        if m.group("given") in _NOT_WHO or m.group("given") in _NOT_GIVEN:
            continue
        if (m.group("surname") in researchers or m.group("surname") in people) and placed(
            m.start()
        ):
            found.append((m.start(), 1, f"{m.group('given')} {m.group('surname')}"))
    for m in re.finditer(r"\b[A-Z][a-z]{2,}\b", sentence):
        word = m.group(0)
        if word in researchers and word not in _NOT_WHO and placed(m.start()):
            found.append((m.start(), 2, _full(people, word)))
    return min(found)[2] if found else ""


def _full(people: Mapping[str, str], surname: str) -> str:
    """The full name the book gives a surname ("Ivan Pavlov"), not a sentence's opening word
    taken for a given name ("Then Watson")."""
    full = people.get(surname, surname)
    return full if full.split()[0] not in _NOT_GIVEN else surname


# A sentence that is about the study, not an aside: its people, its researchers, its results.
_PEOPLE = re.compile(
    r"\b(?:participants|subjects|students|children|infants|adults|men|women|workers|employees|"
    r"managers|patients|volunteers|applicants|teams|officers|parents|couples|people)\b"
)
# Words too common to tie a sentence to a study.
_COMMON = word_set(
    "because between different people another through during without whether should would "
    "could before another important however example research psychology behavior behaviour "
    "others someone something themselves person general"
)
_ABOUT_STUDY = re.compile(
    r"\b(?:participants?|subjects?|researchers?|experimenters?|results|findings|study|"
    r"experiments?|they|he|she|child|children|infants?|baby|babies|monkeys?|rats?|dogs?|pigeons?|"
    r"prisoners|"
    r"guards|volunteers|students|learners?|teachers?|confederates?|groups?)\b",
    re.IGNORECASE,
)


def _surname(who: str) -> str:
    """ "Bandura et al. (1961)" -> "Bandura"; "Stanley Milgram" -> "Milgram"; "Garcia and
    Koelling (1966)" -> "Garcia"."""
    bare = re.sub(r" \(\d{4}\)$| et al\.", "", who)
    return bare.split(" and ")[0].split()[-1]


@dataclass(frozen=True)
class Story:
    """A composed row and the sentences it came from (its passage)."""

    row: dict[str, str]
    passage: str
    chunk: int
    who: str


def _compose(sents: Sequence[Sentence], picked: Sequence[int]) -> str:
    out = []
    for n, k in enumerate(picked):
        out.append(_clean(sents[k].text, first=n == 0 or k - 1 == picked[n - 1]))
    return " ".join(out)


def _usable(
    s: Sentence,
    generic_we: bool = False,
    definition: bool = False,
    longest: int = 450,
    generic_you: bool = False,
) -> bool:
    """A sentence an answer may take; `generic_we`: the book's "our emotions" is its voice
    when it states a theory, not a story; `definition`: a definition may be taken (what an
    anchor leans on), not only story."""
    text = _ASIDE.sub("", s.text)
    if generic_we:
        text = re.sub(r"\b(?:we|We|our|Our|us)\b", "people", text)
    if generic_you:  # a step's "the warmth of your blood": the book's instructions
        text = re.sub(r"\b(?:you|your)\b", "one", text)
    if not definition and _DEFINITION.search(text):
        return False
    if not re.search(r"[.!”\"’)]$", text.rstrip()):
        return False  # cut off: "..., positive psychology," runs on into a quotation
    return _SKIP.search(text) is None and 20 <= len(text) <= longest


def _context(sents: Sequence[Sentence], i: int) -> list[int] | None:
    """The anchor sentence with what it leans on before it, in its paragraph ("Milgram (1963)
    wanted to test the validity of this defense" needs the defense): at most two sentences
    back; None when those do not read on their own either."""
    picked = [i]
    k = i
    while _LEANS.match(sents[k].text) or _DEICTIC.search(sents[k].text):
        k -= 1
        if k < 0 or i - k > 2 or sents[k].para != sents[i].para:
            return None
        if not _usable(sents[k], definition=True):
            return None
        picked.insert(0, k)
    return picked


def _introducing(sents: Sequence[Sentence], picked: Sequence[int], found: int) -> list[int]:
    """Sentences left out between the anchor and the finding that introduce what the finding
    calls "the gorilla" or "the group" ("a person dressed in a black gorilla costume walks
    among the two teams"): at most two, each readable where it stands."""
    said = " ".join(sents[k].text for k in picked).lower()
    added: list[int] = []
    if not picked:
        return added
    for noun in re.findall(r"\bthe ([a-z]{4,})\b", sents[found].text):
        if noun[:5] in said or len(added) == 2:
            continue
        for k in range(found - 1, picked[0], -1):
            t = sents[k]
            if k in picked or k in added or not _usable(t):
                continue
            if _LEANS.match(t.text) and k - 1 not in picked:
                continue
            if re.search(rf"\b(?:a|an|two|one|each)\b[^.]{{0,40}}\b{noun[:5]}", t.text.lower()):
                added.append(k)
                said += " " + t.text.lower()
                break
    return added


def study_stories(
    chunks: Sequence[Chunk],
    researchers: frozenset[str],
    people: Mapping[str, str],
    book: str,
    covered: frozenset[str] = frozenset(),
) -> list[Story]:
    """The studies each section tells: from the sentence naming who ran it, the sentences of
    what was done (up to five), then the first sentence of what was found, within the
    paragraph and the two after it. `covered`: surnames whose study already has a row."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    for heading, sents in _section_sentences(chunks):
        heading_study = _HEADING_STUDY.match(heading)
        done: set[str] = set()
        for i, s in enumerate(sents):
            act = _STUDY_ACT.search(s.text)
            if act is None or not _usable(s, generic_we=True):
                continue  # (the book's "our perception" is its voice, not a quotation)
            who = _person(s.text, researchers, people, act)
            if not who:
                continue
            surname = _surname(who)
            if surname in done or surname in covered:
                continue
            picked = _context(sents, i)
            named_effect = re.search(
                r"\bthis ((?:[\w-]+ ){0,4}(?:effect|phenomenon|technique|principle|bias|error))\b",
                s.text,
            )
            if picked is None and named_effect:
                # "demonstrated this justification of effort effect": the effect is named, so
                # "the" reads on its own.
                s = Sentence(
                    s.text.replace(named_effect.group(0), "the " + named_effect.group(1)),
                    s.para,
                    s.chunk,
                )
                sents = [*sents[:i], s, *sents[i + 1 :]]
                picked = _context(sents, i)
            if picked is None:
                continue
            before = picked[0] - 1
            if (
                surname not in sents[picked[0]].text
                and before >= 0
                and i - before <= 2
                and sents[before].para == s.para
                and surname in sents[before].text
                and _usable(sents[before])
            ):
                picked.insert(0, before)  # "Stanley Milgram was a social psychology professor ..."
            # "conducted research on a baby" names the study, it does not say what was done.
            bare = s.text[: act.start()] + s.text[act.end() :]
            verb = act.groupdict().get("verb")
            # "examined hiring managers' decisions to invite equally qualified ...": a design,
            # with the people studied ("examined the use of virtual reality" is a topic).
            rest = s.text[act.end() :]
            method_act = verb in _METHOD_ACT or (
                verb is not None and len(rest) >= 60 and _PEOPLE.search(rest) is not None
            )
            procedure = 1 if method_act or _PROCEDURE.search(bare) else 0
            # Who or what the anchor names ("a baby nicknamed Little Albert") is the study's.
            anchor_names = set(re.findall(r"\b[A-Z][a-z]{2,}\b", s.text[1:])) - _NOT_WHO
            found = None
            for k in range(i + 1, len(sents)):
                t = sents[k]
                if t.para > s.para + 2:
                    break
                other_act = _STUDY_ACT.search(t.text)
                if k > i + 1 and other_act:
                    other = _person(t.text, researchers, people, other_act)
                    if other and other.split()[-1] != who.split()[-1]:
                        break  # another study begins
                # (Not the co-authors in its citation: "(Mischel, Ebbesen, & Raskoff, 1972)".)
                others = set(re.findall(r"\b[A-Z][a-z]{2,}\b", _ASIDE.sub("", t.text)))
                others &= researchers
                others -= set(re.findall(r"\b[A-Z][a-z]{2,}\b", s.text))  # co-researchers
                if others - set(re.findall(r"\b[A-Z][a-z]{2,}\b", who)):
                    break  # "Burger partially replicated this study": someone else's
                if not _usable(t):
                    continue
                named = set(re.findall(r"\b[A-Z][a-z]{2,}\b", t.text)) & anchor_names
                if re.match(r"^(?:In [A-Z][a-z]+(?:’s|'s) view|According to)\b", t.text):
                    break  # the theory, not the study any more
                # ... or what the sentences taken so far speak of ("questioners", "contestants").
                shared = {w[:7] for w in re.findall(r"\b[a-z]{7,}\b", t.text.lower())} & {
                    w[:7]
                    for p in picked
                    for w in re.findall(r"\b[a-z]{7,}\b", sents[p].text.lower())
                    if w not in _COMMON
                }
                if not (surname in t.text or named or shared or _ABOUT_STUDY.search(t.text)):
                    continue  # "The engineers found a way ...": an aside, not the study
                leans = _LEANS.match(t.text) or _DEICTIC.search(t.text)
                if leans and picked[-1] != k - 1:
                    # "They were asked ...", "The other seven were ...": with the sentence
                    # they lean on, or not at all.
                    prev = sents[k - 1]
                    if not (
                        k - 1 > i
                        and prev.para == t.para
                        and _usable(prev)
                        and not _LEANS.match(prev.text)
                        and not _DEICTIC.search(prev.text)
                        and (_PROCEDURE.search(t.text) or _RESULT.search(t.text))
                    ):
                        continue
                    picked.append(k - 1)
                # "They found that when two opposing groups ... worked together, ...": the
                # condition compared is what was done.
                condition = re.search(r"\b(?:found|showed|demonstrated) that when\b", t.text)
                hedged = re.search(r"\b(?:may|might|can|could)\b", t.text) and not re.search(
                    r"\b(?:found|showed|results|findings)\b", t.text
                )  # "Babies may demonstrate this by crying": what can happen, not a finding
                if (procedure or condition) and _RESULT.search(t.text) and not hedged:
                    after = sents[k + 1] if k + 1 < len(sents) else None
                    if (
                        after is not None
                        and after.para == t.para
                        and _usable(after)
                        and _PROCEDURE.search(after.text)
                        and not _RESULT.search(after.text)
                        and procedure < MAX_PROCEDURE
                    ):
                        # "Little Albert was frightened by the sound ... Watson repeatedly
                        # paired the sound with the rat": a step on the way, not the finding.
                        continue
                    found = k
                    break
                if _PROCEDURE.search(t.text) and procedure < MAX_PROCEDURE:
                    picked.append(k)
                    procedure += 1
            if found is None:
                continue
            picked.append(found)
            for k in [p for p in picked if p > i]:
                picked.extend(_introducing(sents, [p for p in picked if p < k], k))
            # A sentence left out between two taken from its paragraph is part of the story
            # ("One gauze pad was from ... a stranger, and the other ... the infant's own
            # mother"): a study told with a gap is half a design. Kept when the story still
            # reads with it (not a summary speaking of "the teacher" before she is introduced).
            paras = {sents[p].para for p in picked}
            gapped = sorted(picked)
            picked.extend(
                k
                for k in range(i + 1, found)
                if k not in picked
                and sents[k].para in paras
                and sents[k - 1].para == sents[k].para == sents[k + 1].para
                and _usable(sents[k])
                and not (
                    set(re.findall(r"\b[A-Z][a-z]{2,}\b", _ASIDE.sub("", sents[k].text)))
                    & researchers
                )
                - set(re.findall(r"\b[A-Z][a-z]{2,}\b", f"{s.text} {who}"))
            )
            picked.sort()
            # A second finding right after the first ("These variations show that ...").
            nxt = found + 1
            if (
                nxt < len(sents)
                and sents[nxt].para == sents[found].para
                and _usable(sents[nxt])
                and (
                    re.match(
                        r"^(?:These|The|This) (?:results|findings|variations|experiments?|"
                        r"studies|study) (?:show|showed|suggest|suggested|demonstrat)",
                        sents[nxt].text,
                    )
                    # "When the teacher was punished, ... When the teacher was praised, ...":
                    # the other condition's result.
                    or sents[found].text.startswith("When ")
                    and sents[nxt].text.startswith("When ")
                )
            ):
                picked.append(nxt)
            if surname not in _compose(sents, picked):
                # "... known as the quizmaster study (Ross, Amabile, & Steinmetz, 1977).": who
                # ran it is only in the citation, which an answer leaves out; said in words.
                cited = re.search(
                    rf"(?P<what>\b(?:study|studies|experiments?)) \((?P<who>[^()]*\b{surname}\b"
                    r"[^()]*?),? (?:1[89]|20)\d\d[a-z]?\)(?P<end>[.!]?)$",
                    s.text,
                )
                if cited is None:
                    continue  # a study whose researchers the answer never names
                names = cited.group("who").replace(" &", " and").replace("et al.", "et al")
                told = f"{cited.group('what')} by {names}{cited.group('end')}"
                s = Sentence(s.text[: cited.start()] + told, s.para, s.chunk)
                sents = [*sents[:i], s, *sents[i + 1 :]]
            output = _compose(sents, picked)
            if picked != gapped:
                probe = make_row("Q?", "", output, "experiment", "")
                if critique(Candidate(probe, "", "")) is not None:
                    picked = gapped
                    output = _compose(sents, picked)
            if len(output) > MAX_CHARS:
                # Too long to tell whole; a study with its design or its finding cut out reads
                # complete and is not: no row.
                continue
            name = _study_name(s.text, heading_study, who)
            done.add(surname)
            plural = re.search(r"(?:experiments|studies)$", name) or name.startswith("the exp")
            asks = _STUDIES_ASKS if plural else _STUDY_ASKS
            ask = pick(name, asks).format(name=name)
            source = by_index[s.chunk].source(book)
            passage = " ".join(t.text for t in sents[picked[0] : picked[-1] + 1])
            row = make_row(ask, "", output, "experiment", source)
            out.append(Story(row, passage, s.chunk, surname))
    return out


def _study_name(sentence: str, heading: re.Match[str] | None, who: str) -> str:
    """How the question names the study: as the book names it ("the Robbers Cave experiment",
    "the Stanford prison experiment"), as its heading does ("Stanley Milgram’s experiment"),
    else by who ran it ("the study by Solomon Asch")."""
    m = _KNOWN_AS.search(sentence) or _NAMED_STUDY.match(sentence)
    if m:
        return f"the {m.group('name')}"
    if heading and heading.group("who").split()[-1] in who:
        return f"{heading.group('who')}’s {heading.group('name').lower()}"
    plural = re.search(r"\b(?:several|a series of|many) (?:[\w-]+ )?experiments\b", sentence)
    on = re.search(r"\b(?:nicknamed|named) (?P<n>[A-Z][a-z]+(?: [A-Z][a-z]+)?)", sentence)
    kind = "experiments" if plural else "research"
    return f"the {kind} by {who}" + (f" on {on.group('n')}" if on else "")


# ------------------------------------------------------------------------------------- cases

_CASE_ANCHOR = re.compile(
    r"\b(?:case of (?:[\w ]{0,40}? is that of )?(?:(?:a|an) (?:[\w-]+ ){0,3}?(?:man|woman|boy|"
    r"girl|patient|baby) (?:by the name of|named) )?|"
    r"(?:a|an) (?:[\w-]+ ){0,3}(?:man|woman|boy|girl|patient|baby) (?:by the name of|named) )"
    r"(?P<name>[A-Z][a-z]+(?: [A-Z][a-z]+){1,2})\b|"
    r"^(?:In \d{4}, )?(?P<name2>[A-Z][a-z]+(?: [A-Z][a-z]+){1,2})(?: \([A-Z. ]+\))? was an? "
    r"\d+-year-old (?:man|woman|boy|girl)\b"
)
_CASE_SHOWED = re.compile(
    r"\b(?:highlighted|showed|revealed|demonstrated|provided (?:[\w-]+ )?insight|helped "
    r"(?:[\w-]+ ){0,3}(?:identify|understand)|consistent with|illustrat\w+)\b"
)


def case_stories(
    chunks: Sequence[Chunk], book: str, covered: frozenset[str] = frozenset()
) -> list[Story]:
    """A named person's case told over a few sentences, up to the one saying what it showed
    (the sentences between, the story, all kept: a case is what happened)."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    for _, sents in _section_sentences(chunks):
        done: set[str] = set()
        for i, s in enumerate(sents):
            m = _CASE_ANCHOR.search(s.text)
            if m is None or not _usable(s):
                continue
            name = m.group("name") or m.group("name2")
            if name in done or name.split()[-1] in covered:
                continue
            picked = _context(sents, i)
            if picked is None:
                continue
            showed = None
            for k in range(i + 1, min(i + 9, len(sents))):
                t = sents[k]
                if t.para > s.para + 1:
                    break
                if not _usable(t):
                    continue
                if _LEANS.match(t.text) and picked[-1] != k - 1:
                    continue
                picked.append(k)
                if _CASE_SHOWED.search(t.text) and len(picked) >= 3:
                    showed = k
                    break
            if showed is None:
                continue
            output = _compose(sents, picked)
            if len(output) > MAX_CHARS:
                continue
            done.add(name)
            ask = pick(name, _CASE_ASKS).format(name=name)
            passage = " ".join(t.text for t in sents[picked[0] : picked[-1] + 1])
            row = make_row(ask, "", output, "case_study", by_index[s.chunk].source(book))
            out.append(Story(row, passage, s.chunk, name.split()[-1]))
    return out


# ---------------------------------------------------------------------------------- theories

_PROPOSED = re.compile(
    r"^(?:In (?:the )?(?:\d{4}s?|[a-z]+ \d{4}), )?"
    r"(?P<who>(?:[A-Z][a-z]+ )?[A-Z][a-zü]+(?:-[A-Z][a-z]+)?)"
    r"(?: \((?:1[89]|20)\d\d\))?(?: (?:was|is) an? [\w -]{3,60}? who)? (?:later |also |first )?"
    r"(?P<verb>proposed|developed|introduced|"
    r"put forth|formulated|devised|created)(?P<also> and refined)? "
    r"(?P<det>a|an|the|his|her|another) (?P<name>(?:[\w’'-]+ ){0,3}?(?:theory|model|hierarchy)"
    r"(?: of [a-z][\w-]*(?: (?!(?:that|which|who|in|to|and|as|because|with)\b)[a-z][\w-]*)?)?)"
    r"(?P<rest>[ ,:].*|\.)$"
)
_SAYS = re.compile(
    r"^[ ,:]+(?:that|which|asserting|describing|suggesting|explaining|in which|"
    r"(?:[\w-]+ ){0,3}(?:components|parts|stages|levels|types|styles)\b)|^\s*:"
)
_THEORY_ASKS = ("Describe the {name} that {who} {verb}.", "What is the {name} that {who} {verb}?")


def theory_stories(
    chunks: Sequence[Chunk],
    people: Mapping[str, str],
    book: str,
    defined: frozenset[str] = frozenset(),
) -> list[Story]:
    """ "Raymond Cattell proposed a theory of intelligence that divided ..." -> "Describe the
    theory of intelligence that Raymond Cattell proposed.", answered with that sentence and
    the sentences after it that go on about the theory (up to three in all). A theory the
    book defines elsewhere (`defined`, term keys) is asked by who proposed it instead."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    seen: set[str] = set()
    for _, sents in _section_sentences(chunks):
        for i, s in enumerate(sents):
            # "While the theories ... described earlier ..., Abraham Maslow proposed ...": the
            # main clause reads on its own.
            main = re.sub(r"^(?:While|Although|Whereas|Though)\b.*?, (?=[A-Z])", "", s.text)
            if main != s.text:
                s = Sentence(main[:1].upper() + main[1:], s.para, s.chunk)
                sents = [*sents[:i], s, *sents[i + 1 :]]
            m = _PROPOSED.match(_ASIDE.sub("", s.text))
            if m is None or not _usable(s, True) or m.group("who").split()[0] in _NOT_WHO:
                continue
            name = m.group("name")
            if name.split()[0] in ("new", "brand", "concept"):
                continue
            says = _SAYS.match(m.group("rest"))
            picked = [i]
            for k in range(i + 1, min(i + 3, len(sents))):
                t = sents[k]
                if t.para != s.para or not _usable(t, True):
                    break
                if (
                    not re.match(
                        r"^(?:He|She|They|The theory|This theory|The model|This model|These|"
                        r"According to (?:this|the) (?:theory|model)|In (?:this|the) (?:theory|"
                        r"model))\b",
                        t.text,
                    )
                    and m.group("who").split()[-1] not in t.text[:40]
                ):
                    break
                picked.append(k)
            if says is None and len(picked) == 1:
                continue  # the theory named, nothing said of it
            who = m.group("who")
            who = people.get(who, who)
            verb = m.group("verb") + (m.group("also") or "")
            key = f"{term_key(name)} {who}"
            if key in seen:
                continue
            seen.add(key)
            if m.group("det") == "the" and term_key(name) in defined:
                ask = f"Who {verb} the {name}, and what does it propose?"
            else:
                ask = pick(name + who, _THEORY_ASKS).format(name=name, who=who, verb=verb)
            output = _compose(sents, picked)
            passage = " ".join(t.text for t in sents[picked[0] : picked[-1] + 1])
            row = make_row(ask, "", output, "theory", by_index[s.chunk].source(book))
            out.append(Story(row, passage, s.chunk, who.split()[-1]))
    return out


# "In one study, 334 participants completed questionnaires ... (Cohen et al., 2003)": a study
# the book introduces without its authors, cited at the end of its sentences.
_UNNAMED = re.compile(
    r"^(?:[A-Z][a-z]+, )?[Ii]n (?:one|a|an|another) (?!case\b)(?:[\w-]+ ){0,2}?(?:study|"
    r"experiment)\b(?: (?:of|on|involving) [^,]{3,80})?,"
)
# After a study's procedure, a comparison is what it found ("sucked more strongly", "lower
# blood pressure", "22% lower").
_COMPARED = re.compile(
    r"\b(?:more|less|higher|lower|greater|poorer|stronger|weaker|better|worse|fewer)\b"
)
_PAST = re.compile(r"\b(?:was|were|had been) [a-z]+(?:ed|en|wn|ld|ght)\b|\b[a-z]{3,}ed\b")


def unnamed_stories(chunks: Sequence[Chunk], book: str, covered: frozenset[str]) -> list[Story]:
    """ "In one study, ..." told in one to four sentences of a paragraph: what was done (the
    opening sentence, in the past tense), what was found (the first finding after it, or in
    it), and one citation among them, which names the study in the question."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    seen: set[tuple[str, str]] = set()
    for _, sents in _section_sentences(chunks):
        for i, s in enumerate(sents):
            if not _UNNAMED.match(s.text) or not _usable(s) or not _PAST.search(s.text):
                continue
            picked = [i]
            rest = s.text[s.text.find(",") :]
            found = i if _RESULT.search(rest) or _COMPARED.search(rest) else None
            k = i + 1
            while found is None and k < min(i + 4, len(sents)) and sents[k].para == s.para:
                t = sents[k]
                if not _usable(t) or _DEICTIC.search(t.text) and picked[-1] != k - 1:
                    break
                picked.append(k)
                if _RESULT.search(t.text) or _COMPARED.search(t.text):
                    found = k
                k += 1
            if found is None:
                continue
            cites = {
                _who(m)
                for k in picked
                for m in _CITED.finditer(sents[k].text)
                if m.group("who2") and _who(m) is not None
            }
            if len(cites) != 1:
                continue  # no one to name the study by, or several studies
            named = cites.pop()
            assert named is not None
            who, year = named
            if who.split()[0] in covered or (who, year) in seen:
                continue
            seen.add((who, year))
            output = _compose(sents, picked)
            if len(output) > MAX_CHARS:
                continue
            ask = pick(who + year, _ONE_ASKS).format(who=who, year=year)
            row = make_row(ask, "", output, "experiment", by_index[s.chunk].source(book))
            passage = " ".join(sents[k].text for k in picked)
            out.append(Story(row, passage, s.chunk, who.split()[0]))
    return out


# One sentence that tells a whole study: "In a study of over 450,000 U.S. residents surveyed by
# the Gallup Organization, Kahneman and Deaton (2010) found that well-being rises with ...".
_SAMPLE = re.compile(
    r"\b(?:stud(?:y|ies)|survey|experiment|meta-analysis) of (?:over |more than |nearly |almost |"
    r"about |approximately )?\d[\d,]* (?:[\w-]+ ){0,4}?(?:people|participants|adults|men|women|"
    r"children|students|adolescents|infants|babies|patients|employees|workers|residents|"
    r"individuals|couples|families|twins|parents|officers|teens|subjects|[A-Z][a-z]+ns|"
    r"[A-Z][a-z]+ers)\b"
)
_ONE_FOUND = re.compile(
    r"\b(?:found|showed|revealed|reported|demonstrated|discovered|concluded|identified) "
    r"(?:that\b|(?:[\w-]+ ){1,6}(?:as|to be)\b)"
)


def finding_stories(chunks: Sequence[Chunk], book: str, covered: frozenset[str]) -> list[Story]:
    """A study the book tells in one sentence with who (its citation), what was done (the
    people studied, how) and what was found; asked by its citation, answered with the
    sentence (its citation, now in the question, left out)."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    seen: set[tuple[str, str]] = set()
    for _, sents in _section_sentences(chunks):
        for s in sents:
            found = _ONE_FOUND.search(s.text)
            if found is None or not _usable(s) or _LEANS.match(s.text):
                continue
            done = _SAMPLE.search(s.text)
            if done is None or done.start() > found.start():
                continue
            cites = [
                m
                for m in _CITED.finditer(s.text)
                if _who(m) is not None
                # "the Gallup Organization, Kahneman and Deaton (2010)": not one name list
                and not re.search(r"\b[A-Z][a-z]+ $", s.text[: m.start()])
                and not re.match(r"[A-Z]\w+ [A-Z]\w+,", m.group(0))  # "Gallup Organization, ..."
            ]
            if len(cites) != 1:
                continue  # no one, or several studies at once
            named = _who(cites[0])
            assert named is not None
            who, year = named
            if who.split()[0] in covered or (who, year) in seen:
                continue
            seen.add((who, year))
            output = _clean(s.text, first=False)
            ask = pick(who + year, _ONE_ASKS).format(who=who, year=year)
            row = make_row(ask, "", output, "experiment", by_index[s.chunk].source(book))
            out.append(Story(row, s.text, s.chunk, who.split()[0]))
    return out


_ONE_ASKS = (
    "Describe the study by {who} ({year}): what was done, and what was found?",
    "What did the study by {who} ({year}) examine, and what did it find?",
)


# "Ainsworth identified three types of parent-child attachments: secure, avoidant, and
# resistant." -> "What three types of parent-child attachments did Mary Ainsworth identify?"
_NUMBERS = "two|three|four|five|six|seven|eight"
_KINDS = (
    r"kinds|types|stages|levels|components|categories|factors|dimensions|styles|phases|forms|"
    r"parts|processes|elements"
)
_CLASSIFIED = re.compile(
    r"^(?:(?:In (?:the )?\d{4}s?|Based on [^,]{5,80}|Through (?:his|her|their) [a-z]+), )?"
    r"(?P<who>(?:[A-Z][a-z]+ )?[A-Z][a-z]+(?: (?:and|&) [A-Z][a-z]+)?)(?: \((?:1[89]|20)\d\d\))? "
    r"(?:also |further |later |first )?(?P<verb>identified|proposed|described|distinguished|"
    r"categorized|organized|divided|classified|outlined|realized that an? [a-z]+ has)"
    r"(?: (?P<what>(?:the|an?|his|her|their|these) [\w -]{2,40}?) into)? "
    r"(?P<n>" + _NUMBERS + r") (?P<adj>(?:[a-z-]+ )?)(?P<kind>" + _KINDS + r")"
    r"(?P<of> (?:of|to (?:our|the|a person’s|a person's)) [a-z][\w -]{2,50}?)?"
    r"(?: (?:that|which) [^:]{3,80})?:\s*(?P<list>[^:]{3,300})"
)
_VERB_BASE = {
    "identified": "identify",
    "proposed": "propose",
    "described": "describe",
    "distinguished": "distinguish",
    "categorized": "categorize",
    "organized": "organize",
    "divided": "divide",
    "classified": "classify",
    "outlined": "outline",
}
# "The relaxation response technique ... consists of four components: sitting upright ..."
_STEPS_OF = re.compile(
    r"^(?:The |A |An )?(?P<x>[\w -]{3,60}? (?:technique|method|therapy|procedure|training|"
    r"program|intervention))\b[^:]{0,120}? (?:consists of|involves|includes|has) (?P<n>"
    + _NUMBERS
    + r") (?:main |basic |key )?(?P<kind>components|steps|phases|parts|stages)\b[^:]{0,40}:"
    r"\s*(?P<list>[^:]{10,600})$"
)


def classification_stories(
    chunks: Sequence[Chunk], people: Mapping[str, str], book: str
) -> list[Story]:
    """The kinds, stages or parts a named person set out ("What three kinds of models did
    Albert Bandura identify?"), as theory rows; the components or steps of a technique ("What
    are the four components of the relaxation response technique?"), as how_to rows. The
    answer is the book's sentence with its list, cut at a second colon."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    for _, sents in _section_sentences(chunks):
        for s in sents:
            text = _ASIDE.sub("", s.text)
            text = re.sub(r"\s+([,.;:])", r"\1", text)
            if not _usable(s, True, longest=700, generic_you=True):  # a list of steps runs long
                continue
            m = _CLASSIFIED.match(text)
            steps = None if m else _STEPS_OF.match(text)
            if steps and re.search(r"\b(?:is|are|was|were)\b", steps.group("x")):
                steps = None  # "The method of loci is a memory technique that ...": no name
            if m is not None:
                who = m.group("who")
                if who.split()[0] in _NOT_WHO or who in ("Researchers", "Psychologists"):
                    continue
                who = people.get(who, who)
                n, kind = m.group("n"), m.group("kind")
                adj = m.group("adj")
                # "three components to our personality" asks "of personality"
                of = re.sub(
                    r"^to (?:our|the|a person’s|a person's) ", "of ", (m.group("of") or "").strip()
                )
                verb = m.group("verb")
                if verb.startswith("realized"):
                    continue  # "realized that an organism has two types of responses": no act
                base = _VERB_BASE[verb]
                if m.group("what"):
                    what = re.sub(r"^(?:his|her|their|these) ", "the ", m.group("what"))
                    ask = f"Into which {n} {adj}{kind} did {who} {base} {what}?"
                elif of or adj:
                    ask = f"What {n} {adj}{kind}{' ' + of if of else ''} did {who} {base}?"
                else:
                    continue  # "three components to our personality": of what?
                category = "theory"
                output = text[: m.end()]
                lead = re.match(r"(?:Based on|Through) [^,]*, ", output)
                if lead and _DEICTIC.search(lead.group(0)):
                    # "Based on these observations, ...": the observations are not in the row.
                    output = output[lead.end() :]
            elif steps is not None:
                x = steps.group("x").strip()
                x = x[0].lower() + x[1:] if not x[:2].isupper() else x
                ask = f"What are the {steps.group('n')} {steps.group('kind')} of the {x}?"
                category = "how_to"
                output = text[: steps.end()]
            else:
                continue
            output = _sentence_end(output.rstrip(" ,;"))
            row = make_row(ask, "", output, category, by_index[s.chunk].source(book))
            out.append(Story(row, s.text, s.chunk, ""))
    return out


# "According to Freud, unacceptable urges ... are kept in our unconscious ..." -> "What did
# Sigmund Freud propose about unacceptable urges and desires?"; "According to the drive
# theory of motivation, deviations from homeostasis ..." -> "What does the drive theory of
# motivation propose?".
_ACCORDING = re.compile(
    r"^(?:In (?P<view>[A-Z][a-z]+)(?:’s|'s) view|According to "
    r"(?:(?P<theory>(?:the )?(?:[A-Z][\w’'-]*(?:’s|'s) )?(?:[\w’'-]+ ){0,4}?"
    r"(?:theory|model|hypothesis|concept of [a-z][\w -]{2,30}?)"
    r"(?: of [a-z][\w-]*(?: [a-z][\w-]*){0,2}?)?)|(?P<who>(?:[A-Z][a-z]+ )?[A-Z][a-z]+"
    r"(?: and [A-Z][a-z]+)?)(?: \((?:1[89]|20)\d\d\))?)), (?P<claim>.{20,})$"
)
# A study reported, not a view held: "According to Cialdini (2008), men who viewed ... rated".
_REPORTS_STUDY = re.compile(
    r"\b(?:was|were|had|did|found|showed|reported|rated|viewed|observed|tested|asked)\b"
)
_ABOUT = re.compile(
    r"^(?P<about>(?:the |a |an )?[a-z][\w’'-]*(?: [a-z][\w’'-]*){0,3}?)"
    r"(?=,| (?:is|are|was|were|can|could|cannot|should|must|will|would|may|might|has|have|"
    r"had|do|does|did|develops?|occurs?|acts?|remains?|needs?|progress(?:es)?|reflect(?:s|ed)?|"
    r"determines?|experiences?|learns?|depends?|involves?|results?)\b)"
)


def according_stories(chunks: Sequence[Chunk], people: Mapping[str, str], book: str) -> list[Story]:
    """What a named theory or a named theorist holds, as the book reports it with "According
    to X, ...": a theory row answered with that sentence. Not "According to this theory"
    (which?), a study ("According to Karau and Williams (1993), college students were ..."),
    or a claim about "we" or "our" with no subject a question can name."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    seen: set[str] = set()
    for _, sents in _section_sentences(chunks):
        for i, s in enumerate(sents):
            text = re.sub(r"\s+([,.;:])", r"\1", _ASIDE.sub("", s.text))
            m = _ACCORDING.match(text)
            if m is None or not _usable(s, True) or _DEICTIC.search(m.group("claim")[:60]):
                continue
            if m.group("claim").startswith(("“", '"')):
                continue  # a quotation
            if m.group("theory"):
                theory = m.group("theory")
                if re.match(r"(?:the )?(?:this|that|their|his|her|its)\b", theory):
                    continue
                shown = theory if theory.startswith("the ") or theory[:1].isupper() else theory
                if not shown.startswith("the ") and not re.search(r"(?:’s|'s) ", shown):
                    shown = f"the {shown}" if " of " in shown else shown
                ask = f"What does {shown} propose?"
                key = term_key(theory)
            else:
                who = m.group("who") or m.group("view")
                year = re.match(r"[^,]*\((?P<y>(?:1[89]|20)\d\d)\),", s.text)
                if who.split()[0] in _NOT_WHO:
                    continue
                if year and _REPORTS_STUDY.search(m.group("claim")[:80]):
                    continue  # "According to Cialdini (2008), men who viewed ...": a study
                about = _ABOUT.match(m.group("claim"))
                if about is None:
                    continue
                subject = about.group("about")
                words = subject.split()
                if words[0] in _NOT_ABOUT or set(words) & {"who", "which", "that", "our", "we"}:
                    continue  # "a person who ...": no subject a question can name
                if re.fullmatch(
                    r"(?:the |a |an )?(?:individual|person|people|boy|girl|child|one)", subject
                ):
                    continue  # "What did Freud propose about the boy?": which boy?
                full = people.get(who, who)
                who = full if full.split()[0] not in _NOT_GIVEN else who  # not "Then Watson"
                if year and " " not in who.replace(" and ", "_"):
                    who = f"{who} ({year.group('y')})"  # "Goldstone and Kersten (2003)"
                ask = f"What did {who} propose about {subject}?"
                key = f"{who} {subject}"
            if key in seen:
                continue
            seen.add(key)
            output, passage = _sentence_end(text), s.text
            nxt = sents[i + 1] if i + 1 < len(sents) else None
            goes_on = nxt and re.match(r"^(?:These|This|Such) ([a-z]{3,})\b", nxt.text)
            if (
                nxt
                and goes_on
                and nxt.para == s.para
                and _usable(nxt, True)
                and goes_on.group(1)[:5] in m.group("claim").casefold()
            ):
                # "... deviations from homeostasis create physiological needs. These needs
                # result in drive states that ...": the claim goes on; cut, it is half a theory.
                output = f"{output} {_clean(nxt.text, first=True)}"
                passage = f"{s.text} {nxt.text}"
            row = make_row(ask, "", output, "theory", by_index[s.chunk].source(book))
            out.append(Story(row, passage, s.chunk, ""))
    return out


# "There are two types of personality tests: self-report inventories and projective tests."
_TWO_KINDS = re.compile(
    r"\b[Tt]wo (?:main |basic |broad |fundamental |major |distinct )?(?:types|kinds|forms|"
    r"categories|classes) of (?P<what>[a-z][\w -]{2,40}?)(?: [^:]{0,60})?(?::| are)\s*(?:the )?"
    r"(?P<a>[a-z][\w -]{2,50}?)(?: \([^)]*\))?,? (?:and|or|versus) (?:the )?"
    r"(?P<b>[a-z][\w -]{2,50}?)(?: \([^)]*\))?\.?$"
)


# "Below, we discuss two kinds of ...": what the text will go on to, not two kinds it sets
# against each other.
_ROADMAP = re.compile(r"\b(?:[Ww]e|[Bb]elow|[Nn]ext)\b")


def kinds_pairs(
    chunks: Sequence[Chunk], plan: BookPlan, style: TermStyle, book: str
) -> list[Story]:
    """The two kinds of something the book names in one sentence, both terms it defines:
    "How do self-report inventories differ from projective tests?", answered with the two
    definitions (the book sets them side by side)."""
    by_index = {c.index: c for c in chunks}
    out: list[Story] = []
    seen: set[frozenset[str]] = set()
    for _, sents in _section_sentences(chunks):
        for s in sents:
            m = _TWO_KINDS.search(_ASIDE.sub("", s.text))
            if m is None or _ROADMAP.search(s.text):
                continue
            ka, kb = term_key(m.group("a")), term_key(m.group("b"))
            if ka not in plan.definitions or kb not in plan.definitions or ka == kb:
                continue
            if frozenset((ka, kb)) in seen:
                continue
            seen.add(frozenset((ka, kb)))
            (_, da, pa), (_, db, pb) = plan.definitions[ka], plan.definitions[kb]
            row = pair_row(da, db, style, by_index[s.chunk].source(book))
            passage = " ".join(dict.fromkeys((s.text, pa, pb)))
            out.append(Story(row, passage, s.chunk, ""))
    return out


def story_candidates(
    chunks: Sequence[Chunk],
    researchers: frozenset[str],
    people: Mapping[str, str],
    book: str,
    covered: frozenset[str] = frozenset(),
    defined: frozenset[str] = frozenset(),
) -> dict[int, list[Candidate]]:
    """Every story row, by the chunk it is made in."""
    out: dict[int, list[Candidate]] = {}
    by_index = {c.index: c for c in chunks}
    stories = [
        *study_stories(chunks, researchers, people, book, covered),
        *case_stories(chunks, book, covered),
        *theory_stories(chunks, people, book, defined),
        *classification_stories(chunks, people, book),
        *according_stories(chunks, people, book),
    ]
    told = frozenset(st.who for st in stories) | covered
    stories.extend(finding_stories(chunks, book, told))
    told = told | frozenset(st.who for st in stories)
    stories.extend(unnamed_stories(chunks, book, told))
    for st in stories:
        c = by_index[st.chunk]
        section = " > ".join(t for t in (c.chapter, c.section) if t)
        out.setdefault(st.chunk, []).append(
            Candidate(st.row, section, st.passage, ("composed from the book's sentences",))
        )
    return out


def with_stories(
    plan: BookPlan,
    chunks: Sequence[Chunk],
    book: str,
    min_paragraph: int,
    style: TermStyle | None = None,
) -> BookPlan:
    """The plan with the story rows added to the chunks they are made in. A study the rules
    already report from one paragraph (study_rows) is not told again."""
    covered: set[str] = set()
    for c in chunks:
        if c.glossary:
            continue
        for b in c.blocks:
            if b.kind != "prose":
                continue
            for row in study_rows(b.text, "", min_paragraph, plan.researchers, plan.full_names):
                if (
                    critique(repair(Candidate(row, "", ""))) is None
                ):  # a row the critic drops covers none
                    covered.update(re.findall(r"\b[A-Z][a-z]{2,}\b", row["instruction"]))
    stories = story_candidates(
        chunks,
        plan.researchers,
        plan.full_names,
        book,
        frozenset(covered),
        frozenset(plan.chosen),
    )
    later = {k: list(v) for k, v in plan.later.items()}
    for index, found in stories.items():
        later.setdefault(index, []).extend(found)
    if style is not None:
        by_index = {c.index: c for c in chunks}
        for st in kinds_pairs(chunks, plan, style, book):
            c = by_index[st.chunk]
            section = " > ".join(t for t in (c.chapter, c.section) if t)
            note = ("the two kinds the book names in one sentence, with their definitions",)
            later.setdefault(st.chunk, []).append(Candidate(st.row, section, st.passage, note))
    return replace(plan, later=later)
