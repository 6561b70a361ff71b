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
    'Explain the concept of "{bare}".',
)
_DEFINE_PLURAL = ("What are {t}?", *_DEFINE[1:])
# Glossary rows ask differently: a term defined in the text and in the glossary gives two
# rows (the text's fuller wording and the glossary's short one), not two copies of a question.
_GLOSSARY = (
    'Define the term "{bare}".',
    'Give a short definition of "{bare}".',
    'Define "{bare}" in one sentence.',
)

# The verb that makes a term-first sentence a definition, right after the term.
_LEADS = re.compile(
    r"^\s*(?:\([^)]{1,40}\)\s*)?,?\s*(?:(?:also|sometimes) (?:called|known as) [^,]{1,50},\s*)?"
    r"(?:is|are|(?:is|are|can be) defined as|refers? to|occurs? when|means?|involves?|"
    r"describes?)\b"
)
# "... is called X", not "... named the malleus, incus, and the X" (one of a list).
_NAMING = re.compile(
    r"\b(?:called|termed|known as|named|referred to as)\b(?:(?!\band\b)[^.;:,]){0,60}$", re.I
)
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
    r"in other words|also|so|but|and|finally|first|second|third|next|then|instead|in fact|"
    r"indeed|of course|"
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
    "another its two three four five six several additional various certain "
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
    shape: str = ""  # how the sentence was made when the builder wrote it ("gloss: clause")
    how: str = "text"  # text (the book's sentence) | rewritten | named | glossary


def good_term(term: str) -> bool:
    words = term.split()
    if not words or len(term) > 60 or len(words) > 6 or re.search(r"[,;!?]", term):
        return False  # "Rehearse, rehearse, rehearse": a slogan, not a term
    # "This is a ...", "The study is a ...", "Fear and anxiety are ...": a clause or a list.
    if words[0].casefold() in _NOT_TERMS or any(w.casefold() in _CLAUSE_WORDS for w in words):
        return False
    return any(c.isalpha() for c in term)


_SECOND_DEFINITION = re.compile(
    r"(?:;|,\s+(?:and|while|whereas))\s+(?:(?!(?:that|which|who)\b)[\w-]+\s+){1,3}"
    r"(?:is|are|refers? to)\s"
)


def tidy(sentence: str) -> str:
    """Asides that point elsewhere removed; a leading "In contrast," dropped; a second
    definition run on after ", and" cut ("X is ..., and Y is ..." -> "X is ...")."""
    text = _ASIDE.sub("", sentence).strip()
    second = _SECOND_DEFINITION.search(text)
    if second and "," in text[max(0, second.start() - 30) : second.start()]:
        second = None  # "administration, scoring, and interpretation ... is": a list, not a term
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
        # "It is relatively easy to ...": an expletive "it", not the term.
        and not re.match(
            r"It (?:is|was) (?:\w+ )?(?:easy|hard|important|possible|impossible|difficult|"
            r"likely|unlikely|common|rare|clear|true|necessary|thought|believed|estimated)\b",
            nxt,
        )
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
    # "components of emotion": the head is before "of".
    last = re.split(r" of ", term, maxsplit=1)[0].split()[-1].casefold()
    if " " not in term.strip() and last.endswith("ics"):
        return False  # "semantics", "genetics": one field ("sexual characteristics": many)
    return last.endswith("s") and not last.endswith(("ss", "us", "is", "sis", "as"))


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
    return Definition(term, article, plural, (tidy(sentence),), how="rewritten")


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
            named_subject = re.search(
                r",\s+(?:known as|called|termed|referred to as)(?:\s+(?P<art>the))?\s*$", before
            )
            verb_after = re.match(
                r"^,\s+(?P<verb>is|are)\s+(?=(?:a|an|the)\s|(?<=are )[a-z]+s\b(?<!ly))", after
            )
            if named_subject and verb_after:
                # "The most prominent sulcus, known as the X, is the deep groove that ...": the
                # sentence defines X under another name; said with X as its subject.
                the = "The " if named_subject.group("art") else ""
                name = term if the else term[:1].upper() + term[1:]
                sentence = f"{the}{name} {after[verb_after.start('verb') :]}"
                out_named = (tidy(sentence),)
                if readable(out_named):
                    article = "the" if the else article
                    plural = verb_after.group("verb") == "are"
                    found.append(Definition(term, article, plural, out_named, how="text"))
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
                elif (
                    re.match(
                        r"(?i)^\W*(?:another|one|a second|the other|the second|this|these)\b",
                        re.split(r"[—–;:,]", clean_markdown(before))[-1].strip(),
                    )
                    or len(clean_markdown(before)) < 60
                ):
                    continue  # "another major theory is known as X": names it, says nothing
                sentences = [*start, plain[i]]
            elif (
                _LEADS.match(after)
                and len(re.sub(r"(?i)\b(?:a|an|the)\s*$", "", lead).strip()) == 0
                # "X are typically documented ...": a remark about X, not what X is.
                and not re.match(r"\s*(?:is|are)\s+(?:\w+ly|\w+ed)\b(?<!\bdefined)", after)
            ):
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
                how = "named" if _NAMING.search(before) else "text"
                found.append(Definition(term, article, _plural(term, after), out, how=how))
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
        strong = "defined" in m.group("verb") or m.group("verb").startswith("refer")
        how = "sentence" if strong else "sentence-weak"
        found.append(Definition(term, article, plural, (sentence,), how=how))
    return found


_MASS = word_set(
    "use abuse care support advice help damage harm pain training treatment "
    "learning knowledge behavior behaviour information memory research evidence thinking "
    "awareness attention perception cognition pressure"
)


def glossary_entry(line: str, style: TermStyle | None = None) -> Definition | None:
    """ "Term: definition", "Term - definition", "**Term** definition" (a glossary line),
    turned into a sentence from the gloss's own shape (see `gloss_sentence`); None when the
    shape cannot be told, rather than a guess ("Rehearsal is an allows ...")."""
    made_or_why = glossary_attempt(line, style)
    return made_or_why if isinstance(made_or_why, Definition) else None


def glossary_split(line: str) -> tuple[str, str] | None:
    """(term, gloss) of a glossary line, or None when the line has no such shape."""
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
    return term, body


def glossary_attempt(line: str, style: TermStyle | None = None) -> Definition | tuple[str, str]:
    """The glossary line's definition, or (term, why not): a line that makes no row is counted
    under its reason, never skipped in silence."""
    split = glossary_split(line)
    if split is None:
        return "", "not a glossary line"
    term, body = split
    if not good_term(term):
        return term, "glossary: not a term"
    if len(body) < 10:
        return term, "glossary: gloss too short"
    made = gloss_sentence(term, body, style)
    if made is None:
        return term, "glossary: gloss shape does not make a sentence"
    sentence, shape = made
    how = "glossary-weak" if shape == _REFERS else "glossary"
    return Definition(term, "", _plural(term), (sentence,), glossary=True, shape=shape, how=how)


# Glossary terms that are verbs ("generalize: inferring that ..."): no "X is ..." reads right.
_VERB_TERM = re.compile(r"^[a-z]+(?:ize|ise|ate|ify)$")
_ORDINAL = word_set("first second third fourth fifth sixth seventh eighth last final")
# Head nouns that take "the" before "of ..." ("the accuracy of a given result").
_ABSTRACT = re.compile(r"(?:ity|acy|ness|ment|ion|ance|ence|makeup|ure|ship|hood|ing)$")
# Heads that take "a" before "of ...": "a type of", "a strip of cortex"; other heads take
# "the" ("the height of a wave", "the genetic makeup of an individual").
_A_OF = word_set(
    "type form kind set series group class collection state process part strip pattern method "
    "area region branch subfield field phase period stage sequence piece way sort network "
    "system structure subtype variety category combination measure number mode style graph "
    "chart curve list model test scale theory collection cluster body band bundle layer"
)
# "-ing" nouns that are counted ("a controlled setting"), unlike "learning" or "processing".
_COUNT_ING = word_set(
    "setting building feeling finding meaning being painting recording beginning ending saying "
    "rating ruling hearing reading drawing dwelling offspring string thing"
)
_MASS_SUFFIX = re.compile(r"(?:ness|(?<!an)ism|ing)$")
_HEAD_END = re.compile(
    r"[,;(]|\s(?:that|which|who|whom|whose|of|in|to|for|by|with|where|when|from|on|at|about|"
    r"between|across|during|within|among|as|toward|towards|into|through|after|before|over|per|"
    r"under|against|without|used|made|based|characterized|exhibited|given|designed|involved|"
    r"caused|brought|produced|associated|related|focused|resulting|including|such)\b"
)
_DETERMINER = word_set("a an the one's an individual's all any each some most")
# Second words that make the gloss a clause: "emotions arise from ...", "results are ...".
_CLAUSE_VERB = word_set(
    "consist consists dwindle dwindles depend depends remain remains result results "
    "is are was were can may will must might tend tends become becomes arise arises occur "
    "occurs develop develops lead leads cause causes affect affects influence influences "
    "respond responds cannot should shall could would does did"
)
_SUBORDINATE = word_set("when if where whereby because while although once whenever")
_FINITE = re.compile(
    r"\b(?:is|are|was|were|has|have|had|may|can|will|must|might|could|should|would|becomes?|"
    r"tends?|occurs?|do|does|appears?|seems?)\b"
)
# A later part of a gloss is kept when it is a sentence of its own: it has a main verb.
_PART_VERB = re.compile(
    r"\b(?:is|are|was|were|has|have|may|can|will|must|learn|develop|begin|become|think|use|"
    r"understand|grow|show|tend|occur|do|does)s?\b"
)
# An adverb and a verb ("suddenly dies"); adjectives in "-ly" ("early stages") are not.
_ADVERB_VERB = re.compile(
    r"\b(?!(?:early|only|daily|likely|unlikely|family|friendly|elderly|lonely|costly|weekly|"
    r"monthly|yearly|holy|ugly|bodily|orderly|timely|lively|deadly)\b)[a-z]{3,}ly "
    r"(?!is\b|as\b|has\b|its\b|this\b)[a-z]{2,}(?<![su])s\b"
)
_IRREGULAR_PARTICIPLES = word_set("made built known found held seen taken given driven shown")
# A person as the gloss's genus ("adult with a BMI of 30 or higher") fits a term naming a
# person ("model", "bystander"), not an adjective ("obese") or a disorder.
_PERSON_GENUS = word_set("individual adult person people child someone")
_NOT_A_PERSON = word_set("disorder disease syndrome condition illness diagnosis state")
_PARTICIPLE_FIRST = re.compile(
    r"^[\w-]+(?: [\w-]+){0,2} (?!is\b)[a-z]+ed (?:at|by|to|on|in|for|with|from|toward)\b"
)
# Verbs a gloss opens with whose object is a claim: later parts after ";" are more of it.
_CLAIM_VERBS = word_set(
    "assumes asserts suggests states proposes holds argues posits claims believes says"
)
_LAW_HEAD = re.compile(r"\b(?:law|principle|rule|hypothesis|theory|model|effect)s?\b", re.I)


# Words a gloss may add to a term and still say nothing about it ("second stage of sleep").
_EMPTY_WORDS = word_set(
    "first second third fourth fifth final last stage type kind form part phase step state the a "
    "an of in or and"
)


# A later part of a gloss that tells the term from another one.
_CONTRAST_PART = re.compile(
    r"\bonly (?:important )?difference\b|\brather than\b|\bunlike\b|\bwhereas\b|"
    r"\bin contrast\b|\bdiffers? from\b",
    re.IGNORECASE,
)
_TRAIT_LINK = r"(?:characterized|marked|defined|distinguished) by|involving|consisting of"


def _echoes_term(term: str, gloss: str) -> bool:
    """ "binge eating disorder: type of eating disorder characterized by binge eating ...":
    the gloss's distinguishing trait is the term's own words, so it says nothing new."""
    words = re.sub(r"\s*\([^)]*\)", "", term).split()
    if len(words) < 2:
        return False
    modifier = re.escape(" ".join(words[:-1]))
    return bool(
        re.search(rf"\b(?:{_TRAIT_LINK}) (?:(?:a|an|the) )?{modifier}\b", gloss, re.IGNORECASE)
    )


def _circular(term: str, gloss: str) -> bool:
    """The gloss only restates its term: every word is the term's or an empty one."""
    said = {w.casefold() for w in re.findall(r"[\w’'-]+", term)}
    words = [w.casefold() for w in re.findall(r"[\w’'-]+", gloss)]
    return bool(words) and all(w in said or w in _EMPTY_WORDS for w in words)


# A named instrument takes "the" ("the Thematic Apperception Test"); only a capitalised name.
_NAMED_INSTRUMENT = re.compile(
    r"^(?:[A-Z][\w’'-]* ){1,5}(?:Inventory|Test|Scale|Questionnaire|Survey|Index)(?: \([^)]*\))?$"
)
_LEADING_LIST = re.compile(r"^(?:[\w-]+, )+(?:and/or|and|or) ")
_NAMED_THEORY = re.compile(r"\b(?:theory|model)$", re.IGNORECASE)
_QUANTIFIERS = word_set("multiple several many various both few numerous two three four")
_NOT_NOUN_START = word_set("things thing how what why where when whether who")
# The shape of a gloss that only "The term X refers to ..." fits: weaker than the book's own
# sentence about the term (see rules._RANK).
_REFERS = "gloss: noun phrase (refers to)"


def _gloss_head(body: str) -> str:
    """The head noun of a gloss that is a noun phrase: "forebrain structure that ..." ->
    "structure"; "" when the phrase is cut off at once."""
    head = _HEAD_END.split(body, maxsplit=1)[0].strip()
    return head.split()[-1].casefold() if head.split() else ""


def _before_relative(text: str) -> str:
    """The words before a relative or an interrogative clause: where a gloss's own verb is."""
    return re.split(r"\b(?:that|which|who|whom|whose|what|when|where|how|whether|if)\b", text)[0]


def _claim(name: str, lead: str, body: str, law: bool) -> str:
    """A gloss that states a claim, made under the term's name: "According to the law of
    effect, ..." for a named law or theory, "In X, ..." otherwise."""
    intro = "According to" if law else "In"
    if law and lead == name and not re.search(r"\btheor(?:y|ies)\b", name, re.I):
        lead = f"the {name}"  # "according to the facial feedback hypothesis"
    return f"{intro} {lead}, {body}"


def gloss_sentence(term: str, gloss: str, style: TermStyle | None) -> tuple[str, str] | None:
    """A glossary gloss made into a sentence about its term, decided by the gloss's shape:

    determiner first ("a legal document ...")      -> "X is a legal document ..."
    verb first ("secretes sexual hormones ...")     -> "X secretes sexual hormones ..."
    gerund first ("rewarding successive ...")       -> "X is rewarding successive ..."
    clause ("results are predicted ...")            -> "In X, results are predicted ..."
                                                        ("According to X, ..." for a law)
    noun phrase ("strip of cortex ...")             -> "X is a strip of cortex ...", with "the"
                                                        for "the accuracy of ...", none for a
                                                        mass noun, "are" for a plural term
    Returns (sentence, shape), or None when the shapes disagree (a singular term glossed with a
    plural, a verb as the term) or cannot be told: the row is better missing than wrong.
    Later parts after ";" are kept only when they are sentences themselves."""
    parts = [p.strip() for p in re.split(r";\s+", gloss) if p.strip()]
    body = parts[0]
    opener = body.split()[0] if body.split() else ""
    # "Stanford University conducted ...": a sentence with its own subject, or a name the
    # builder cannot place in a sentence of its own.
    words0 = body.split()
    # "Hans Selye’s three-stage model ...": a name's possessive opens the gloss; keep it as is.
    named_possessive = (
        opener[:1].isupper()
        and len(words0) > 1
        and words0[1][:1].isupper()
        and words0[1].endswith(("’s", "'s"))
    )
    if (
        opener[:1].isupper()
        and not named_possessive
        and not opener.endswith(("’s", "'s"))
        and opener.casefold() not in _DETERMINER
        and (
            not re.match(r"[A-Z][a-z]+$", opener)
            or _FINITE.search(body)
            or re.search(r"\b[a-z]+ed\b", body.split(",")[0])
        )
    ):
        return None
    if (
        body[:1].isupper()
        and not body[:2].isupper()
        and not opener.endswith(("’s", "'s"))  # "Gardner’s theory ...": a name
        and not named_possessive
    ):
        body = body[0].lower() + body[1:]
    words = body.split()
    if not words:
        return None
    genus = re.sub(r"^(?:an?|the) ", "", body.casefold()).split()[0]
    if genus in _PERSON_GENUS and (
        term.split()[-1].casefold() in _NOT_A_PERSON
        or style is not None
        and " " not in term
        and style.article(term) not in ("a", "an")
    ):
        return None  # "obese: adult with a BMI of 30 or higher": "obese" is not an adult
    first = words[0].casefold().strip(",;:")
    second = words[1].casefold().strip(",;:") if len(words) > 1 else ""
    plural = _plural(term)
    if _VERB_TERM.match(term.casefold()) and " " not in term:
        return None
    article = style.article(term) if style else ""
    if article in ("a", "an") and " " in term and _NAMED_THEORY.search(term):
        article = ""  # "a social-cognitive theory" somewhere in the book; this one is named
    name = style.display(term) if style else term
    if " " not in term and _ADJ_TERM.search(term.casefold()) and not bare_reads(term):
        return None  # "empirical: grounded in ...": an adjective, no sentence is "X is ..."
    lead = f"{article} {name}" if article and not plural else name
    if (
        not article
        and _LAW_HEAD.search(term)
        and (" of " in name or name[:1].isupper())
        and not re.match(r"(?:Theory|Model) [A-Z]\b", name)  # "Theory X" is a name already
    ):
        lead = f"the {name}"  # "the James-Lange theory of emotion"
        article = "the"
    if not article and not plural and _NAMED_INSTRUMENT.search(name):
        lead = f"the {name}"  # "the Minnesota Multiphasic Personality Inventory (MMPI)"
        article = "the"
    # Without the book's article a count noun cannot lead a sentence ("Prototype is ..."):
    # the term is quoted instead ("The term "prototype" refers to ...").
    quoted = not article and not bare_reads(name)
    verb = "are" if plural else "is"
    law = bool(_LAW_HEAD.search(term))
    if first in _SUBORDINATE or first in ("not", "no", "aka") or first == "one" and second != "of":
        return None  # "when an experiment involved deception, ...": no noun to define by
    words_early = _before_relative(body).split()[:7]
    # A verb, not a noun after "a", "the", "to" ("a need for", "to cause harm").
    early = [
        w
        for k, w in enumerate(words_early)
        if k and words_early[k - 1].strip(",") not in ("to", "a", "an", "the", "of", "for")
    ]
    if (
        first not in _DETERMINER
        and first not in _VERBS
        and not first.endswith(("’s", "'s", "ing"))
        and any(w.strip(",;") in _CLAUSE_VERB for w in early)
        and not quoted
        # "therapeutic orientation aimed at helping people become ...": a noun and its
        # participle; the verb belongs to the phrase after it.
        and not _PARTICIPLE_FIRST.match(body)
    ):
        # "physiological arousal and emotional experience occur at the same time": a clause.
        if lead == name and name[:1].isupper() and not law:
            return None  # "In Fair Housing Code, landlords ...": a name needs its article
        return _sentence_end(_claim(name, lead, body, law)), "gloss: clause"
    if first == "one" or (
        " and " in _HEAD_END.split(body, maxsplit=1)[0]
        and not first.endswith("ing")
        and first not in _VERBS
    ):
        # "one of a class of drugs", "genes and biology": no article of ours fits; "brain and
        # spinal cord" would need one ("the brain ..."), which the gloss does not say.
        if quoted or first != "one" and not (first.endswith("s") or bare_reads(first)):
            head_words = _HEAD_END.split(body, maxsplit=1)[0].strip()
            if (
                len(body) < 40
                or not re.fullmatch(r"[a-z]+ and [a-z]+", head_words)
                or first in _VERBS
                or first in _NOT_NOUN_START
                or first.endswith("s")
            ):
                return None
            # "ageism: prejudice and discrimination toward ...": two nouns, no article of ours
            # fits both, and "refers to" needs none.
            return _sentence_end(f'The term "{name}" refers to {body}'), _REFERS
        if first.endswith(("’s", "'s")) and first not in _DETERMINER and body[:1].islower():
            body = "the " + body  # "therapist’s understanding and ..." needs its article
        sentence, shape = f"{lead} {verb} {body}", "gloss: noun phrase"
        return _sentence_end(sentence), shape
    if second in _CLAUSE_VERB and first not in _DETERMINER and first not in _VERBS:
        if quoted:
            return None
        # "emotions arise from physiological arousal": a claim, made under the term's name.
        sentence, shape = _claim(name, lead, body, law), "gloss: clause"
    elif (
        named_possessive
        or first in _DETERMINER
        or first.endswith(("’s", "'s"))
        and (first != "one’s")
    ):
        if first.endswith(("’s", "'s")) and first not in _DETERMINER and body[:1].islower():
            body = "the " + body  # "nervous system's ability ..." -> "the nervous system's ..."
        if _FINITE.search(_before_relative(body)):
            return None  # "the sound’s frequency is coded ...": a clause, not a noun phrase
        sentence, shape = f"{lead} {verb} {body}", "gloss: noun phrase"
        if quoted:
            sentence = f'The term "{name}" refers to {body}'
    elif (
        first.endswith("s")
        and not first.endswith(("ss", "us", "is", "ics"))
        and first not in _VERBS
        and _FINITE.search(_before_relative(body))
    ):
        # "behaviors followed by ... are more likely ...": a plural subject and its verb.
        if quoted:
            return None
        sentence, shape = _claim(name, lead, body, law), "gloss: clause"
    elif first in _VERBS or (
        first.endswith("s")
        and not plural
        and not first.endswith(("ss", "us", "is", "ics"))
        and (
            second in _DETERMINER
            or second in _OBJECT_START - {"that"}  # "things that ...": a noun, not "states that"
            or _ADJECTIVE.search(second)
        )
    ):
        if plural or quoted:
            return None  # "neurons secretes", "Optic nerve carries": no subject reads right
        sentence, shape = f"{lead} {body}", "gloss: verb phrase"
        claims = [p for p in parts[1:] if p[:1].islower() and _PART_VERB.search(p)]
        if first in _CLAIM_VERBS and claims and len(claims) == len(parts) - 1:
            # "assumes workers are ...; managers must have control ...": every part is what
            # the term assumes, not a sentence of its own ("Managers must ..." cut loose).
            that = [re.sub(r"^that ", "", p) for p in (" ".join(words[1:]), *claims)]
            listed = ", ".join(f"that {p}" for p in that[:-1])
            joined = f"{listed}{',' if len(that) > 2 else ''} and that {that[-1]}"
            return _sentence_end(f"{lead} {words[0]} {joined}"), shape
        if first in _CLAIM_VERBS and not _LAW_HEAD.search(name) and len(words) > 3:
            # "range of reaction: asserts our genes set ...": a concept cannot assert; what it
            # names is a view ("Range of reaction is the view that our genes set ...").
            rest = re.sub(r"^that ", "", " ".join(words[1:]))
            sentence = f"{lead} {'are' if plural else 'is'} the view that {rest}"
    elif (
        first.endswith("ing")
        and len(first) >= 5
        and first not in _NOT_GERUND
        and second != "of"
        and (
            second in _DETERMINER
            or second in _OBJECT_START
            or second.endswith("s")
            or len(_HEAD_END.split(body, maxsplit=1)[0].split()) != 2
        )
    ):
        # A gerund doing something ("seeing relationships ..."), not an adjective ("enduring
        # state of mind", which is a noun phrase).
        sentence, shape = f"{lead} {verb} {body}", "gloss: gerund"
        # "A job analysis is determining ...", "Figure-ground relationship is segmenting ...":
        # only a term naming an activity ("shaping", "reinforcement") is one.
        activity = re.search(r"(?:ing|ment|i[sz]ation|ssion|ition)$", name.split()[-1])
        if quoted or article in ("a", "an") or not activity:
            sentence = f'The term "{name}" refers to {body}'
    elif (first.endswith("ed") or first in _IRREGULAR_PARTICIPLES) and second in (
        "in",
        "into",
        "by",
        "to",
        "on",
        "as",
        "with",
        "from",
        "up",  # "made up of billions of neurons": "X is made up of ..."
    ):
        if quoted:
            return None
        sentence, shape = f"{lead} {verb} {body}", "gloss: participle"
    elif first in _GLOSS_ADJECTIVES and second in ("for", "to", "in", "of", "with"):
        if quoted:
            return None
        sentence, shape = f"{lead} {verb} {body}", "gloss: adjective"
    elif _FINITE.search(" ".join(_HEAD_END.split(body, maxsplit=1)[0].split()[:6])) and (
        len(words) > 3
    ):
        # A clause states what happens: "conclusions are drawn from observations".
        if quoted:
            return None
        sentence, shape = _claim(name, lead, body, law), "gloss: clause"
    else:
        # "emotional, romantic, and/or erotic attractions ...": the head is after the list.
        listed = _LEADING_LIST.sub("", body)
        head = _gloss_head(listed)
        # "important for speech ...": an adjective and no noun; "specific beliefs ...": a noun.
        predicative = first in _GLOSS_ADJECTIVES and (not second or second in _NOUN_FOLLOW)
        if not head or head in _VERBS or head in _GLOSS_ADJECTIVES or predicative:
            return None  # "important for speech comprehension": no noun to put "an" before
        head_plural = head.endswith("s") and not re.search(
            r"(?:ss|us|is|ics|ous|series|species|means|news|lens|bias|status)$", head
        )
        if head_plural != plural:
            # "A stereotype is specific beliefs ...": no "is" fits, but "refers to" does, when
            # the gloss is a plain noun phrase ("things that ... tend to ...", "how a person
            # reacts ..." are not; nor a head the split cannot find, "axon terminal containing").
            head_words = _HEAD_END.split(listed, maxsplit=1)[0].split()
            if (
                len(body) < 30
                or first in _NOT_NOUN_START
                or first in _VERBS
                or _VERB_TERM.match(first)
                # One word may be a verb ("serves as", "contributes to"): a modified noun is not.
                or not 2 <= len(head_words) <= 4
            ):
                return None
            if (
                not head_plural
                and not (head in _MASS or _MASS_SUFFIX.search(head))
                and first not in _QUANTIFIERS  # "multiple genes affecting ...": no "a"
                # "physiological arousal, psychological appraisal, and ...": a list, no "a"
                and not re.search(r", (?:and|or) ", _before_relative(body))
                # "peoples’ beliefs concerning ...": the possessive is the determiner
                and not re.match(r"^(?:[\w-]+ ){0,2}[\w-]+(?:’s|'s|s’|s')(?=\s)", body)
            ):
                body = f"{'an' if _vowel_sound(first) else 'a'} {body}"
            return _sentence_end(f'The term "{name}" refers to {body}'), _REFERS
        if plural:
            phrase = body
        elif (
            first in _ORDINAL
            or re.fullmatch(r"[a-z]+est|most|least", first)  # "the smallest unit"
            or (_ABSTRACT.search(head) or head not in _A_OF)
            and re.search(rf"^(?:[\w-]+ )?{re.escape(head)} of\b", body)
        ):
            phrase = f"the {body}"
        elif (
            head in _MASS
            or _MASS_SUFFIX.search(head)
            and head not in _COUNT_ING
            or first in _QUANTIFIERS  # "multiple genes affecting ...": no "a"
        ):
            phrase = body
        elif re.match(r"^(?:[\w-]+ ){0,2}[\w-]+(?:s’|s') ", body):
            phrase = body  # "peoples’ beliefs concerning ...": the possessive is the determiner
        elif re.match(
            r"^(?:(?!(?:that|which|who|of|in|to|for) )[\w-]+ ){0,2}[\w-]+(?:’s|'s) ", body
        ):
            phrase = f"the {body}"  # "nervous system's ability to change": the system's
        else:
            phrase = f"{'an' if _vowel_sound(first) else 'a'} {body}"
        term_head = name.split()[-1].casefold() if " " in name else ""
        # "aggression motivated by ...": a participle after the genus ends the head as well.
        genus_first = head == first or second.endswith("ed") and second not in _A_OF
        if term_head == first and genus_first and not quoted and not plural and lead == name:
            # The gloss names the term's own head as its genus ("hostile aggression:
            # aggression motivated by ..."): a count noun the book uses with "a" gives the term
            # its article too ("A collectivist culture is a culture ..."); any other is a mass
            # noun and takes none ("Hostile aggression is aggression ...").
            if style is not None and style.article(first) in ("a", "an"):
                lead = f"{'an' if _vowel_sound(name) else 'a'} {name}"
            elif first in _MASS or re.search(r"(?:ion|ness|ism|ing)$", first):
                phrase = body
            # Else ("a difference"): neither is known, the sentence stays as it was.
        head_word = name.split()[-1]
        # "Perceptual hypothesis is an educated guess": the book says "a hypothesis", so the
        # bare term is a count noun missing its article; "The term ... refers to" needs none.
        count_bare = (
            lead == name
            and not plural
            and " " in name
            and " of " not in name
            and name[:1].islower()
            and style is not None
            and not _LAW_HEAD.search(name)
            and head_word.casefold() not in _MASS
            and style.article(head_word) in ("a", "an")
        )
        sentence = (
            f'The term "{name}" refers to {phrase}'
            if quoted or count_bare
            else f"{lead} {verb} {phrase}"
        )
        shape = "gloss: noun phrase"
    if shape in ("gloss: noun phrase", _REFERS) and _ADVERB_VERB.search(_before_relative(body)):
        # "infant ... with no apparent medical condition suddenly dies during sleep": a clause
        # with no relative word, which no "X is" or "refers to" turns into a sentence.
        return None
    if _echoes_term(term, parts[0]):
        return None
    out = [_sentence_end(sentence)]
    if _circular(term, parts[0]):
        # "stage 2 sleep: second stage of sleep; ...; characterized by ...": the first part only
        # restates the term, so the parts that describe it are kept.
        for part in parts[1:]:
            if re.match(r"(?:characterized|marked|associated|accompanied) by\b", part):
                out[0] = _sentence_end(f"{out[0].rstrip('.')}, {part}")
    for part in parts[1:]:
        before_relative = re.split(r"\b(?:that|which|who|whom|whose)\b", part)[0]
        if (
            part[:1].islower()
            and _PART_VERB.search(before_relative)
            and not part.startswith(
                ("characterized", "analogous", "also", "serves", "contains", "involved", "e.g.")
            )
            and re.match(r"^(?:from|in|during|at|after|before|the|a|an|[a-z]+ and)\b", part)
        ):
            out.append(_sentence_end(part))
        elif _CONTRAST_PART.search(part):
            # "experimental group: group designed to answer ...; experimental manipulation is
            # the only difference between the experimental and control groups": the part left
            # out is what tells the term from its pair; the first part alone would fit both.
            return None
    return " ".join(out), shape


_VERBS = word_set(
    "has have is are occurs occur involves involve refers means describes includes consists "
    "happens takes makes uses results can may must will does do shows secretes compares "
    "contains produces causes helps leads states suggests proposes predicts explains examines "
    "studies focuses reflects represents requires provides regulates controls connects affects "
    "influences determines indicates assesses argues asserts holds allows relays transmits sends "
    "carries receives processes detects releases stores links assumes posits proposes maintains "
    "says predicts claims"
)
_OBJECT_START = word_set(
    "that how what whether multiple several many all both various certain specific different "
    "new their its his her our"
)
_NOUN_FOLLOW = word_set(
    "that which who whom whose in of from with for to on at by about between across during as "
    "and or than"
)
_NOT_GERUND = word_set("something nothing anything everything thing string spring")


_MASS_LIKE = re.compile(
    r"(?:ing|ness|ism|ity|ology|ics|ion|ment|ance|ence|hood|ship|ure|acy|ncy|ry|py|thy|sy|gy|"
    r"th|sis|ia)$"
)
# A single-word term that is an adjective ("empirical"); "-al", "-ive", "-ic" words are as
# often nouns ("rehearsal", "motive", "heuristic") and are left alone.
_ADJ_TERM = re.compile(r"(?:ous|ful|ical|able|ible)$")
# Adjectives a gloss opens with ("responsible for enforcing ..."); "experiment in which" is a
# noun, so the list is explicit rather than a suffix.
_GLOSS_ADJECTIVES = word_set(
    "responsible related similar characteristic specific common relevant capable able unable "
    "typical sensitive resistant present absent dependent independent essential necessary "
    "aware susceptible prone vulnerable due equivalent analogous important crucial critical "
    "involved located"
)
_ADJECTIVE = re.compile(r"(?:al|ive|ous|ful|ic|able|ible|ed|ant|ent)$")


def bare_reads(term: str) -> bool:
    """Can the term stand without an article ("Learning is ...", "Psychotherapy is ...")?
    A mass noun, a plural or a name can; "Prototype is ..." cannot."""
    words = re.sub(r"\s*\([^)]*\)", "", term).split()
    if not words:
        return False
    last = words[-1].casefold()
    if term[:1].isupper() and (len(words) > 1 and words[1][:1].isupper() or term.isupper()):
        return True  # a name: "Thematic Apperception Test", "DSM"
    return last in _MASS or bool(_MASS_LIKE.search(last)) or _plural(term)


def _vowel_sound(word: str) -> bool:
    if re.match(r"^[A-Z](?:-|$)", word):
        return word[0] in "AEFHILMNORSX"  # "an X-shaped", "an S-curve"
    low = word.casefold()
    if re.match(r"(?:uni|use|usu|uti|eu|one|u[bcfgklmpqrstvz][aeiou])", low):
        return False
    if re.match(r"(?:hour|honest|heir)", low):
        return True
    return low[:1] in "aeiou"


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
            alias = _ALIAS.fullmatch(term)
            if alias and self._uses(f"{alias['x']} {alias['head']}"):
                # "Rogerian (client-centered therapy)": an alias in the term; the book's own
                # name for it ("Rogerian therapy") reads as a term, the parenthesis does not.
                term = shown = f"{alias['x']} {alias['head']}"
            first = term.split()[0]
            if (
                first.endswith(("’s", "'s"))
                or any(w[:1].isupper() for w in term.split()[1:])
                or re.search(r"-[A-Z]", first)  # "Cannon-Bard": names
            ):
                pass  # "Meissner’s corpuscle", "Strange Situation": a name's capital stays
            elif len(term) > 1 and term[0].isupper() and term[1].islower():
                bare = re.sub(r"\s*\([^)]*\)", "", term)
                # Capitalised mid-sentence somewhere ("the Strange Situation"): a name; keep it.
                named = any(
                    self.text.startswith(bare, i)
                    and _MID_SENTENCE.search(self.text[max(0, i - 30) : i])
                    for i in self._uses(bare)
                )
                shown = (
                    term if named or self._eponym(term.split()[0]) else term[0].lower() + term[1:]
                )
            self._display[alias.string if alias else term] = shown
            return shown
        return self._display[term]

    def _eponym(self, word: str) -> bool:
        """A word the book writes capitalised mid-sentence and never in lower case
        ("Pacinian corpuscles"): a name, which keeps its capital in "Pacinian corpuscle"."""
        if not word[:1].isupper() or not word[1:].islower():
            return False
        uses = self._where.get(word.lower(), [])
        if any(self.text[i].islower() for i in uses):
            return False
        return any(_MID_SENTENCE.search(self.text[max(0, i - 30) : i]) for i in uses)

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


_ALIAS = re.compile(r"(?P<x>[\w’'-]+) \((?P<inner>[a-z][\w’' -]* (?P<head>[a-z]+))\)")
_WORD = re.compile(r"[\w’'-]+")
_WORD_CHAR = re.compile(r"[\w’'-]")
# Mid-sentence: after a lower-case word ("the Strange Situation"), not after another
# capitalised one ("Minnesota Multiphasic Personality Inventory" names a test, not "personality").
_MID_SENTENCE = re.compile(r"(?:^|\s)[a-z][\w’'-]*[,;]?[ \t]+$")
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
    if template == "What is {t}?" and not article and not bare_reads(bare):
        template = _DEFINE[2]  # "What is prototype?": quote the term instead
    if template == _DEFINE[3] and article == "the" and output_opens(d, "the"):
        template = "What is {t}?"  # "the cornea": a thing, not a concept to explain
    output = " ".join(_sentence_end(s) for s in d.sentences)
    claim = _CLAIM_OPENING.match(output)
    if (
        claim
        and _LAW_HEAD.fullmatch(claim.group(1).split()[-1])
        and claim.group(1).startswith("the ")
    ):
        # "According to the facial feedback hypothesis, ...": a claim, not a definition; asked
        # as what the theory states.
        named = claim.group(1)
        return make_row(f"What does {named} state?", "", output, "theory", source)
    return make_row(template.format(t=with_article, bare=bare), "", output, "definition", source)


def output_opens(d: Definition, article: str) -> bool:
    """The definition's own sentence opens with the article and the term ("The cornea is")."""
    first = d.sentences[0] if d.sentences else ""
    return normalise_space(first).casefold().startswith(f"{article} {d.term}".casefold())


def normalise_space(text: str) -> str:
    return " ".join(text.split())


_CLAIM_OPENING = re.compile(r"^According to ((?:the )?[^,]{3,80}), ")
