"""psych_plugin/book/definitions.py: defined terms (bold, "X is a ...", glossary lines) and the
"What is X?" rows made from them. A gloss becomes a sentence by its own shape, never by gluing
"is a" in front of whatever it starts with."""

from __future__ import annotations

import re

import pytest

from psych_plugin.book.definitions import (
    _DEFINE,
    TermStyle,
    bold_definitions,
    definition_row,
    gloss_sentence,
    glossary_entry,
    sentence_definitions,
)

from .conftest import BOOK, build, rows_of

EXPECTED_DEFINITIONS = {
    # term -> words its answer must contain (bold, "is a", "refers to", "is defined as",
    # apposition, "known as", glossary ":" and " - " lines)
    "classical conditioning": "neutral stimulus",
    "extinction": "gradual weakening",
    "spontaneous recovery": "briefly return",
    "conditioned response": "Pavlov called",
    "operant conditioning": "consequences",
    "reinforcement": "increases the probability",
    "working memory": "limited-capacity",
    "episodic memory": "personal experiences",
    "schema": "mental framework",
    "object permanence": "continue to exist",
    "attachment": "emotional bond",
    "zone of proximal development": "with help",
    "hippocampus": "medial temporal lobe",
}


def test_each_term_is_defined_once_with_the_books_words(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    definitions = [r for r in rows if r["category"] == "definition" and not r["input"]]
    for term, words in EXPECTED_DEFINITIONS.items():
        hits = [r for r in definitions if re.search(rf"\b{term}\b", r["instruction"], re.I)]
        assert len(hits) == 1, f"{term!r}: {len(hits)} definition rows"
        assert words in hits[0]["output"], (term, hits[0]["output"])
    # The answer goes on while the paragraph goes on about the term.
    (classical,) = [r for r in definitions if "classical conditioning" in r["instruction"]]
    assert "Pavlov" in classical["output"]
    # Questions read naturally and vary, chosen deterministically.
    assert any(r["instruction"] == "What is a schema?" for r in definitions)
    templates = {t.split("{")[0] for t in _DEFINE}
    used = {t for t in templates for r in definitions if r["instruction"].startswith(t)}
    assert len(used) >= 3
    # "interference" is defined in the running text and in the glossary: one row, and the
    # text's own "X is ..." sentence would win over the glossary's gloss; here the running
    # text only mentions it ("Interference is a major cause of ..." is not marked).
    assert len([r for r in definitions if '"interference"' in r["instruction"]]) == 1


def test_definitions_are_trimmed_and_self_contained(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    answers = {r["instruction"]: r["output"] for r in rows if r["category"] == "definition"}

    def answer(term: str) -> list[str]:
        return [a for q, a in answers.items() if re.search(rf"\b{term}\b", q, re.I)]

    # Run-on: the second term's definition and the exercise after it are cut off.
    assert answer("visual encoding") == ["Visual encoding is the encoding of images."]
    # Lost context: "It probably required ... This is known as effortful processing" is not
    # a definition on its own; the glossary's is.
    assert answer("effortful processing") == [
        "Effortful processing is encoding that requires attention and effort, such as "
        "rehearsing a list."
    ]
    assert not any("It probably" in a or "this kind" in a for a in answers.values())
    # A slogan in bold is not a term.
    assert not answer("rehearse")
    # Tied to the story ("the maze" of that study) or pointing at "the following example":
    # not a definition a reader can use.
    assert not answer("cognitive map") and not answer("maintenance rehearsal")
    # A glossary fragment without an article the book uses: the term is quoted, not glued.
    assert answer("forgetting curve") == [
        'The term "forgetting curve" refers to a graph of how much learned material is lost as '
        "time passes since learning."
    ]
    assert "The hippocampus is a structure in the medial temporal lobe" in answer("hippocampus")[0]
    for a in answers.values():  # nothing opens with a pronoun or points at a figure
        assert not re.match(r"(?:It|This|These|They)\b", a) and "Figure" not in a, a
    # Advice in bold and a story-bound "definition" are not written.
    assert not answer("use spaced study sessions") and not answer("cramming")


STYLE = TermStyle(
    "The amygdala is deep in the brain, and the amygdala is part of the limbic system. "
    "A neuron is a cell. A prototype is used. Learning happens. A job analysis is done."
)


@pytest.mark.parametrize(
    ("term", "gloss", "sentence", "shape"),
    [
        # determiner first
        (
            "health care proxy",
            "a legal document that names who decides",
            'The term "health care proxy" refers to a legal document that names who decides.',
            "gloss: noun phrase",
        ),
        # verb first, with the book's article
        (
            "amygdala",
            "processes emotional memories, especially fear",
            "The amygdala processes emotional memories, especially fear.",
            "gloss: verb phrase",
        ),
        # gerund first
        (
            "shaping",
            "rewarding successive approximations toward a target behavior",
            "Shaping is rewarding successive approximations toward a target behavior.",
            "gloss: gerund",
        ),
        # a clause: what happens under the term
        (
            "inductive reasoning",
            "conclusions are drawn from observations",
            "In inductive reasoning, conclusions are drawn from observations.",
            "gloss: clause",
        ),
        (
            "law of effect",
            "behaviors followed by satisfying outcomes are more likely to recur",
            "According to the law of effect, behaviors followed by satisfying outcomes are more "
            "likely to recur.",
            "gloss: clause",
        ),
        # a noun phrase: the article decided by the head noun and the book
        (
            "neuron",
            "cell in the nervous system that transmits information",
            "A neuron is a cell in the nervous system that transmits information.",
            "gloss: noun phrase",
        ),
        (
            "genotype",
            "genetic makeup of an individual",
            'The term "genotype" refers to the genetic makeup of an individual.',
            "gloss: noun phrase",
        ),
        (
            "satiation",
            "fullness after eating",
            "Satiation is fullness after eating.",
            "gloss: noun phrase",
        ),
        (
            "biases",
            "systematic errors in judgment",
            "Biases are systematic errors in judgment.",
            "gloss: noun phrase",
        ),
        (
            "preoperational stage",
            "second stage in Piaget’s theory; from ages 2 to 7, children learn to use symbols",
            'The term "preoperational stage" refers to the second stage in Piaget’s theory. From '
            "ages 2 to 7, children learn to use symbols.",
            "gloss: noun phrase",
        ),
        (
            "Multiple Intelligences Theory",
            "Gardner’s theory that each person has eight kinds",
            "The Multiple Intelligences Theory is Gardner’s theory that each person has eight "
            "kinds.",
            "gloss: noun phrase",
        ),
    ],
)
def test_gloss_sentence_follows_the_glosss_shape(term, gloss, sentence, shape):
    assert gloss_sentence(term, gloss, STYLE) == (sentence, shape)


@pytest.mark.parametrize(
    ("term", "gloss"),
    [
        ("neuron", "cells in the nervous system that carry signals"),  # singular term, plural gloss
        ("optic nerve", "carries visual information to the brain"),  # no article known
        ("generalize", "inferring that results apply to a population"),  # a verb as the term
        ("debriefing", "when an experiment involved deception, participants are told"),
        ("empirical", "grounded in objective, tangible evidence"),  # an adjective
        ("peripheral route", "one person persuades another person"),
        ("Wernicke’s area", "important for speech comprehension"),  # an adjective, no noun
        ("sensory adaptation", "not perceiving stimuli that remain constant"),
        ("central nervous system", "brain and spinal cord"),  # "the brain ...": not said
        ("similarity", "things that are alike tend to be grouped together"),
        ("practical intelligence", "aka “street smarts”"),
        ("somatic nervous system", "relays sensory and motor information to the brain"),
        ("Stanford prison experiment", "Stanford University conducted an experiment"),
        # A clause with its own subject and a modal: no "refers to a/an" fits it.
        ("Fair Housing Code", "landlords cannot refuse a tenant based on age"),
        # Circular: the trait that sets it apart is the term's own words.
        ("night walking disorder", "type of sleep disorder marked by night walking and fatigue"),
        # The part after ";" tells it from its pair; the first part alone fits both.
        (
            "treated sample",
            "sample chosen to test the idea; treatment is the only difference between the"
            " treated and the untreated sample",
        ),
    ],
)
def test_gloss_sentence_refuses_what_it_cannot_make_grammatical(term, gloss):
    assert gloss_sentence(term, gloss, STYLE) is None


def test_a_gloss_keeps_its_term_words_when_they_are_not_the_trait():
    """Only the trait after "marked by" / "characterized by" is checked for the term's words;
    a genus naming the head noun, or a trait of other words, is a definition."""
    made = gloss_sentence(
        "night walking disorder", "type of sleep disorder marked by rising from bed asleep", STYLE
    )
    assert made is not None and "rising from bed" in made[0]
    kept = gloss_sentence(
        "treated sample",
        "sample chosen to test the idea; in a careful study, the sample is picked at random",
        STYLE,
    )
    assert kept is not None and "picked at random" in kept[0]


def test_a_term_named_in_apposition_is_defined_as_the_subject():
    """ "The widest ridge, known as the **main crest**, is the ridge that ...": the sentence
    defines the term under another name; it is said with the term as its subject."""
    found = bold_definitions(
        "The widest ridge, known as the **main crest**, is the ridge that splits the shell into"
        " two equal halves. Small shellfish, called **spats**, are mussels that have just"
        " settled on rocks."
    )
    said = {d.term: (d.sentences[0], d.plural) for d in found}
    assert said["main crest"] == (
        "The main crest is the ridge that splits the shell into two equal halves.",
        False,
    )
    assert said["spats"] == ("Spats are mussels that have just settled on rocks.", True)
    # "..., known as the X, is very uneven": a remark, not a definition.
    remark = bold_definitions("The outer layer, known as the **rind**, is very uneven in depth.")
    assert not [d for d in remark if d.term == "rind"]


def test_glossary_lines_and_running_text():
    entry = glossary_entry("**Biases**: systematic errors in judgment", STYLE)
    assert entry is not None and entry.glossary and entry.plural
    assert entry.sentences == ("Biases are systematic errors in judgment.",)
    assert glossary_entry("Rehearse, rehearse: a slogan", STYLE) is None
    # The book's own sentence about a bold term, kept as written.
    (d,) = bold_definitions("**Extinction** is the weakening of a learned response over time.")
    assert d.how == "text" and d.sentences[0].startswith("Extinction is the weakening")
    # Named mid-sentence in a list is not a definition of the last item.
    named = "The ear has three bones, named the malleus, incus, and the **stapes**."
    assert bold_definitions(named) == []
    # "X is a ..." without bold: weak evidence; "refers to" / "is defined as": strong.
    (weak,) = sentence_definitions("Heart disease is a condition that many adults develop.")
    (strong,) = sentence_definitions("Attachment refers to the bond between child and carer.")
    assert (weak.how, strong.how) == ("sentence-weak", "sentence")
    assert sentence_definitions("Two additional principles are the law of closure and more.") == []


def test_the_next_sentence_continues_only_about_the_term():
    (d,) = bold_definitions(
        "**Theta waves** are slower than alpha waves. It is relatively easy to wake someone "
        "from stage 1 sleep."
    )
    assert d.sentences == ("Theta waves are slower than alpha waves.",)


def test_run_on_cut_but_not_inside_a_list():
    from psych_plugin.book.definitions import tidy

    assert tidy("Rods detect dim light in the dark, and cones are cells for colour.") == (
        "Rods detect dim light in the dark."
    )
    listed = "Standardization means that administration, scoring, and scoring rules are fixed."
    assert tidy(listed) == listed
    # "X are typically documented ...": said about X, not what X is.
    assert bold_definitions("**Appraisals** are typically documented once or twice a year.") == []


def test_definition_row_questions():
    d = glossary_entry("**Prototype**: best example of a concept", STYLE)
    assert d is not None
    row = definition_row(d, STYLE, "S")
    assert '"prototype"' in row["instruction"]  # quoted: "Define prototype" has no article
    assert row["category"] == "definition" and row["source"] == "S"


def test_term_style_capitals_and_articles():
    style = TermStyle(
        "Personality is studied. The Minnesota Multiphasic Personality Inventory is a test. "
        "Children in the Strange Situation were observed. A reflex is quick, and a reflex is old."
    )
    assert style.display("Personality") == "personality"  # capitalised only inside a name
    assert style.display("Strange Situation") == "Strange Situation"
    assert style.display("Cannon-Bard theory") == "Cannon-Bard theory"
    assert style.display("Meissner’s corpuscle") == "Meissner’s corpuscle"
    assert style.article("reflex") == "a"
    assert style.article("personality") == ""


MORE_SHAPES = [
    # the article by the head noun: "the" before "X of" unless the head is counted ("a type")
    (
        "morpheme",
        "smallest unit of language that conveys meaning",
        'The term "morpheme" refers to the smallest unit of language that conveys meaning.',
    ),
    (
        "menarche",
        "beginning of menstrual period",
        'The term "menarche" refers to the beginning of menstrual period.',
    ),
    ("amplitude", "height of a wave", 'The term "amplitude" refers to the height of a wave.'),
    (
        "token economy",
        "controlled setting where tokens are earned for good behavior",
        'The term "token economy" refers to a controlled setting where tokens are earned for good '
        "behavior.",
    ),
    (
        "relapse",
        "repeated drug use after a period of improvement",
        'The term "relapse" refers to repeated drug use after a period of improvement.',
    ),
    (
        "general adaptation syndrome",
        "Hans Selye’s three-stage model of stress",
        'The term "general adaptation syndrome" refers to Hans Selye’s three-stage model of '
        "stress.",
    ),
    (
        "psychological dependence",
        "emotional, rather than a physical, need for a drug",
        "Psychological dependence is an emotional, rather than a physical, need for a drug.",
    ),
    # gerunds, including short ones and ones followed by "and"
    (
        "job analysis",
        "determining and listing tasks of a job",
        'The term "job analysis" refers to determining and listing tasks of a job.',
    ),
    (
        "aggression",
        "seeking to cause harm or pain to another person",
        "Aggression is seeking to cause harm or pain to another person.",
    ),
    (
        "continuous reinforcement",
        "rewarding a behavior every time it occurs",
        "Continuous reinforcement is rewarding a behavior every time it occurs.",
    ),
    (
        "higher-order conditioning",
        "using a conditioned stimulus to condition another one",
        "Higher-order conditioning is using a conditioned stimulus to condition another one.",
    ),
    # clauses under a named theory or hypothesis
    (
        "Cannon-Bard theory",
        "arousal and emotional experience occur at the same time",
        "According to the Cannon-Bard theory, arousal and emotional experience occur at the same "
        "time.",
    ),
    (
        "facial feedback hypothesis",
        "facial expressions are capable of influencing emotions",
        "According to the facial feedback hypothesis, facial expressions are capable of "
        "influencing emotions.",
    ),
    # a verb phrase with "and" in it is still a verb phrase
    (
        "amygdala",
        "controls fear and anger responses",
        "The amygdala controls fear and anger responses.",
    ),
]


@pytest.mark.parametrize(("term", "gloss", "sentence"), MORE_SHAPES)
def test_gloss_sentence_more_shapes(term, gloss, sentence):
    made = gloss_sentence(term, gloss, STYLE)
    assert made is not None and made[0] == sentence


@pytest.mark.parametrize(
    ("term", "gloss"),
    [
        ("hertz", "cycles per second"),  # a singular term glossed with a plural head
        ("somatic nervous system", "relays sensory and motor information to the brain"),
        ("similarity", "things that are alike tend to be grouped together"),
    ],
)
def test_gloss_sentence_refuses_more(term, gloss):
    assert gloss_sentence(term, gloss, STYLE) is None


def test_template_slips():
    book = (
        "Semantics refers to meaning. The Rogerian therapy of Carl Rogers.\n\n"
        "We tend to segment our visual world. Shaping is used by trainers.\n"
    )
    style = TermStyle(book)
    # A circular first part keeps what describes the term; later clauses are not glued on.
    made = gloss_sentence(
        "stage 2 sleep",
        "second stage of sleep; the body relaxes; characterized by the appearance of spindles",
        style,
    )
    assert made is not None
    assert made[0].endswith("second stage of sleep, characterized by the appearance of spindles.")
    # "semantics" is one field: "What is semantics?", never "What are semantics?".
    d = glossary_entry("**semantics**: process by which we derive meaning from words", style)
    assert d is not None and not d.plural
    assert not definition_row(d, style, "s")["instruction"].startswith("What are")
    # A gerund gloss follows "is" only for a term naming an activity.
    made = gloss_sentence("figure-ground relationship", "segmenting our visual world", style)
    assert made is not None and made[0].startswith('The term "figure-ground relationship" refers')
    made = gloss_sentence("shaping", "rewarding successive approximations of a behavior", style)
    assert made is not None and made[0].startswith("Shaping is rewarding")
    # An alias in parentheses: the book's own name for the thing, not the parenthesis.
    d = glossary_entry(
        "**Rogerian (client-centered therapy)**: non-directive form of humanistic therapy", style
    )
    assert d is not None and "Rogerian therapy" in d.sentences[0]
    assert "(" not in definition_row(d, style, "s")["instruction"]


def test_a_gloss_no_is_fits_is_said_with_refers_to():
    style = TermStyle("Nothing here.")
    # Two nouns ("prejudice and discrimination"): no one article fits, "refers to" needs none.
    made = gloss_sentence(
        "heightism", "prejudice and discrimination toward individuals based solely on height", style
    )
    assert made == (
        'The term "heightism" refers to prejudice and discrimination toward individuals based'
        " solely on height.",
        "gloss: noun phrase (refers to)",
    )
    # A singular term glossed with a plural ("specific beliefs ..."), an attributive adjective.
    made = gloss_sentence("cliche", "specific beliefs or sayings about a group of people", style)
    assert made is not None and made[0].startswith('The term "cliche" refers to specific beliefs')
    # A verb or a lone word that may be one, a clause, a "how": no row rather than a bad one.
    for term, gloss in (
        ("control group", "serves as a basis for comparison and controls for chance factors"),
        ("vestibular sense", "contributes to our ability to maintain balance and body posture"),
        ("proximity", "things that are close to one another tend to be grouped together"),
        ("temperament", "how a person reacts to the world, including their activity level"),
    ):
        assert gloss_sentence(term, gloss, style) is None, term
    # The book's own sentence about the term beats such a gloss (rules._RANK).
    d = glossary_entry(
        "**heightism**: prejudice and discrimination toward the short or tall", style
    )
    assert d is not None and d.how == "glossary-weak"


def test_a_gloss_opening_with_a_list_of_modifiers_has_its_head_after_the_list():
    made = gloss_sentence(
        "bookish", "quiet, studious, and/or solitary habits of reading alone", TermStyle("x")
    )
    assert made is not None
    assert made[0] == 'The term "bookish" refers to quiet, studious, and/or solitary habits of' + (
        " reading alone."
    )


def _fixture_rows(tmp_path) -> dict[str, dict[str, str]]:
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    return {r["instruction"]: r for r in rows_of(out)}


def _answer_about(rows: dict[str, dict[str, str]], term: str) -> str:
    (answer,) = [
        r["output"] for q, r in rows.items() if f'"{term}"' in q and r["category"] == "definition"
    ]
    return answer


def test_a_gloss_whose_genus_is_the_terms_own_head_gets_the_right_articles(tmp_path):
    """ "reactive aggression: aggression provoked by ...": a mass noun takes no article
    ("is aggression", not "is an aggression"); "tight culture: culture that ...": a count noun
    the book uses with "a" gives the term its article too ("A tight culture is a culture")."""
    rows = _fixture_rows(tmp_path)
    assert _answer_about(rows, "reactive aggression") == (
        "Reactive aggression is aggression provoked by a perceived threat or insult from "
        "another person."
    )
    assert _answer_about(rows, "tight culture").startswith("A tight culture is a culture that")


def test_a_gloss_opening_with_a_possessive_gets_an_article(tmp_path):
    rows = _fixture_rows(tmp_path)
    assert _answer_about(rows, "therapeutic alliance").startswith(
        "Therapeutic alliance is the client’s trust and collaboration"
    )


def test_an_eponym_keeps_its_capital_and_a_named_test_its_article(tmp_path):
    """ "Golgi tendon organs" in the running text: "Golgi" is a name, never "golgi"; a named
    inventory reads "The Beck Depression Inventory (BDI) is ..."."""
    rows = _fixture_rows(tmp_path)
    assert '"Golgi tendon organ" refers to a receptor' in _answer_about(rows, "Golgi tendon organ")
    assert not any("golgi" in q for q in rows)
    assert _answer_about(rows, "Beck Depression Inventory (BDI)").startswith(
        "The Beck Depression Inventory (BDI) is a self-report questionnaire"
    )


def test_a_thing_is_asked_what_it_is_and_a_claim_is_not_a_definition():
    """ "Explain the concept of "cornea"" -> "What is the cornea?"; a definition that is a
    named hypothesis's claim ("According to the ... hypothesis, ...") is asked as a theory."""
    from psych_plugin.book.definitions import Definition
    from psych_plugin.book.text import pick

    term = "cornea"
    assert pick(term, _DEFINE) == _DEFINE[3]  # "Explain the concept of ..." by default
    style = TermStyle(
        f"Light passes the {term}. It is bent by the {term}, and the {term} is clear."
    )
    d = Definition(term, "the", False, (f"The {term} is a clear part of the eye.",))
    assert definition_row(d, style, "S")["instruction"] == f"What is the {term}?"
    claim = Definition(
        "mirror hypothesis",
        "",
        False,
        ("According to the mirror hypothesis, people copy the posture of those they like.",),
        glossary=True,
    )
    row = definition_row(claim, TermStyle(""), "S")
    assert row["category"] == "theory"
    assert row["instruction"] == "What does the mirror hypothesis state?"


def test_is_when_definitions_are_dropped_under_their_reason(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out, "--explain-rejections") == 0
    assert not any("learned helplessness" in r["instruction"] for r in rows_of(out))
    printed = capsys.readouterr().out
    assert "Learned helplessness is when" in printed.split("== rejected: definition by 'is when")[1]


def test_a_gloss_opening_with_a_quantifier_takes_no_article():
    made = gloss_sentence("polytrait", "multiple genes acting together on one trait", None)
    assert made is not None and "refers to multiple genes" in made[0]


def test_a_gloss_whose_parts_are_all_what_the_term_assumes_is_one_claim():
    # "assumes A; B; C": B and C are more of what it assumes, not sentences cut loose.
    assert gloss_sentence(
        "Theory Q",
        "assumes staff are lazy; managers must watch them; rewards do not help",
        STYLE,
    ) == (
        "Theory Q assumes that staff are lazy, that managers must watch them, and that rewards "
        "do not help.",
        "gloss: verb phrase",
    )


def test_a_concept_glossed_as_asserting_is_a_view_and_a_theory_still_asserts():
    # A concept cannot assert: what it names is a view. A theory or law can.
    assert gloss_sentence(
        "habit ceiling", "asserts our routines set limits within which effort can move us", STYLE
    ) == (
        "Habit ceiling is the view that our routines set limits within which effort can move us.",
        "gloss: verb phrase",
    )
    assert gloss_sentence(
        "ceiling theory", "asserts that routines set limits on change", STYLE
    ) == ("Ceiling theory asserts that routines set limits on change.", "gloss: verb phrase")


def test_a_noun_gloss_that_is_really_a_clause_is_refused():
    # "infant ... suddenly dies": no "X is" or "refers to" makes that a sentence.
    assert (
        gloss_sentence("crib syndrome", "infant with no known illness suddenly dies", STYLE) is None
    )
    # "early stages" is an adjective, not an adverb before a verb: the gloss is kept.
    assert gloss_sentence("neuron", "cell in its early stages of growth", STYLE) == (
        "A neuron is a cell in its early stages of growth.",
        "gloss: noun phrase",
    )


def test_a_term_with_of_takes_its_number_from_the_head_and_a_list_takes_no_article():
    # "components of emotion": plural, whatever "emotion" is; the gloss is a list of three
    # things, which no "a" fits.
    assert gloss_sentence(
        "components of emotion",
        "physiological arousal, psychological appraisal, and subjective experience",
        STYLE,
    ) == (
        'The term "components of emotion" refers to physiological arousal, psychological '
        "appraisal, and subjective experience.",
        "gloss: noun phrase (refers to)",
    )


def test_a_noun_with_its_participle_is_not_read_as_a_clause():
    # "become" belongs to "aimed at helping people become ...", not to the gloss's subject.
    assert gloss_sentence(
        "humanistic therapy",
        "therapeutic orientation aimed at helping people become more self-aware",
        STYLE,
    ) == (
        "Humanistic therapy is a therapeutic orientation aimed at helping people become more "
        "self-aware.",
        "gloss: noun phrase",
    )


def test_an_irregular_participle_opens_a_predicate_and_a_person_is_not_an_adjective():
    style = TermStyle("The amygdala is small. The amygdala is deep. The neuron fires.")
    assert gloss_sentence("amygdala", "made up of two nuclei and controls fear", style) == (
        "The amygdala is made up of two nuclei and controls fear.",
        "gloss: participle",
    )
    # "obese: adult with a BMI ...": the term is not an adult; nor is a disorder a person.
    assert gloss_sentence("obese", "adult with a BMI of 30 or higher", STYLE) is None
    assert gloss_sentence("dual disorder", "individual who has two diagnoses", STYLE) is None
    assert gloss_sentence("neuron", "person who carries signals", STYLE) is not None


def test_a_possessive_genus_takes_the_and_a_mass_noun_none():
    assert gloss_sentence("neuroplasticity", "nervous system's ability to change", STYLE) == (
        "Neuroplasticity is the nervous system's ability to change.",
        "gloss: noun phrase",
    )
    assert gloss_sentence("hypertension", "high blood pressure", STYLE) == (
        "Hypertension is high blood pressure.",
        "gloss: noun phrase",
    )
    # "belief that one's ...": the possessive is in the clause, not the genus.
    assert gloss_sentence("determinism", "belief that one’s acts are caused", STYLE)[0] == (
        "Determinism is a belief that one’s acts are caused."
    )


def test_a_plural_possessive_is_the_determiner():
    assert gloss_sentence(
        "felt control", "peoples’ beliefs concerning their power over outcomes", STYLE
    ) == (
        'The term "felt control" refers to peoples’ beliefs concerning their power over outcomes.',
        "gloss: noun phrase",
    )
