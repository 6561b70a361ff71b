"""The row critic: every row, from the rules or from an LLM, is read before anything is written,
and a row that fails a check is dropped with its reason (counted in the summary, listed by
--explain-rejections). The checks are the ways a row built from a textbook goes wrong:

  dangling reference   "as shown in Figure 3", "this chapter", "the following": not in the row
  story-bound opening  "If so, you've ...", "As you learned earlier ...", "Imagine ..."
  not self-contained   an answer opening with "It", "This", "They", or asking a question
  off-topic answer     the answer does not speak of what the instruction asks about
  article agreement    "is an allows ...", "a meanings that ...", "an stimulus"
  number agreement     "Bias are ...", "Reflexes is ...", "disruption in signals ... cause"
  name as term         "What is Albert Bandura?": a person is not a term
  advice as term       "What does 'use spaced study sessions' mean?": a heading, not a term
  echoes its input     an answer that copies its input back (a model learns to copy)
  claim as definition  "Define X" answered "According to X, ..." (not a named theory)
  "is when/where"      "X is when behavior is rewarded": no "refers to" makes it grammatical
  unintroduced person  an experiment row speaking of "the teacher" it never introduced
  finding, no direction "a moderate but significant effect": of what, which way?
  method not said      an experiment row whose only method is "conducted research on a baby"
  nothing found        an experiment row that never says what was found (a case: what it showed)
  points back          "another theory", "Rogers further divided", "The prisoners, in turn,",
                       "Each student" never introduced, "Based on how the infants responded",
                       "Once the signal is delivered", "either group" with no group named
  says what happens    a definition "During plateau, the vagina swells ...": not what it is
  says what we do      a definition "In good continuation, we ...": not what the term is
  near-circular        "figure-ground relationship: segmenting ... into figure and ground"
  context-bound        a term defined as one part of a named theory ("cognitive processes" in
                       reciprocal determinism) asked as if that were its general meaning
  too short / too long

Before the checks, `repair` takes out what points back when the rest stands alone: a leading
"In another study, ", "Based on how ..., Ainsworth identified", "further" before a verb,
"developed another theory" ("developed a theory").

LLM rows also pass `grounding`: what they ask about and every number they state must be in the
passage they were made from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher

from ..dataset.rows import normalise
from .text import word_set

Row = dict[str, str]


@dataclass(frozen=True)
class Candidate:
    """A row with where it came from: what `psych review` shows beside it."""

    row: Row
    section: str  # "Chapter > Section": the heading path
    passage: str  # the book text the row was made from
    notes: tuple[str, ...] = ()  # how the row was made, when not verbatim ("gloss rewritten")
    term: str = ""  # the term a definition defines (one definition per term, book-wide)
    llm: bool = False


@dataclass(frozen=True)
class Rejection:
    reason: str
    candidate: Candidate
    detail: str = ""


_DANGLING = re.compile(
    r"\b(?:figure|fig\.|table|chapter|section)\s+\d|"
    r"\b(?:this|the previous|the next|the following|the preceding|that|these|the above) "
    r"(?:chapter|section|figure|table|example|list|video|photo|image|graph|chart|box|feature|"
    r"passage|text|excerpt|module|unit|activity|exercise|discussion)s?\b|"
    r"\bthe following\b|\bas (?:described|discussed|shown|mentioned|noted|seen|explained|"
    r"illustrated|learned|outlined|defined) (?:in|above|below|earlier|previously|before|later)\b|"
    r"\b(?:earlier|later) in (?:this|the) (?:chapter|section|book|text)\b|"
    r"\bin the (?:text|passage|excerpt)\b|\b(?:see|read) (?:above|below)\b|"
    r"\b(?:shown|pictured|listed|illustrated|described) (?:above|below|here)\b|"
    r"\b(?:of|like) this (?:kind|sort|type)\b|\bin (?:this|the next|a later) chapter\b|"
    r"\bwe(?:'ll| will) (?:discuss|learn|see|explore)\b|\bone such\b|"
    r"\b(?:discussed|described|covered|explained|examined) (?:later|earlier|next|below|above)\b|"
    r"\bonce again\b|\bas (?:mentioned|noted|discussed) (?:before|previously)\b|"
    # "a point where we cannot respond ... in that portion of the visual field": which portion?
    r"\bin (?:that|this) (?:portion|part|region|area|half)\b",
    re.IGNORECASE,
)
_STORY_OPENING = re.compile(
    r"^(?:if so|as you|as we|you|your|imagine|think (?:about|back)|let(?:'|’)s|suppose|have you|"
    r"did you|do you|what if|in this (?:chapter|section)|so far|for example|for instance)\b|"
    # Words that are also terms ("Recall is ..."): story-bound only as an imperative.
    r"^(?:recall|remember|consider|picture|now|here|again)\b(?!\s+(?:is|are|refers?|was)\b)",
    re.IGNORECASE,
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|you(?:'|’)(?:ve|re|ll|d))\b", re.I)
_STORY_YOU = re.compile(
    r"\b(?:if so|as you|have you|did you|do you|you(?:'|’)(?:ve|ll|re|d)|you (?:probably|may "
    r"have|might have|learned|read|saw|have seen|remember|will (?:learn|see|read))|your own "
    r"experience|think back)\b",
    re.IGNORECASE,
)
_PRONOUN_OPENING = re.compile(
    r"^(?:it|this|these|that|those|they|them|he|she|his|her|their|its|such|both|the latter|"
    r"the former|another|the other|in (?:this|that|these) (?:case|study|experiment)s?)\b",
    re.IGNORECASE,
)
# A verb in the third person singular never follows an article: "is an allows".
_VERBS_3SG = word_set(
    "allows occurs involves refers describes includes consists makes takes secretes compares "
    "contains results measures produces causes helps leads shows states suggests proposes "
    "predicts explains examines studies focuses reflects represents requires provides regulates "
    "controls connects affects influences determines indicates assesses argues asserts holds "
    "becomes remains seems appears tends relays transmits sends carries receives processes "
    "detects releases stores links"
)
_NOT_PLURAL = re.compile(
    r"(?:ss|us|is|ous|as|series|species|means|news|lens|bias|chaos|corpus|status|apparatus|"
    r"diabetes|herpes|mumps|measles|physics|ethics|genetics|statistics|linguistics|economics|"
    r"mathematics|politics|dynamics|ergonomics|semantics|pragmatics|phonetics|aerobics|"
    r"psychodynamics|neuroethics)$",
    re.IGNORECASE,
)
_ARTICLE_NOUN = re.compile(r"\b(?P<art>[Aa]n?) (?P<word>[A-Za-z][\w’'-]*)(?P<after>[ ,.;:]\S*)?")
_PERSON_NOUN = re.compile(
    r"\b(?:was|is) (?:a|an|the) (?:[\w-]+ ){0,3}(?:psychologist|researcher|physician|"
    r"philosopher|scientist|neurologist|psychiatrist|theorist|scholar|physiologist|"
    r"psychoanalyst|neuroscientist|professor|student|patient|man|woman|boy|girl)\b"
)
# Verbs that open advice ("Use spaced study sessions"); words that are as often nouns opening
# a term ("sleep debt", "test anxiety", "set point") are left out.
_ADVICE = word_set(
    "use get make take avoid try keep find be do ask think write read give stop eat seek learn "
    "remember create build organize organise pay spend reduce increase join apply choose stay "
    "let go don't"
)
_STOP = word_set(
    "what is are was were the a an of in on to for and or by with from that which who whom how "
    "why when where does do did describe explain define give compare contrast between difference "
    "differ term mean means meaning refer refers concept psychology study studies researchers "
    "about their they it its this these those one short sentence find found propose proposes "
    "according show showed happened reveal case used more most than other some such also been "
    "being into over under each while whereas would could should may might can will has have "
    "had not no yes example examples"
)
# "X theory is a/an/the ...": what follows "is" must say what kind of idea it is.
_THEORY_IS = re.compile(
    r"^(?:The |A |An )?[^,.;]*?\b(?:theory|theories|model|law|principle|hypothesis)\b"
    r"[^,.;]{0,60}? (?:is|are) (?P<what>(?:a|an|the) .*)"
)
_THEORY_GENUS = re.compile(
    r"\b(?:theory|theories|model|law|principle|hypothesis|explanation|idea|view|proposal|"
    r"approach|framework|assertion|belief|perspective|account|notion|concept|argument|claim|"
    r"suggestion|premise|proposition|statement|description|way of (?:thinking|explaining))\b",
    re.IGNORECASE,
)
# "Stage of moral reasoning is a process proposed by Kohlberg.": whose, not what.
_ONLY_WHO = re.compile(
    r"^[^.]* (?:is|are|refers to) (?:a|an|the) [\w-]+ (?:proposed|developed|described|"
    r"introduced|created|used) by [A-Z][\w.’']*(?: [A-Z][\w.’']*)*\.$"
)
_EMPTY = word_set("first second third fourth fifth final last stage type kind form part phase step")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")


def _an_is_right(word: str) -> bool | None:
    """True when "an" goes before `word`, False when "a" does, None when unsure (an
    abbreviation, a number)."""
    if not word[:1].isalpha():
        return None
    if re.match(r"^[A-Z](?:-|$)", word):
        return word[0] in "AEFHILMNORSX"  # "an X-shaped", "an S-curve"
    low = word.casefold()
    if word.isupper() and len(word) > 1:
        return None  # "an fMRI", "a DSM": by sound, which a rule cannot tell
    if re.match(r"(?:uni|use|usu|uti|ure|eu|ewe|one|once|u[bcfgklmpqrstvz][aeiou])", low):
        return False  # "a unique", "a user", "a one-time"
    if re.match(r"(?:hour|honest|honou?r|heir)", low):
        return True
    return low[0] in "aeiou"


def agreement_problem(text: str) -> str:
    """The first article or number error in a sentence the builder wrote, or ""."""
    for m in _ARTICLE_NOUN.finditer(text):
        art, word = m.group("art").lower(), m.group("word")
        low = word.casefold()
        if low in _VERBS_3SG:
            return f'"{art} {word}": an article before a verb'
        after_word = (m.group("after") or "").strip().split(" ")[0].casefold()
        if low.endswith("ing") and after_word in ("a", "an", "the", "his", "her", "their", "our"):
            return f'"{art} {word} {after_word}": an article before a verb'
        an = _an_is_right(word)
        if an is not None and an != (art == "an"):
            return f'"{art} {word}"'
        after = (m.group("after") or "").strip()
        if (
            low.endswith("s")
            and len(low) > 3
            and not _NOT_PLURAL.search(low)
            and (after[:1] in (",", ";", ".") or after.split(" ")[0] in _PLURAL_FOLLOW)
        ):
            return f'"{art} {word}": an article before a plural'
    return ""


_ANOTHER = re.compile(r"^[^,.;]{0,80}\b((?:is|are) (?:another|also|even))\b")
_WHEN_PRONOUN = re.compile(r"\b(?:is|are) when (?:they|he|she|it|we|this)\b")
_DEMONSTRATIVE = re.compile(
    r"\bthese (?!two\b|three\b|four\b|are\b|were\b|include\b)([a-z][\w-]*)", re.IGNORECASE
)
_DOUBLED_VERB = re.compile(r"\b(?:is|are) (?:has|have|is|are|was|were)\b")
_PLURAL_FOLLOW = word_set(
    "that which who in of from with are were per cannot can must should will may"
)


# "disruption in signals sent from the brain ... cause periods of ...": a singular head noun,
# its prepositional phrase, then a plural verb (the book's slip; the verb agrees with the
# nearer plural). No "and"/"or" between them: "X and Y cause" is plural.
_HEAD_PP_VERB = re.compile(
    r"(?:^|[.;] )(?:(?:In|During|With|For) [^,]+, )?(?:(?:a|an|the|this|one) )?(?:[a-z-]+ )?"
    r"(?P<head>[a-z]{3,}(?<!s)|[a-z]+(?:ss|us|is)) (?:in|of|from|between|within|on) "
    r"(?:(?!\b(?:and|or|which|who|whose)\b)[^.;:,]){0,80}? "
    r"(?P<verb>cause|lead|result|produce|make|occur|become|show|tend|remain)\b"
)


def head_agreement(text: str) -> str:
    """ "disruption in signals ... cause": a singular subject with a plural verb, or ""."""
    m = _HEAD_PP_VERB.search(text)
    if m and m.group("head") not in _NOT_A_HEAD:
        return f'"{m.group("head")} ... {m.group("verb")}": a singular with a plural verb'
    return ""


_NOT_A_HEAD = word_set("that this which what who each one either neither")


def _subject_agreement(output: str, term: str) -> str:
    """ "Bias are ..." / "Reflexes is ...": the term opening the answer and its verb."""
    if not term:
        return ""
    m = re.match(
        rf"^(?:(?:a|an|the) )?{re.escape(term)}(?: \([^)]*\))? (?P<verb>is|are)\b",
        output,
        re.IGNORECASE,
    )
    if not m:
        return ""
    last = re.split(r" of ", term, maxsplit=1)[0].split()[-1].casefold()  # "components of"
    plural = last.endswith("s") and not _NOT_PLURAL.search(last)
    if plural and m.group("verb") == "is":
        return f'"{term} is": a plural with "is"'
    if not plural and m.group("verb") == "are" and not re.search(r"\b(?:and|or)\b", term):
        if last.endswith(("ia", "a")) and last not in ("a",):
            return ""  # "phenomena", "criteria" are plural
        return f'"{term} are": a singular with "are"'
    return ""


# A plural term "are a/an" something is one of a kind only with a collective noun ("Stimulants
# are a class of drugs"); "Reflexes are a motor or neural reaction" is the book's slip.
_COLLECTIVE = word_set(
    "class type kind group set form category family series pattern collection network system "
    "part range combination variety cluster pair sequence way number"
)
_IS_PLURAL = re.compile(
    r"^[^,.;]{0,80}? (?:is|was) (?:our|their|his|her) [a-z]+(?<![siu])s "
    r"(?:about|that|of|in|toward|for)\b"
)
_BOOK_SLIP = re.compile(
    r"\b(\w+) \1\b(?<!\bthat that\b)|\bthat is that (?!(?:the|a|an|this|these|those|it|they|"
    r"we|you|he|she|there|people|one|our|their|his|her|its|all|no|some|many|most|each)\b)",
    re.IGNORECASE,
)


def _complement_agreement(output: str, term: str) -> str:
    """ "Reflexes are a motor ... reaction", "Perceived control is our beliefs about ...": the
    book's agreement slip between the term and what it is said to be."""
    m = re.match(
        rf"^(?:(?:a|an|the) )?{re.escape(term)}(?: \([^)]*\))? are (?:a|an) (?P<np>[^,.;]*)",
        output,
        re.IGNORECASE,
    )
    if m and not set(m.group("np").casefold().split()) & _COLLECTIVE:
        return f'"{term} are a ...": a plural said to be one thing'
    if re.match(rf"^(?:(?:a|an|the) )?{re.escape(term)}\b", output, re.I) and _IS_PLURAL.match(
        output
    ):
        return f'"{term} is ...s": a singular said to be many things'
    return ""


def _content_words(text: str) -> list[str]:
    return [
        w
        for w in re.findall(r"[a-z][a-z’'-]{3,}", normalise(text))
        if w not in _STOP and not w.endswith("’s")
    ]


def _stem(word: str) -> str:
    return word[:5]


def looks_like_name(term: str, output: str, book_text: str = "") -> bool:
    """A person, not a concept: "Albert Bandura", "Ivan Pavlov" (Title Case words described as
    a psychologist, or cited with a year in the book)."""
    words = term.split()
    if not 1 <= len(words) <= 3 or not all(w[:1].isupper() and w[1:2].islower() for w in words):
        return False
    if _PERSON_NOUN.search(output[:200]):
        return True
    cited = rf"\b{re.escape(term)}(?:’s|'s)? \((?:1[89]|20)\d\d"
    return bool(book_text and re.search(cited, book_text))


# "A mental set is where you persist ...", "... is when behavior is rewarded": a definition by
# an occasion, not a genus; "refers to when ..." is no better, so the row is dropped.
_IS_WHEN = re.compile(r"\b(?:is|are) (?:when|where)\b")
# People in a study told with "the" before anyone said who they are ("whether the teacher was
# punished"): an experiment row must introduce them ("an adult model", "a teacher").
_ROLE = (
    r"teacher|learner|adult|model|woman|man|confederate|boy|girl|student|experimenter|"
    r"doctor|nurse|patient|baby|infant|child|mother|father|stranger|actor|victim"
)
# What the story may have called them before: "1-week-old babies ... the infant's own mother".
_ROLE_PLURAL = {
    "child": "children|kids|preschoolers|infants|babies",
    "man": "men",
    "woman": "women",
    "infant": "infants|babies|newborns",
    "baby": "babies|infants|newborns",
    "adult": "adults|parents",
}
_THE_ROLE = re.compile(rf"\b[Tt]he ({_ROLE})\b")
# A finding graded by size or significance only ("a moderate but significant effect") ...
_SIZED_FINDING = re.compile(
    r"\b(?:small|moderate|large|strong|weak|significant|reliable|modest)\b[\w ,-]{0,30}?"
    r"\b(?:effect|correlation|relationship|difference|association)s?\b"
)
# ... says which way only with words like these.
_DIRECTION = re.compile(
    r"\b(?:more|less|fewer|higher|lower|greater|smaller|larger|increas\w*|decreas\w*|reduc\w*|"
    r"improv\w*|positive\w*|negative\w*|rais\w*|lower\w*|worse|better|likelier|"
    r"[a-z]+er than)\b"
)
# "X conducted research on a baby nicknamed Little Albert.": who, but not what was done.
_BARE_METHOD = re.compile(
    r"^[^.]*\b(?:conducted|did|carried out|performed) (?:research|an? (?:study|experiment)|"
    r"studies|experiments) (?:on|with)\b[^.,;]{0,60}\.\s"
)


# What a study found, or a case showed: a finding verb, a share, a change, a comparison.
_FINDING = re.compile(
    r"\b(?:found|finds?|show(?:s|ed|n)?|demonstrat\w+|reveal\w*|suggest\w*|conclud\w+|"
    r"report\w*|discover\w*|indicat\w+|highlight\w*|identif\w+|insight|learned|became|"
    r"(?:more|less) likely|increas\w+|decreas\w+|reduc\w+|dropped|rose|fell|preferred|"
    r"conformed|imitated|continued|observed that|began to|influenced by|consistent with|"
    r"higher|lower|better|worse|stronger|weaker|poorer|greater|fewer|(?:more|less) \w+ly)\b|\d%|"
    r"\b(?i:nearly|almost|about|over|more than|less than|only) (?:half|a third|a quarter|"
    r"one third|two-thirds) of\b"
)


# What was done: a design ("longitudinal", "a 10-year study", "a meta-analysis") or a step of
# the procedure ("were randomly assigned", "were given", "interviewed"). "A study of 61,000
# Norwegians identified depression as ...": who and what was found, nothing done.
_GROUP = "those|students|participants|people|children|adults|patients|subjects|volunteers"
_METHOD = re.compile(
    r"\b(?:longitudinal|cross-sectional|ongoing|meta-analys[ie]s|\d+-(?:year|month|week|day)|"
    r"randomly|random assignment|assign\w*|control group|experimental group|questionnaires?|"
    r"surveys?|surveyed|interview\w*|twins?|placebo|double-blind|observed|observing|"
    r"measures?|measured|recorded|followed|tracked|assessed|tested|exposed|given|gave|placed|"
    r"put|shown|told|asked|paired|presented|trained|recruited|divided|watched|played|taught|"
    r"conditioned|injected|induced|deprived|rated|instructed|fed|raised|reared|examined|"
    r"studied|manipulated|performed|using|pooled|reviewed|analy[sz]ed|separated|"
    r"compared (?:the|two|groups?|students)|"
    r"had (?:them|participants|people|children|students)|designed|conducted an? experiment|"
    r"were (?:then )?(?:allowed|made|left|required))\b|"
    # Two groups set against each other by what each did: "students who practised recalling
    # a text remembered more ... than students who only reread it".
    rf"\b(?:{_GROUP}) who [a-z]+ed\b.{{0,160}}\bthan (?:{_GROUP}) who\b",
    re.IGNORECASE,
)
# People a study told with "Each" ("Each student was paid $15"): introduced first, or not.
_EACH_ROLE = re.compile(
    r"(?:^|[.!?] )Each (student|participant|subject|volunteer|patient|prisoner|guard|monkey|rat)\b"
)


def _experiment_problem(output: str, category: str = "experiment") -> tuple[str, str] | None:
    if not _FINDING.search(output):
        # A study told without its result, or a case without what it showed: half a row.
        what = "experiment: nothing found" if category == "experiment" else "case: nothing shown"
        return what, output[:80]
    for m in _THE_ROLE.finditer(output):
        role = m.group(1).casefold()
        before = output[: m.start()].casefold()
        after = output[m.end() : m.end() + 14]
        if output[: m.start()].endswith(", ") or re.match(
            r" (?:[A-Z]|known as|named|called)", after
        ):
            continue  # "Henry Molaison, the patient known as H.M.": introduced in apposition
        plural = _ROLE_PLURAL.get(role, role + "s")
        introduced = re.search(rf"\b(?:a|an|one)\s+(?:[\w-]+\s+){{0,3}}{role}\b", before)
        # "The confederate learners": a kind of the learners already introduced.
        then = re.match(r" ([a-z]+)", after)
        if then and then.group(1)[:5] in before and len(then.group(1)) > 3:
            continue
        if not introduced and not re.search(rf"\b(?:{plural})\b", before):
            return "experiment: unintroduced person", m.group(0)
    if category == "experiment" and not _METHOD.search(output):
        return "experiment: method not said", output[:80]
    sized = _SIZED_FINDING.search(output)
    # The way it went must be said in the finding's own sentence, not in the question asked.
    finding = output[output.rfind(". ", 0, sized.start()) + 1 :] if sized else ""
    if sized and not _DIRECTION.search(finding):
        return "experiment: finding without direction", sized.group(0)
    if _BARE_METHOD.match(output) and len(re.findall(r"[.!?](?:\s|$)", output)) <= 2:
        # Who and what was found, and nothing between: a row told at more length says what
        # was done in the sentences after.
        return "experiment: method not said", output.split(".")[0][:80]
    return None


# Words that point back at text the row does not carry: "another theory" (than which?),
# "Rogers further divided the self" (after what?), "The prisoners, in turn, ..." (in turn to
# whom?), "Based on how the infants responded to the separation" (which separation?).
_BACK_REFERENCE = re.compile(
    r"\banother (?:theory|study|experiment|approach|model|way|type|kind|form|example|factor|"
    r"explanation|view|perspective|method|technique|reason|category|class|important|major|key|"
    r"common|classic|famous|well-known|line|researcher|psychologist|theorist)\b|"
    r"(?:^|[.!?;:] )[^.!?;:,]{1,60}, in turn,|"
    r"\bfurther (?:divided|subdivided|split|classified|categorized|separated|distinguished|"
    r"broke|expanded|extended|developed|refined|elaborated)\b|"
    r"^Based on (?:how|what|these|this|those|the|their|his|her)\b|"
    # "Once the signal is delivered, ...": an event told earlier in the book.
    r"^(?:Once|Then|Next|After (?:this|that)|At this point)\b",
    re.IGNORECASE,
)
# "... assigned to either group": which groups, when the row never names one?
_EITHER = re.compile(r"\b(?:either|both|the other|the two) (group|condition|side)s?\b", re.I)
# "During plateau, the vagina swells ...": what happens during X, not what X is.
_DURING = re.compile(r"^During\b")
# "In good continuation, we are more likely to perceive ...": what we do, not what it is.
_WE_DEFINITION = re.compile(r"^(?:In|According to) [^,]{1,60}, (?:we|you)\b", re.IGNORECASE)
# A named idea said to be made of parts ("reciprocal determinism, in which cognitive processes,
# behavior, and context all interact"): the sentence after it defines a part as the idea
# means it, not as psychology does.
_PROPOSAL = re.compile(r"\b(?:propos\w*|theor\w*|model|concept|framework|determinism)\b", re.I)
_PROPER = re.compile(r"^[A-Z][a-z]+(?:’s|'s)? ")
_LEANING = re.compile(
    r"^(?:it|this|these|that|those|they|he|she|his|her|their|its|such)\b", re.IGNORECASE
)


def leans_elsewhere(text: str, term: str = "") -> bool:
    """A definition's sentence that the critic would reject for leaning on text it does not
    carry ("In positive punishment, you add ...") or for the book's own slip ("Reflexes are a
    ... reaction"): ranked below one that reads alone (the glossary's gloss, when there is
    one)."""
    return bool(
        _WE_DEFINITION.match(text)
        or _BACK_REFERENCE.search(text)
        or _DURING.match(text)
        or head_agreement(text)
        or _unnamed_pair(text)
        or _BOOK_SLIP.search(text)
        or term
        and _complement_agreement(text, term)
    )


def _unnamed_pair(text: str) -> str:
    """ "either group" where no group was named before it in the text, or ""."""
    m = _EITHER.search(text)
    if m and not re.search(rf"\b{m.group(1)}s?\b", text[: m.start()], re.IGNORECASE):
        return m.group(0)
    return ""


_LOOK_BACK = 1500  # characters: the paragraph or two before a definition


def _context_bound(c: Candidate, book_text: str = "") -> str:
    """The sentence before the definition, in its passage or in the book's few paragraphs
    before it, that names the term as one part of a proposed idea, or ""."""
    if c.row["category"] != "definition" or c.notes or not c.term:
        return ""
    text = c.passage
    said = c.row["output"][:40].casefold()  # "Finally, context refers to ..." in the book
    at = text.casefold().find(said)
    in_book = book_text.casefold().find(said) if book_text else -1
    if in_book > 0:
        # "Finally, context refers to the reward structure ...", a paragraph after the idea
        # is named: the paragraphs before say whose parts these are.
        text, at = book_text[max(0, in_book - _LOOK_BACK) : in_book], min(in_book, _LOOK_BACK)
    if at <= 0:
        return ""
    term = re.escape(re.sub(r"\s*\([^)]*\)", "", c.term).casefold())
    listed = re.compile(
        rf"(?:, |\b(?:which|whom) ){term}(?:,| and\b| or\b)|(?:,|\band|\bor) {term}\b"
    )
    for sentence in re.split(r"(?<=[.!?])\s+", text[:at]):
        low = sentence.casefold()
        if listed.search(low) and _PROPOSAL.search(low):
            return sentence[:80]
    return ""


def repair(c: Candidate) -> Candidate:
    """`c` with what points back at text it does not carry taken out, where the rest of the
    sentence stands alone: "In another study, older volunteers were given ..." -> "Older
    volunteers were given ..."; "Based on how the infants responded to the separation,
    Ainsworth identified ..." -> "Ainsworth identified ..."; "Rogers further divided" ->
    "Rogers divided"; "Sternberg developed another theory" -> "... developed a theory". What
    cannot be taken out safely is left for `critique` to reject."""
    out = c.row["output"]
    fixed = out
    m = re.match(
        r"^(?:In|For) (?:another|a second|a further|a later|a follow-up|a similar|a related|"
        r"one such) (?:study|experiment|investigation|project)(?: [^,]{0,40})?, (?P<rest>.+)$",
        fixed,
    )
    if m and not _LEANING.match(m.group("rest")):
        fixed = m.group("rest")[:1].upper() + m.group("rest")[1:]
    m = re.match(r"^Based on [^,]{3,100}, (?P<rest>(?:[A-Z][\w’'-]+ )+[a-z]+ed\b.*)$", fixed)
    if m and not _LEANING.match(m.group("rest")):
        fixed = m.group("rest")
    fixed = re.sub(
        r"(?<=\w) further (?=(?:divided|subdivided|classified|categorized)\b)", " ", fixed
    )
    # "a written legal document ... (see living will)": a pointer to another entry.
    fixed = re.sub(r" \((?:see|compare|cf\.) [^()]{1,60}\)", "", fixed)

    def _a(m: re.Match[str]) -> str:
        right = _an_is_right(m.group(2))
        return f"{m.group(1)} {'an' if right else 'a'} {m.group(2)}"

    fixed = re.sub(
        r"\b(developed|proposed|offered|introduced|created|suggested|formulated|described) "
        r"another ([a-z][\w-]*)",
        _a,
        fixed,
    )
    if fixed == out:
        return c
    row = {**c.row, "output": fixed}
    return replace(c, row=row, notes=(*c.notes, "a reference to earlier text taken out"))


def critique(c: Candidate, book_text: str = "") -> tuple[str, str] | None:
    """(reason, detail) for the first check `c` fails; None when it reads well."""
    row = c.row
    instruction, output, input_ = row["instruction"], row["output"], row["input"]
    if len(output) < 25:
        return "too short", output
    if len(output) > 1500:
        return "too long", f"{len(output)} characters"
    m = _DANGLING.search(instruction) or _DANGLING.search(output)
    if m:
        return "dangling reference", m.group(0)
    story = _STORY_OPENING.match(output) or _STORY_YOU.search(output)
    if story or c.llm and _SECOND_PERSON.search(output):
        # The book's generic "you" ("In positive punishment, you add ...") is its style; the
        # reader addressed in the story ("If so, you've ...") is not.
        return "story-bound", story.group(0) if story else "you"
    if _PRONOUN_OPENING.match(output):
        return "not self-contained", output.split()[0]
    m = _BACK_REFERENCE.search(output)
    if m:
        return "points back", m.group(0)
    pair = _unnamed_pair(output)
    if pair:
        return "points back", pair
    if row["category"] == "definition" and _DURING.match(output):
        return "says what happens during it, not what it is", output[:60]
    for m in _EACH_ROLE.finditer(output):
        role = m.group(1).casefold()
        plural = {"child": "children", "person": "people"}.get(role, role + "s")
        if not re.search(
            rf"\b(?:{plural}|(?:a|an|one) (?:[\w-]+ ){{0,3}}{role})\b", output[: m.start()], re.I
        ):
            return "points back", m.group(0)  # "Each student was paid ...": which students?
    m = _WHEN_PRONOUN.search(output)
    if m:
        return "not self-contained", m.group(0)  # "X is when they ...": who are "they"?
    if "?" in output:
        return "question in the answer", ""
    if row["category"] == "definition" and (
        _WE_DEFINITION.match(output)
        or "gloss: clause" in c.notes
        and re.match(r"^In [^,]{1,60}, (?:individuals|people|persons|a person)\b", output)
    ):
        return "definition says what we do, not what it is", output[:60]
    bound = _context_bound(c, book_text)
    if bound:
        return "definition bound to one theory", bound
    if row["category"] == "definition" and output.startswith("According to "):
        # "Define X" answered with a claim made under X's name: not a definition.
        return "definition answered with a claim", output[:80]
    m = _IS_WHEN.search(output)
    if m and row["category"] in ("definition", "comparison"):
        return "definition by 'is when/where'", m.group(0)
    if row["category"] in ("experiment", "case_study"):
        problem = _experiment_problem(output, row["category"])
        if problem:
            return problem
    m = _ANOTHER.match(output)
    if m:
        return "not self-contained", m.group(1)  # "X is another tool ...": another than what?
    for m in _DEMONSTRATIVE.finditer(output):
        noun = m.group(1).casefold()
        # "these age-related averages": which ones? ("These gaps" after "small gaps" is fine.)
        if noun not in output[: m.start()].casefold():
            return "not self-contained", m.group(0)
    if "?" in instruction.rstrip(" ?") or _SECOND_PERSON.search(instruction):
        return "instruction not a single question", instruction
    if c.term:
        words = c.term.split()
        if words[0].casefold().strip("'\"“") in _ADVICE and len(words) > 1:
            return "advice as term", c.term
        if looks_like_name(c.term, output, book_text):
            return "name as term", c.term
        if not _mentions(output, c.term):
            return "off-topic answer", c.term
        problem = (
            _subject_agreement(output, c.term)
            or _complement_agreement(output, c.term)
            or head_agreement(output)
        )
        if problem:
            return "number agreement", problem
        names = {w.casefold() for w in re.findall(r"(?<=\s)[A-Z][\w-]+", output)}
        # "... refers to the second stage of sleep": ordinals and "stage" add nothing.
        said = set(_content_words(output)) - set(_content_words(c.term)) - names - _EMPTY
        if not said or _ONLY_WHO.match(output):
            return "says nothing about the term", output[:80]  # "X is Y's theory of X"
    if row["category"] == "theory":
        m = _THEORY_IS.match(output)
        if m and not _THEORY_GENUS.search(" ".join(m.group("what").split()[:6])):
            # "Signal detection theory is a change in stimulus detection ...": a theory is an
            # explanation, not the thing it explains.
            return "theory defined as something else", m.group(0)[:80]
    problem = agreement_problem(output[:200])
    if problem:
        return "article agreement", problem
    doubled = _DOUBLED_VERB.search(output)
    if doubled:
        return "doubled verb", doubled.group(0)
    slip = _BOOK_SLIP.search(output)
    if slip:
        # The book's own slip ("a recent experience that is that readily available", "the
        # the"): copied into an answer, a model learns it; the row is better missing.
        return "the book's typo", slip.group(0)
    is_verb = re.search(r"\bis (\w+)\b", output[:120])
    if is_verb and is_verb.group(1).casefold() in _VERBS_3SG - {"results", "studies"}:
        return "doubled verb", is_verb.group(0)  # "is controls", "is involves"
    if input_:
        ratio = SequenceMatcher(None, normalise(input_), normalise(output), autojunk=False)
        if (
            ratio.ratio() > 0.8
            or normalise(output) in normalise(input_)
            and (len(output) > 0.6 * len(input_))
        ):
            return "echoes its input", f"{ratio.ratio():.0%} alike"
    return None


def _mentions(output: str, term: str) -> bool:
    """The answer names the term (or its head word, or its abbreviation): a definition of
    something else is off-topic."""
    out = normalise(output)
    key = normalise(re.sub(r"\s*\([^)]*\)", "", term))
    if key and key in out:
        return True
    words = [w for w in key.split() if len(w) > 3]
    return bool(words) and all(_stem(w) in out for w in words)


def grounding(c: Candidate) -> tuple[str, str] | None:
    """An LLM row's claim to come from its passage: the words it asks about and every number
    it states are in the passage. (reason, detail) when not."""
    passage = normalise(c.passage)
    stems = {_stem(w) for w in re.findall(r"[a-z][a-z’'-]{3,}", passage)}
    asked = _content_words(c.row["instruction"])
    missing = [w for w in asked if _stem(w) not in stems]
    if asked and len(missing) * 2 > len(asked):
        return "not grounded: asks about what the passage does not say", ", ".join(missing[:4])
    said = _content_words(c.row["output"])
    unsaid = [w for w in said if _stem(w) not in stems]
    if said and len(unsaid) * 3 > len(said):
        return "not grounded: the answer goes beyond the passage", ", ".join(unsaid[:4])
    digits = {n.rstrip("%").replace(",", "") for n in _NUMBER.findall(c.passage)}
    for n in _NUMBER.findall(f"{c.row['instruction']} {c.row['output']}"):
        if n.rstrip("%").replace(",", "") not in digits:
            return "not grounded: a number not in the passage", n
    return None


@dataclass
class Critic:
    """Reads every row once; remembers outputs, so the second of two identical answers to
    different questions is dropped (a model learns nothing from the pair)."""

    book_text: str = ""
    outputs: set[str] = field(default_factory=set)
    theories: set[str] = field(default_factory=set)  # theories already asked about

    def verdict(self, c: Candidate) -> tuple[str, str] | None:
        found = critique(c, self.book_text)
        if found is None and c.llm:
            found = grounding(c)
        if found is None:
            key = normalise(c.row["output"])
            if key in self.outputs:
                return "identical output", c.row["output"][:80]
            theory = theory_key(c.row)
            if theory and theory in self.theories:
                # The text's "Place theory suggests ..." and the glossary's entry: one row.
                return "theory already asked", theory
        return found

    def accept(self, c: Candidate) -> None:
        self.outputs.add(normalise(c.row["output"]))
        theory = theory_key(c.row)
        if theory:
            self.theories.add(theory)


_ASKS_THEORY = re.compile(r"^(?:What does (?P<a>.+) \w+\?|(?:Explain|Describe) (?P<b>.+)\.)$")


def theory_key(row: Row) -> str:
    """The theory a theory row asks about, however it is written ("the set-point theory",
    "set point theory"); "" for other rows and for claims of a person."""
    if row.get("category") != "theory":
        return ""
    m = _ASKS_THEORY.match(row["instruction"])
    if m is None:
        return ""
    name = normalise((m.group("a") or m.group("b")).replace("-", " "))
    return re.sub(r"^(?:the|a|an) ", "", name)
