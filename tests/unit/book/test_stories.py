"""Studies, cases and theories told over several sentences, composed from the book's own
sentences (psych_plugin/book/stories.py)."""

from __future__ import annotations

from pathlib import Path

from psych_plugin.book.critic import Candidate, critique
from psych_plugin.book.definitions import TermStyle
from psych_plugin.book.reading import read_book, split_book
from psych_plugin.book.rules import plan_book
from psych_plugin.book.stories import (
    case_stories,
    finding_stories,
    study_stories,
    theory_stories,
    with_stories,
)
from tests.unit.book.conftest import BOOK


def _chunks(tmp_path: Path, text: str):
    path = tmp_path / "book.md"
    path.write_text(text, encoding="utf-8")
    return split_book(path, read_book(path))


def _fixture():
    text = read_book(BOOK)
    name, chunks = split_book(BOOK, text)
    return name, chunks, plan_book(chunks, TermStyle(text), name)


def test_study_told_over_two_paragraphs_is_composed_not_copied():
    """Who ran it, what was done (the procedure's sentences, the confederates), what was
    found: the question to the reader, the figure and the citation's year are left out."""
    name, chunks, plan = _fixture()
    (asch,) = [
        s.row
        for s in study_stories(chunks, plan.researchers, plan.full_names, name)
        if "Asch" in s.row["instruction"]
    ]
    out = asch["output"]
    assert asch["category"] == "experiment" and asch["input"] == ""
    assert (
        asch["instruction"] == "What was done in Asch’s line experiments, and what did they find?"
    )
    assert out.startswith("Solomon Asch conducted a series of experiments")
    assert "were asked to say aloud" in out and "confederates" in out  # what was done
    assert out.endswith("although almost all answers given alone were correct.")  # found
    assert "Asch found that" in out  # "Asch (1956) found": the year is an aside
    for left_out in ("How would you", "Figure", "Conformity is the change", "(1956)"):
        assert left_out not in out
    assert critique(Candidate(asch, "", "")) is None


def test_a_study_without_a_finding_or_a_procedure_gives_no_row(tmp_path):
    text = (
        "# Chapter 1: Memory\n\n## Tests\n\n"
        "Karl Lashley (1950) conducted research on memory in rats for many years. He trained "
        "rats to run a maze and then removed parts of their cortex. He wrote many papers.\n\n"
        "Mary Smith (1990) conducted a study on sleep. The engineers found a way to build "
        "quieter rooms for the sleepers.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    assert study_stories(chunks, frozenset({"Lashley", "Smith"}), {}, name) == []


def test_a_study_leaning_on_the_sentence_before_takes_it_along(tmp_path):
    """ "X (1963) wanted to test this defense": the defense is said before, in one paragraph."""
    text = (
        "# Chapter 1: Obedience\n\n## Orders\n\n"
        "At the trial, the defense of the accused was that he had only followed orders. "
        "Milgram (1963) wanted to test this defense, so he designed an experiment. The "
        "participants were told to give shocks to a learner who made mistakes. They found "
        "that 65% of the participants gave the strongest shock when the researcher insisted.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Milgram"}), {}, name)
    assert story.row["output"].startswith("At the trial, the defense of the accused")
    assert story.row["output"].endswith("gave the strongest shock when the researcher insisted.")
    assert "the research by Milgram (1963)" in story.row["instruction"]
    text = text.replace("At the trial, the defense", "What was the defense? It said that the")
    name, chunks = _chunks(tmp_path, text)
    assert study_stories(chunks, frozenset({"Milgram"}), {}, name) == []  # nothing to lean on


def test_case_told_up_to_what_it_showed():
    name, chunks, _ = _fixture()
    rows = {s.row["instruction"]: s.row for s in case_stories(chunks, name)}
    gage = rows["Describe the case of Phineas Gage and what it revealed."]
    assert gage["category"] == "case_study"
    assert gage["output"].startswith("In 1848 a young man named Phineas Gage")
    assert gage["output"].endswith("controlling impulses and planning.")
    assert "Within months he could walk" in gage["output"]  # what happened, in order


def test_a_case_the_rules_already_tell_is_not_told_twice():
    """H.M.'s case is one paragraph the rules report (study_rows): no second story row."""
    name, chunks, plan = _fixture()
    planned = with_stories(plan, chunks, name, 200)
    stories = [
        c.row
        for found in planned.later.values()
        for c in found
        if c.notes and "composed" in c.notes[0]
    ]
    assert not any("Molaison" in r["instruction"] for r in stories)
    assert any("Phineas Gage" in r["instruction"] for r in stories)


def test_theory_someone_proposed():
    name, chunks, plan = _fixture()
    (maslow,) = theory_stories(chunks, plan.full_names, name)
    assert maslow.row["category"] == "theory"
    assert "hierarchy of needs" in maslow.row["instruction"]
    assert "Abraham Maslow" in maslow.row["instruction"]
    # "While drive theories described earlier ..., Abraham Maslow proposed ...": the main clause
    assert maslow.row["output"].startswith("Abraham Maslow proposed a hierarchy of needs in which")


def test_theory_named_with_nothing_said_gives_no_row(tmp_path):
    text = "# Chapter 1: Minds\n\n## Ideas\n\nJohn Doe proposed a theory of mind. Cats purr.\n"
    name, chunks = _chunks(tmp_path, text)
    assert theory_stories(chunks, {}, name) == []


def test_one_sentence_study_asked_by_its_citation():
    """Who (the citation), what was done (120 students), what was found; a sentence citing
    two reviews is no one study."""
    name, chunks, _ = _fixture()
    (one,) = finding_stories(chunks, name, frozenset())
    assert one.row["instruction"].startswith("Describe the study by Roediger and Karpicke (2006)")
    assert one.row["output"].startswith("In a study of 120 students, Roediger and Karpicke found")
    assert "Dunlosky" not in one.row["output"]
    assert finding_stories(chunks, name, frozenset({"Roediger"})) == []  # told already


def test_a_study_introduced_without_its_authors_is_named_by_its_citation():
    """ "In one study, ..." then what was found, cited at the end: the citation names it in
    the question and leaves the answer."""
    from psych_plugin.book.stories import unnamed_stories

    name, chunks, _ = _fixture()
    (one,) = unnamed_stories(chunks, name, frozenset())
    assert one.row["instruction"].startswith("What did the study by Perham and Vizard (2011)")
    assert one.row["output"] == (
        "In one study, 60 volunteers were given a list of words to learn while music played. "
        "Those who heard songs with lyrics recalled fewer words than those who studied in silence."
    )
    assert unnamed_stories(chunks, name, frozenset({"Perham"})) == []


def test_a_study_without_a_citation_or_a_finding_is_not_named(tmp_path):
    from psych_plugin.book.stories import unnamed_stories

    text = (
        "# Chapter 1: Sleep\n\n## Naps\n\n"
        "In one study, 40 students were given a nap before an exam. Those who napped scored "
        "higher than those who did not.\n\n"
        "In another study, 30 adults were kept awake all night and then tested on a list of "
        "words (Lee & Park, 2001). The test was held in a quiet room.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    assert unnamed_stories(chunks, name, frozenset()) == []


def test_kinds_someone_described_and_steps_of_a_technique():
    from psych_plugin.book.stories import classification_stories

    name, chunks, plan = _fixture()
    rows = {s.row["instruction"]: s.row for s in classification_stories(chunks, {}, name)}
    styles = rows["What four parenting styles did Diana Baumrind describe?"]
    assert styles["category"] == "theory"
    assert styles["output"].endswith("permissive, and uninvolved.")
    steps = rows["What are the three steps of the keyword technique?"]
    assert steps["category"] == "how_to"
    assert steps["output"].startswith("The keyword technique consists of three steps: choosing")


def test_kinds_with_no_one_or_nothing_they_are_of_give_no_row(tmp_path):
    from psych_plugin.book.stories import classification_stories

    text = (
        "# Chapter 1: Minds\n\n## Parts\n\n"
        "Researchers identified three kinds of memory: sensory, short-term, and long-term. "
        "Freud also proposed three components: the id, ego, and superego. "
        "The method of loci is a memory technique that has three steps: walk, place, recall.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    assert classification_stories(chunks, {}, name) == []


def test_according_to_a_theorist_asks_what_they_proposed():
    """ "According to Maslow, self-actualized people ...": asked about its subject, by the
    name the book gives in full; "According to the boy" (no subject to name) and "According
    to this theory" (which?) give none."""
    from psych_plugin.book.stories import according_stories

    name, chunks, plan = _fixture()
    (row,) = [s.row for s in according_stories(chunks, plan.full_names, name)]
    assert row["instruction"] == "What did Abraham Maslow propose about self-actualized people?"
    assert row["category"] == "theory"
    assert row["output"].startswith("According to Maslow, self-actualized people are")


def test_a_story_stops_where_someone_elses_study_begins(tmp_path):
    """ "Burger partially replicated this study. He found ...": Burger's finding is not
    Martin and Bull's; "shocks, which increased in 15-volt steps" is the procedure, not a
    finding; "examined the use of virtual reality" names a topic, not what was done."""
    text = (
        "# Chapter 1: Obedience\n\n## Orders\n\n"
        "In a study by Martin and Bull (2008), midwives privately filled out a questionnaire "
        "about their work. Then, a senior midwife asked the junior midwives to do something "
        "they had opposed. Burger (2009) partially replicated this study. He found that most "
        "people obeyed.\n\n"
        "Lee (2001) designed an experiment and recruited 40 men. The participants were told "
        "to give shocks, which increased in 15-volt steps. The participants believed the "
        "shocks were real.\n\n"
        "Park and Cho (2015) examined the use of virtual reality as a possible rehabilitative "
        "method for memory. They found that it helped.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    found = study_stories(chunks, frozenset({"Martin", "Bull", "Burger", "Lee", "Park"}), {}, name)
    assert found == []


def test_two_kinds_named_in_one_sentence_are_compared_by_their_definitions(tmp_path):
    from psych_plugin.book.stories import kinds_pairs

    text = (
        "# Chapter 1: Tests\n\n## Kinds\n\n"
        "There are two types of personality tests: self-report inventories and projective "
        "tests. **Self-report inventories** are tests in which people answer written questions "
        "about themselves. **Projective tests** are tests in which people respond to ambiguous "
        "pictures or words.\n\n"
        "There are two kinds of weather: rain and sun.\n"
    )
    path = tmp_path / "book.md"
    path.write_text(text, encoding="utf-8")
    book = read_book(path)
    name, chunks = split_book(path, book)
    style = TermStyle(book)
    (pair,) = kinds_pairs(chunks, plan_book(chunks, style, name), style, name)
    assert pair.row["category"] == "comparison"
    assert "self-report inventories" in pair.row["instruction"]
    assert "projective tests" in pair.row["instruction"]
    assert pair.row["output"].startswith("Self-report inventories are tests in which people")
    assert "In contrast, projective tests are tests" in pair.row["output"]


def test_a_lead_pointing_back_is_dropped_from_kinds(tmp_path):
    from psych_plugin.book.stories import classification_stories

    text = (
        "# Chapter 1: Sleep\n\n## Cycles\n\n"
        "Based on these observations, Kim and Lee divided the sleep cycle into four phases "
        "that recur through the night: drowsy, light, deep, and dreaming.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (row,) = [s.row for s in classification_stories(chunks, {}, name)]
    assert row["instruction"] == "Into which four phases did Kim and Lee divide the sleep cycle?"
    assert row["output"].startswith("Kim and Lee divided the sleep cycle into four phases")


def test_a_step_on_the_way_is_not_the_finding_and_the_subject_belongs_to_the_study(tmp_path):
    """A result followed by more procedure ("the baby cried ... Kay then paired the bell with
    the toy") is a step, not the finding; sentences about the subject the anchor names ("a
    baby nicknamed Little Tom") belong to the study; the question names it."""
    text = (
        "# Chapter 1: Fear\n\n## Conditioning\n\n"
        "In 1930, Kay and her student conducted research on a baby nicknamed Little Tom. "
        "Little Tom was shown a soft toy and was not afraid of it. Kay made a loud noise by "
        "striking a bell each time Little Tom touched the toy. Little Tom was startled by the "
        "noise and began to cry. Kay then paired the bell with the toy many times. Soon Little "
        "Tom became afraid of the toy alone.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Kay"}), {}, name)
    out = story.row["output"]
    assert "the research by Kay on Little Tom" in story.row["instruction"]
    assert "Little Tom was shown a soft toy" in out and "by striking a bell" in out
    # A step on the way: told in its place, between the steps, not taken for the finding.
    assert out.index("startled by the noise") < out.index("Kay then paired the bell")
    assert out.endswith("Soon Little Tom became afraid of the toy alone.")


def test_both_conditions_of_a_finding_and_no_hedged_finding(tmp_path):
    """ "When the model was punished ... When the model was praised ...": both results; "may"
    states what can happen, not what was found."""
    text = (
        "# Chapter 1: Models\n\n## Imitation\n\n"
        "Ruiz researched imitation in young children. He conducted an experiment with a toy "
        "robot. In one condition, an adult model kicked the robot while a child watched. When "
        "the model was punished, the children decreased their kicking. When the model was "
        "praised, the children copied the model.\n\n"
        "Lind studied how toddlers react to strangers. The toddlers were shown a stranger's "
        "face. Toddlers may demonstrate fear by crying.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Ruiz", "Lind"}), {}, name)
    assert story.row["output"].startswith("Ruiz researched imitation in young children.")
    assert story.row["output"].endswith(
        "When the model was punished, the children decreased their kicking. When the model was "
        "praised, the children copied the model."
    )


def test_a_study_known_by_name_with_its_citation_and_its_own_roles(tmp_path):
    """ "A classic example ... known as the quizmaster study (Ross, ...)": the sentence
    before says of what; the finding speaks of the study's own roles ("questioners",
    "contestants"), which makes it the study's even with no study word."""
    text = (
        "# Chapter 1: Attribution\n\n## Errors\n\n"
        "People often overlook the situation when they explain behavior. A classic example was "
        "shown in a series of experiments known as the quizmaster study (Ross & Amabile, 1977). "
        "Students were randomly assigned to be questioners or contestants in a quiz. Questioners "
        "wrote hard questions and asked them. Afterwards, contestants rated the questioners as "
        "more knowledgeable than themselves.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Ross", "Amabile"}), {}, name)
    assert story.row["instruction"].count("the quizmaster study") == 1
    assert story.row["output"].startswith("People often overlook the situation")
    assert story.row["output"].endswith(
        "rated the questioners as more knowledgeable than themselves."
    )


def test_a_named_effect_reads_with_the_and_a_share_is_a_finding(tmp_path):
    """ "demonstrated this rewarding-effort effect", with nothing before to lean on, reads
    "the ... effect"; "More than two-thirds of the babies turned ..." is what was found."""
    text = (
        "# Chapter 1: Effort\n\n## Groups\n\n"
        "A classic experiment by Moss and Tan (1960) demonstrated this rewarding-effort "
        "effect. Participants were randomly assigned to an easy or a hard entry test. More "
        "than two-thirds of the participants in the hard test rated the group highly.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Moss", "Tan"}), {}, name)
    out = story.row["output"]
    assert out.startswith("A classic experiment by Moss and Tan demonstrated the rewarding-effort")
    assert out.endswith("rated the group highly.")
    assert critique(Candidate(story.row, "", "")) is None


def test_what_the_finding_calls_the_x_is_introduced(tmp_path):
    """ "... didn't notice the gorilla": the left-out sentence that introduces "a person in a
    gorilla suit" comes back, even in the present tense."""
    text = (
        "# Chapter 1: Attention\n\n## Blindness\n\n"
        "Pell and Ruiz (1999) conducted a study of attention. Participants were asked to count "
        "passes of a ball in a film. Midway, a person in a gorilla suit walks across the scene. "
        "Nearly half of the participants did not see the gorilla at all.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Pell", "Ruiz"}), {}, name)
    assert "a person in a gorilla suit walks across the scene." in story.row["output"]
    assert story.row["output"].endswith("did not see the gorilla at all.")


def test_a_long_list_of_steps_that_speaks_to_the_reader_is_still_a_technique(tmp_path):
    from psych_plugin.book.stories import classification_stories

    steps = ", ".join(
        f"breathing in slowly while you count to {n} in your head and then breathing out"
        for n in "12345"
    )
    text = (
        "# Chapter 1: Calm\n\n## Relaxing\n\n"
        f"The calm breathing technique combines rest with counting, and consists of five steps: "
        f"{steps}.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (row,) = [s.row for s in classification_stories(chunks, {}, name)]
    assert row["instruction"] == "What are the five steps of the calm breathing technique?"
    assert row["category"] == "how_to" and len(row["output"]) > 450


def test_according_to_a_cited_theorist_but_not_a_study_or_a_cut_sentence(tmp_path):
    from psych_plugin.book.stories import according_stories

    text = (
        "# Chapter 1: Views\n\n## Claims\n\n"
        "According to Hale and Moss (2003), concepts act as building blocks of thought. "
        "According to Lind (2008), men who viewed an advert later rated the car as faster. "
        "In Rotter’s view, behavior is shaped by what people expect will follow it. "
        "According to Penn (2000), positive psychology,\n"
    )
    name, chunks = _chunks(tmp_path, text)
    asked = [s.row["instruction"] for s in according_stories(chunks, {}, name)]
    assert asked == [
        "What did Hale and Moss (2003) propose about concepts?",
        "What did Rotter propose about behavior?",
    ]  # not Lind's study ("men who viewed ... rated"), not Penn's sentence cut at a comma


def test_components_to_our_personality_are_asked_of_personality(tmp_path):
    from psych_plugin.book.stories import classification_stories

    text = (
        "# Chapter 1: Minds\n\n## Parts\n\n"
        "Freud also proposed three components to our personality: the id, ego, and superego.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (row,) = [s.row for s in classification_stories(chunks, {}, name)]
    assert row["instruction"] == "What three components of personality did Freud propose?"


def test_a_theorist_introduced_as_who_proposed_a_theory(tmp_path):
    """ "X was a Russian psychologist who proposed a sociocultural theory of development. He
    suggested that ...": who, the theory, and what it says in the sentence after."""
    text = (
        "# Chapter 1: Growth\n\n## Culture\n\n"
        "Lev Vygotsky was a Russian psychologist who proposed a sociocultural theory of "
        "development. He suggested that human development is rooted in one's culture. Cats "
        "purr.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (row,) = [s.row for s in theory_stories(chunks, {}, name)]
    assert "sociocultural theory of development" in row["instruction"]
    assert "Lev Vygotsky" in row["instruction"]
    assert row["output"].endswith("He suggested that human development is rooted in one's culture.")


def test_a_theory_claim_that_goes_on_in_the_next_sentence_is_kept_whole(tmp_path):
    from psych_plugin.book.stories import according_stories

    text = (
        "# Chapter 1: Drives\n\n## Drive\n\n"
        "According to the pull theory of motivation, gaps in balance create bodily needs. "
        "These needs result in drive states that move behavior back to balance. "
        "Hunger is one example of a drive state.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (row,) = [s.row for s in according_stories(chunks, {}, name)]
    assert row["output"] == (
        "According to the pull theory of motivation, gaps in balance create bodily needs. "
        "These needs result in drive states that move behavior back to balance."
    )


def test_two_kinds_the_text_only_announces_are_not_compared(tmp_path):
    from psych_plugin.book.stories import kinds_pairs

    text = (
        "# Chapter 1: Tests\n\n## Kinds\n\n"
        "Below, we discuss two types of personality tests: self-report inventories and "
        "projective tests. **Self-report inventories** are tests in which people answer written "
        "questions about themselves. **Projective tests** are tests in which people respond to "
        "ambiguous pictures or words.\n"
    )
    path = tmp_path / "book.md"
    path.write_text(text, encoding="utf-8")
    book = read_book(path)
    name, chunks = split_book(path, book)
    style = TermStyle(book)
    assert kinds_pairs(chunks, plan_book(chunks, style, name), style, name) == []


def test_a_sentence_between_two_a_study_takes_is_told_too(tmp_path):
    """The sentence saying what the two pads were is neither a step nor a finding, but
    without it the design is half told; a study too long to tell whole gives no row."""
    text = (
        "# Chapter 1: Infants\n\n## Smell\n\n"
        "In a study by Farrow (1978), 1-week-old babies who were being breastfed were placed "
        "between two cotton pads. One cotton pad was from a nursing mother who was a "
        "stranger, and the other cotton pad was from the infant’s own mother. More than "
        "two-thirds of the babies turned toward the pad with their mother’s scent.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Farrow"}), {}, name)
    assert "One cotton pad was from a nursing mother" in story.row["output"]
    assert critique(Candidate(story.row, "", "")) is None  # "the infant": the babies
    import psych_plugin.book.stories as stories

    before = stories.MAX_CHARS
    stories.MAX_CHARS = len(story.row["output"]) - 1
    try:
        assert study_stories(chunks, frozenset({"Farrow"}), {}, name) == []
    finally:
        stories.MAX_CHARS = before


def test_who_ran_a_named_study_is_said_when_only_its_citation_names_them(tmp_path):
    text = (
        "# Chapter 1: Attribution\n\n## Hosts and Contestants\n\n"
        "The attribution error is so strong that people overlook what the situation does. "
        "A classic example was demonstrated in a series of experiments known as the host study "
        "(Rowe, Amble, & Stein, 1977). Student participants were randomly assigned to play a "
        "host or a contestant. Hosts did not rate their general knowledge higher than the "
        "contestants, but the contestants rated the hosts’ intelligence higher than their own.\n"
    )
    name, chunks = _chunks(tmp_path, text)
    (story,) = study_stories(chunks, frozenset({"Rowe", "Amble", "Stein"}), {}, name)
    assert "known as the host study by Rowe, Amble, and Stein." in story.row["output"]
