"""psych_plugin/book/critic.py: every row is read before it is written. Each check is shown
failing on a row of the kind the issue reports (invented examples of the same shape), and
passing on a good one."""

from __future__ import annotations

import pytest

from psych_plugin.book.critic import (
    Candidate,
    Critic,
    agreement_problem,
    critique,
    grounding,
    leans_elsewhere,
    looks_like_name,
    repair,
)
from psych_plugin.book.rows import make_row


def cand(q: str, a: str, *, term: str = "", input_: str = "", llm: bool = False, passage=""):
    row = make_row(q, input_, a, "definition", "S")
    return Candidate(row, "Ch > Sec", passage, term=term, llm=llm)


GOOD = cand(
    "What is semantic encoding?",
    "Semantic encoding is the encoding of words and their meanings.",
    term="semantic encoding",
)


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (cand("What is decay?", "Too short."), "too short"),
        (cand("What is X?", "X is shown in Figure 3 as a curve that falls."), "dangling reference"),
        (
            cand("What is spacing?", "As you learned earlier in this chapter, spacing helps."),
            "dangling reference",
        ),
        (cand("What is bias?", "If so, you've already met the idea of bias."), "story-bound"),
        (cand("What is bias?", "Imagine a judge who always favours one side."), "story-bound"),
        (
            cand("What is a cue?", "It is a signal that something is about to happen."),
            "not self-contained",
        ),
        (
            cand("What is a cue?", "A cue is what? Nobody knows for sure, it seems."),
            "question in the answer",
        ),
        (
            cand(
                "What is rehearsal?",
                "Rehearsal is an allows information to stay longer.",
                term="rehearsal",
            ),
            "article agreement",
        ),
        (
            cand(
                "What is encoding?",
                "Semantic encoding is a meanings that words carry.",
                term="semantic encoding",
            ),
            "article agreement",
        ),
        (
            cand("What is bias?", "Bias are errors of judgment made by people.", term="bias"),
            "number agreement",
        ),
        (
            cand(
                "What are reflexes?", "Reflexes is a motor reaction to a stimulus.", term="reflexes"
            ),
            "number agreement",
        ),
        (
            cand(
                "What is Albert Bandura?",
                "Albert Bandura was a psychologist who studied modeling.",
                term="Albert Bandura",
            ),
            "name as term",
        ),
        (
            cand(
                'What does "use spaced study sessions" mean?',
                "Use spaced study sessions is the advice researchers give.",
                term="use spaced study sessions",
            ),
            "advice as term",
        ),
        (
            cand(
                "What is decay?",
                "Interference is the disruption of one memory by another.",
                term="decay",
            ),
            "off-topic answer",
        ),
        (
            cand("What is assimilation?", "Assimilation is when they take in what they know."),
            "not self-contained",
        ),
        (
            cand("What is a reinforcer?", "A secondary reinforcer is has no value of its own."),
            "doubled verb",
        ),
        (
            cand("What is the ANS?", "The autonomic nervous system is controls our organs."),
            "doubled verb",
        ),
        (
            cand(
                "What is adolescence?", "Adolescence is a period of life, which is discussed later."
            ),
            "dangling reference",
        ),
        (
            cand(
                "Explain the triarchic theory.",
                "The triarchic theory is Sternberg’s theory.",
                term="triarchic theory",
            ),
            "says nothing about the term",
        ),
        (
            cand(
                "What are milestones?",
                "Milestones are events we compare using these age-related averages.",
                term="milestones",
            ),
            "not self-contained",
        ),
        (
            cand("What is hertz?", 'The term "hertz" refers to a cycles per second.'),
            "article agreement",
        ),
        (
            cand("What is it?", "Higher-order conditioning is a using a conditioned stimulus."),
            "article agreement",
        ),
        (
            cand(
                "Describe the study.",
                "Rats were placed in a maze and found the food quickly.",
                input_="Rats were placed in a maze and found the food quickly. Later more.",
            ),
            "echoes its input",
        ),
        (
            cand(
                "What is paired sampling?",
                "With paired sampling, every volunteer is equally likely to join either group.",
                term="paired sampling",
            ),
            "points back",
        ),
        (
            cand(
                "What is clearance?",
                "Once the message is sent, leftover signal fades in a process known as clearance.",
                term="clearance",
            ),
            "points back",
        ),
        (
            cand(
                'What does the term "drift phase" refer to?',
                "During drift phase, the pulse slows and the eyes close.",
                term="drift phase",
            ),
            "says what happens during it, not what it is",
        ),
        (
            cand(
                "What is quiet apnea?",
                "In quiet apnea, a lapse in signals sent from the brain stem cause pauses.",
                term="quiet apnea",
            ),
            "number agreement",
        ),
        (
            cand(
                "What is the Fair Code?", 'The term "Fair Code" refers to an owners cannot refuse.'
            ),
            "article agreement",
        ),
    ],
)
def test_each_check_rejects_its_failure(candidate, reason):
    found = critique(candidate)
    assert found is not None and found[0] == reason, found


def test_groups_named_before_either_group_are_fine():
    good = cand(
        "What is paired sampling?",
        "Paired sampling puts volunteers in a treated group or an untreated group, and every"
        " volunteer is equally likely to join either group.",
        term="paired sampling",
    )
    assert critique(good) is None
    assert leans_elsewhere("During drift phase, the pulse slows.")
    assert leans_elsewhere("In quiet apnea, a lapse in signals from the brain cause pauses.")
    # A plural head, or two subjects joined by "and", takes the plural verb.
    assert not leans_elsewhere("In quiet apnea, lapses in signals from the brain cause pauses.")
    assert not leans_elsewhere("In quiet apnea, a lapse and a rise in pulse cause pauses.")
    assert leans_elsewhere("Once this is done, the rest is cleared in a process called X.")


def test_good_rows_pass():
    assert critique(GOOD) is None
    assert critique(cand("What is an MRI?", "An MRI is a scan that uses magnets.")) is None
    assert (
        critique(cand("What is a unit?", "A unit is a unique and useful thing to count.")) is None
    )
    assert agreement_problem("An hour is a unit of time, and an X-shaped cross is a mark.") == ""
    assert agreement_problem("It is an stimulus.") == '"an stimulus"'


def test_what_the_checks_leave_alone():
    # The book's generic "you" is its style, not the story (an LLM row may not use it); a
    # definition opening "In X, you ..." says what you do, not what X is (dropped above).
    generic = cand(
        "What is positive punishment?",
        "Positive punishment is adding something unpleasant after what you did, to decrease it.",
        term="positive punishment",
    )
    assert critique(generic) is None
    assert Critic().verdict(
        cand("Q about punishment?", generic.row["output"], llm=True, passage="x")
    ) == ("story-bound", "you")
    # Terms that open with a word that can also be advice, and -s words that are singular.
    for term, answer in (
        ("sleep debt", "A sleep debt is the result of insufficient sleep over weeks."),
        ("pancreas", "The pancreas is an organ that secretes insulin and glucagon."),
        ("theta waves", "Theta waves are slow brain waves seen in early stages of sleep."),
        ("semantics", "Semantics is the study of how words and sentences carry meaning."),
        ("standard deviations", "Standard deviations are measures of how data are spread."),
        ("timbre", "Timbre refers to a sound’s purity."),
        ("empathy", "Empathy is the capacity to feel what those who suffer feel."),
        ("nodes of ranvier", "The sheath has small gaps. These gaps are the nodes of Ranvier."),
    ):
        assert critique(cand(f"What is {term}?", answer, term=term)) is None, term


def test_identical_outputs_are_kept_once():
    critic = Critic()
    assert critic.verdict(GOOD) is None
    critic.accept(GOOD)
    again = cand("Define semantic encoding.", GOOD.row["output"], term="semantic encoding")
    assert critic.verdict(again) == ("identical output", GOOD.row["output"][:80])


def test_names_are_not_terms():
    assert looks_like_name("Ivan Pavlov", "Ivan Pavlov was a Russian physiologist.")
    assert looks_like_name("Tulving", "", "as Tulving (1972) showed")
    assert not looks_like_name("Strange Situation", "The Strange Situation is a procedure.")
    assert not looks_like_name("classical conditioning", "Classical conditioning is learning.")


PASSAGE = (
    "Working memory holds about four chunks of information at once. Baddeley and Hitch "
    "proposed in 1974 that it has a central executive and a phonological loop."
)


def test_llm_rows_must_be_grounded_in_their_passage():
    ok = cand(
        "What parts did Baddeley and Hitch propose for working memory?",
        "They proposed a central executive and a phonological loop in 1974.",
        llm=True,
        passage=PASSAGE,
    )
    assert grounding(ok) is None
    wrong_number = cand(
        "How many chunks does working memory hold?",
        "Working memory holds about seven chunks, or 7 items, of information.",
        llm=True,
        passage=PASSAGE,
    )
    assert grounding(wrong_number) == ("not grounded: a number not in the passage", "7")
    elsewhere = cand(
        "What did Freud say about dreams and the unconscious?",
        "Freud said dreams reveal unconscious wishes.",
        llm=True,
        passage=PASSAGE,
    )
    assert grounding(elsewhere)[0] == "not grounded: asks about what the passage does not say"
    beyond = cand(
        "What is working memory?",
        "Working memory depends on dopamine released by prefrontal neurons during rehearsal.",
        llm=True,
        passage=PASSAGE,
    )
    assert grounding(beyond)[0] == "not grounded: the answer goes beyond the passage"
    # The critic applies grounding to LLM rows only, after its own checks.
    assert Critic().verdict(wrong_number)[0] == "not grounded: a number not in the passage"
    rule_row = cand("What is working memory?", wrong_number.row["output"], term="working memory")
    assert Critic().verdict(rule_row) is None


def test_a_circular_definition_says_nothing():
    """ "stage 2 sleep refers to the second stage of sleep" only restates its term."""
    row = cand(
        'Define the term "stage 2 sleep".',
        'The term "stage 2 sleep" refers to the second stage of sleep.',
        term="stage 2 sleep",
    )
    assert critique(row) == ("says nothing about the term", row.row["output"][:80])
    fuller = cand(
        'Define the term "stage 2 sleep".',
        'The term "stage 2 sleep" refers to the second stage of sleep, characterized by the '
        "appearance of sleep spindles.",
        term="stage 2 sleep",
    )
    assert critique(fuller) is None


def theory(q: str, a: str) -> Candidate:
    return Candidate(make_row(q, "", a, "theory", "S"), "Ch > Sec", "")


def test_one_row_per_theory_and_a_theory_is_an_idea():
    critic = Critic()
    text = theory(
        "What does the set-point theory assert?",
        "The set-point theory asserts that each individual has an ideal body weight.",
    )
    assert critic.verdict(text) is None
    critic.accept(text)
    glossary = theory(
        "What does set point theory propose?",
        "Set point theory is an assertion that each individual has an ideal body weight.",
    )
    assert critic.verdict(glossary) == ("theory already asked", "set point theory")
    claim = theory("What did Freud believe about personality?", "Freud believed that it grows.")
    assert critic.verdict(claim) is None  # a person's claim is not a named theory
    wrong = theory(
        "Describe signal detection theory.",
        "Signal detection theory is a change in stimulus detection as a function of mood.",
    )
    assert critique(wrong)[0] == "theory defined as something else"
    model = theory(
        "What does the triangular theory of love propose?",
        "The triangular theory of love is a model of love based on three components.",
    )
    assert critique(model) is None


def test_another_of_what_is_not_self_contained():
    row = cand("What is TEMAS?", "TEMAS is another tool designed to be culturally relevant.")
    assert critique(row) == ("not self-contained", "is another")


def study(a: str) -> Candidate:
    row = make_row(
        "Summarize the study by Lind and Ober (1988): its method and findings.",
        "",
        a,
        "experiment",
        "S",
    )
    return Candidate(row, "Ch > Sec", "")


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (
            "Lind and Ober studied imitation in preschoolers. In the experiment, the children's "
            "sharing was influenced by whether the teacher was praised for giving away stickers.",
            "experiment: unintroduced person",
        ),
        (
            "Lind and Ober pooled forty studies of whether exercise eased anxiety. They found "
            "that there was a small but reliable effect.",
            "experiment: finding without direction",
        ),
        (
            "Lind and Ober conducted research on a toddler called Little Rosa. Their experiments "
            "with Little Rosa demonstrated that fear can be learned.",
            "experiment: method not said",
        ),
        (
            "Vail and Orr (1990) recruited 30 students. The students were told to read a list "
            "of words aloud twice, and then to write down as many of them as they could.",
            "experiment: nothing found",
        ),
    ],
)
def test_an_experiment_row_must_say_who_what_was_done_and_which_way(output, reason):
    found = critique(study(output))
    assert found is not None and found[0] == reason, found


def test_a_study_told_in_full_passes():
    assert (
        critique(
            study(
                "Lind and Ober showed preschoolers a film in which a teacher praised a child "
                "for sharing. The researchers found that children who saw the teacher praise "
                "sharing gave away more stickers than those who did not, a small but reliable "
                "effect."
            )
        )
        is None
    )
    # "Henry Molaison, the patient known as H.M.": introduced in apposition.
    told = (
        "The case of Henry Molaison, the patient known as H.M., tested for years after surgery, "
        "showed that memory can fail."
    )
    assert critique(study(told)) is None


def test_definitions_by_occasion_or_by_claim_are_dropped():
    found = critique(
        cand("What is a mental rut?", "A mental rut is where you keep trying one way.")
    )
    assert found is not None and found[0] == "definition by 'is when/where'"
    claim = cand(
        'Define the term "cause and effect".',
        "According to cause and effect, one variable changes another.",
        term="cause and effect",
    )
    found = critique(claim)
    assert found is not None and found[0] == "definition answered with a claim"


def test_a_case_must_say_what_it_showed():
    row = make_row(
        "What happened in the case of Ann Lee, and what did it show?",
        "",
        "In 1900 a woman named Ann Lee was thrown from a horse. She was taken to a hospital.",
        "case_study",
        "book",
    )
    assert critique(Candidate(row, "", ""))[0] == "case: nothing shown"


def story(q: str, a: str, category: str) -> Candidate:
    return Candidate(make_row(q, "", a, category, "S"), "Ch > Sec", "", ("composed",))


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (
            story("What did Lee find?", "Lee developed another theory of mood in 1990.", "theory"),
            "points back",
        ),
        (
            story(
                "What was done in the cell study?",
                "Volunteers were randomly assigned to cells. The guards, in turn, became harsh.",
                "experiment",
            ),
            "points back",
        ),
        (
            story(
                "What was done in the pay study?",
                "An advert asked for men to join a study. Each student was paid $15 and became "
                "more anxious.",
                "experiment",
            ),
            "points back",
        ),
        (
            # Who and what was found, nothing done: not an experiment row.
            story(
                "What did the study by Moe et al. (2007) find?",
                "A study of over 6,000 Danes identified worry as a risk factor for heart disease.",
                "experiment",
            ),
            "experiment: method not said",
        ),
        (
            cand(
                "Define the term 'good flow'.",
                "In good flow, we are more likely to see smooth lines than broken ones.",
                term="good flow",
            ),
            "definition says what we do, not what it is",
        ),
        (
            Candidate(
                make_row(
                    "What are mental habits?",
                    "",
                    "Mental habits refer to all beliefs learned before, including expectations.",
                    "definition",
                    "S",
                ),
                "Ch > Sec",
                "Kay proposed the concept of mutual causation, in which mental habits, acts, and "
                "setting all interact. Mental habits refer to all beliefs learned before, "
                "including expectations.",
                term="mental habits",
            ),
            "definition bound to one theory",
        ),
        (
            cand(
                "Define 'dark point'.",
                "The dark point is a spot where we cannot see in that portion of the field.",
                term="dark point",
            ),
            "dangling reference",
        ),
    ],
)
def test_rows_that_point_back_or_leave_out_the_method_are_dropped(candidate, reason):
    assert critique(candidate)[0] == reason


def test_a_study_with_a_design_or_a_procedure_keeps_its_row():
    for answer in (
        "A longitudinal study of 145 children found that early stress increased asthma by 10%.",
        "In one study, 112 women who performed hard sums showed lower blood pressure with a "
        "friend present.",
    ):
        assert critique(story("What did Ray et al. (2001) find?", answer, "experiment")) is None


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "In another study, older volunteers were given a vaccine. Carers showed a poorer "
            "response.",
            "Older volunteers were given a vaccine. Carers showed a poorer response.",
        ),
        (
            "Based on how the infants responded to the separation, Ainsworth identified three "
            "types of attachment.",
            "Ainsworth identified three types of attachment.",
        ),
        (
            "Rogers further divided the self into two parts.",
            "Rogers divided the self into two parts.",
        ),
        (
            "Lee developed another theory of mood, which he called the tide theory.",
            "Lee developed a theory of mood, which he called the tide theory.",
        ),
        # The rest leans on what came before: left for the critic to drop.
        (
            "In another study, they were given a vaccine.",
            "In another study, they were given a vaccine.",
        ),
    ],
)
def test_repair_takes_out_what_points_back_only_where_the_rest_stands_alone(before, after):
    fixed = repair(story("Q?", before, "theory"))
    assert fixed.row["output"] == after
    assert (fixed.notes[-1] == "a reference to earlier text taken out") == (before != after)


def test_a_term_with_of_agrees_with_its_head():
    bad = cand(
        "What are stages of sleep?",
        "Stages of sleep is a cycle of brain activity through the night.",
        term="stages of sleep",
    )
    assert critique(bad) == ("number agreement", '"stages of sleep is": a plural with "is"')


def test_people_the_story_introduced_under_another_name_or_as_a_kind():
    for told in (
        "Week-old babies were placed between two pads, and the infant preferred the pad of its "
        "own mother.",
        "Volunteers were told to shock learners for each error. The confederate learners "
        "cried out, yet 65% of the volunteers continued.",
    ):
        assert critique(story("What was done?", told, "experiment")) is None


def test_a_definition_that_only_says_whose_it_is_or_is_one_part_of_a_theory():
    whose = cand(
        "Define 'stage of reasoning'.",
        "Stage of reasoning is a process proposed by Kohlberg.",
        term="stage of reasoning",
    )
    assert critique(whose)[0] == "says nothing about the term"
    # The theory naming the term as its part is a paragraph before the definition's passage.
    book = (
        "Kay proposed the concept of mutual causation, in which habits, acts, and setting "
        "all interact.\n\nTake a festival where one can jump from a bridge. The act is the "
        "jump. Finally, setting refers to the reward structure for the act."
    )
    part = Candidate(
        make_row(
            "What is setting?",
            "",
            "Setting refers to the reward structure for the act.",
            "definition",
            "S",
        ),
        "Ch > Sec",
        "Take a festival where one can jump from a bridge. The act is the jump. Finally, "
        "setting refers to the reward structure for the act.",
        term="setting",
    )
    assert critique(part) is None  # the passage alone does not show it
    assert critique(part, book)[0] == "definition bound to one theory"


def test_a_clause_gloss_about_what_people_do_is_no_definition():
    row = make_row(
        "Define 'warped self-image'.",
        "",
        "In a warped self-image, individuals view themselves as heavier than they are.",
        "definition",
        "S",
    )
    glossed = Candidate(row, "Ch > Sec", "", ("gloss: clause",), term="warped self-image")
    assert critique(glossed)[0] == "definition says what we do, not what it is"


@pytest.mark.parametrize(
    ("term", "answer", "reason"),
    [
        ("reflexes", "Reflexes are a motor reaction to a stimulus.", "number agreement"),
        ("felt control", "Felt control is our beliefs about our power.", "number agreement"),
        (
            "ease heuristic",
            "The ease heuristic is a shortcut in which a case that is that readily recalled "
            "decides.",
            "the book's typo",
        ),
        ("spindle", "A spindle is the the burst of fast waves in sleep.", "the book's typo"),
    ],
)
def test_the_books_own_slips_are_not_copied(term, answer, reason):
    assert critique(cand(f"What is {term}?", answer, term=term))[0] == reason
    # ... and the definition chooser ranks such a sentence below the glossary's gloss.
    assert leans_elsewhere(answer, term)


def test_what_reads_right_is_not_a_slip():
    for term, answer in (
        ("stimulants", "Stimulants are a class of drugs that raise neural activity."),
        ("trust", "Trust is the basis of our development during infancy."),
        ("schema", "A schema is a idea that that people hold.".replace("that that", "that")),
    ):
        found = critique(cand(f"What is {term}?", answer, term=term))
        assert found is None or found[0] not in ("number agreement", "the book's typo")


def test_repair_takes_out_a_pointer_to_another_entry():
    fixed = repair(
        story("Define 'will'.", "A will is a legal document (see living will).", "definition")
    )
    assert fixed.row["output"] == "A will is a legal document."
