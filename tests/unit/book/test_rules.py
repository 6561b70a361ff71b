"""psych_plugin/book/rules.py: every rule-based row of a chunk, each category only on its own
evidence; one definition per term book-wide."""

from __future__ import annotations

from pathlib import Path

from psych_plugin.book.definitions import TermStyle
from psych_plugin.book.reading import split_book
from psych_plugin.book.rules import (
    claim_rows,
    contrast_rows,
    plan_book,
    rule_rows,
    study_rows,
    term_key,
)
from psych_plugin.dataset.schema import categories

from .conftest import BOOK, build, rows_of


def test_categories_need_evidence(tmp_path, capsys):
    """experiment: a named study with what was done and what was found; case_study: a named
    case and what it showed; comparison: two terms the book sets against each other; how_to:
    named steps; theory: what a named theory proposes. Nothing else."""
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    assert not any(r["input"] for r in rows)  # no row answers by copying its own input
    studies = sorted(r["source"].rsplit("> ", 1)[-1] for r in by_cat["experiment"])
    # Ebbinghaus, Bandura (one paragraph); Asch (told over two), Roediger (one sentence),
    # Perham and Vizard ("In one study, ...", named by its citation)
    assert studies == [
        "Asch's Line Experiments",
        "Forgetting",
        "Needs and Well-Being",
        "Needs and Well-Being",
        "Observational Learning",
    ]
    ebbinghaus = next(r for r in by_cat["experiment"] if "Ebbinghaus" in r["instruction"])
    assert "(1885)" in ebbinghaus["instruction"]
    assert ebbinghaus["output"].startswith("Hermann Ebbinghaus studied forgetting")
    assert ebbinghaus["output"].endswith("lost within the first day.")  # what was found
    bandura = next(r for r in by_cat["experiment"] if "Bandura" in r["instruction"])
    assert "Bandura et al. (1961)" in bandura["instruction"]
    assert "researchers found" in bandura["output"]
    case, gage = by_cat["case_study"]
    assert "Phineas Gage" in gage["instruction"]
    assert case["source"].endswith("The Case of H.M.") and "Henry Molaison" in case["instruction"]
    assert case["output"].endswith("critical for forming new explicit memories.")
    compared = {r["instruction"] for r in by_cat["comparison"]}
    assert any("proactive interference" in q and "retroactive interference" in q for q in compared)
    assert any("episodic memory" in q and "semantic memory" in q for q in compared)
    pair = next(r for r in by_cat["comparison"] if "proactive" in r["instruction"])
    assert "In contrast, retroactive interference occurs" in pair["output"]
    # Defined in one paragraph, but not contrasted ("..., however"): no comparison.
    assert not any("spontaneous recovery" in r["instruction"] for r in by_cat["comparison"])
    # A list of stages is what a model describes (theory); steps a person takes are how_to.
    steps = next(r for r in by_cat["theory"] if "memory formation" in r["instruction"])
    assert steps["instruction"] == "What are the stages of memory formation?"
    assert steps["output"].endswith("encoding, storage, and retrieval.")
    theory = next(r for r in by_cat["theory"] if "Piaget" in r["instruction"])
    assert theory["instruction"] == "What does Jean Piaget's theory propose?"
    assert theory["output"].startswith("Jean Piaget's theory proposes that children actively")
    bowlby = next(r for r in by_cat["theory"] if "Bowlby" in r["instruction"])
    assert bowlby["instruction"] == "What did John Bowlby propose about attachment?"
    assert set(by_cat) == set(categories())


def test_rows_drawn_from_several_definitions(tmp_path, capsys):
    """Sibling terms of one chapter (all words but the first shared) are compared with their
    two definitions; stages the glossary numbers are listed in order."""
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    pair = next(r for r in rows if r["instruction"].startswith("How does classical conditioning"))
    assert pair["category"] == "comparison"
    assert pair["instruction"].endswith("differ from operant conditioning?")
    assert pair["output"].startswith("Classical conditioning is a form of learning")
    assert "In contrast, operant conditioning is a type of learning" in pair["output"]
    proactive = next(r for r in rows if r["instruction"].startswith("Contrast proactive"))
    assert "In contrast, retroactive interference" in proactive["output"]
    (stages,) = [r for r in rows if r["instruction"].endswith(", in order?")]
    assert stages["category"] == "theory"  # stages a model describes, not steps to follow
    assert stages["instruction"] == (
        "What are the stages of cognitive development in Piaget's theory, in order?"
    )
    assert stages["output"].endswith(
        "four stages, in this order: sensorimotor stage, preoperational stage, concrete "
        "operational stage, and formal operational stage."
    )
    # Of three siblings ("working", "semantic", "procedural memory"...) only named opposites
    # are paired; here no pair of the three "memory" terms is.
    assert not any("procedural memory differ" in r["instruction"] for r in rows)
    # Numbered stages are not also compared pairwise ("the third stage" vs "the fourth").
    assert not any("operational stage differ" in r["instruction"] for r in rows)


def test_study_rows_need_who_what_was_done_and_what_was_found():
    # A principle stated is not a study reported.
    principle = (
        "According to Watson (1913), human behaviour is mostly the result of conditioned "
        "responses. He believed the principles could be extended to emotions. Others disagreed "
        "with him and argued that thoughts matter as much as conditioning does in everyday life."
    )
    assert study_rows(principle, "S", 100) == []
    # A finding cited in passing, with no procedure: not a study described.
    cited = (
        "Some studies have found a link between sleep and mood in adolescents (Smith, 2010). "
        "These findings are not surprising given how much sleep teenagers lose in a school "
        "week, and they matter for how schools plan their timetables."
    )
    assert study_rows(cited, "S", 100) == []
    study = (
        "Garcia and Koelling (1966) paired a flavour with illness in one group of rats and a "
        "light with illness in another. They found that the rats learned to avoid the flavour "
        "but not the light, so some associations are learned more easily than others."
    )
    (row,) = study_rows(study, "S", 100)
    assert row["category"] == "experiment" and "Garcia and Koelling (1966)" in row["instruction"]
    assert row["input"] == "" and row["output"].startswith("Garcia and Koelling paired")
    assert study_rows(study, "S", 1000) == []  # shorter than --min-paragraph
    # A researcher the book cites with a year elsewhere, named doing something, then a finding.
    named = (
        "In the maze studies, Tolman placed hungry rats in a maze with no food in it. Tolman "
        "found that the rats had learned the layout anyway, which later studies confirmed."
    )
    (row,) = study_rows(named, "S", 100, frozenset({"Tolman"}))
    assert "Tolman" in row["instruction"] and row["category"] == "experiment"
    assert study_rows(named, "S", 100) == []  # not known as a researcher: no row
    # "in the case of" an idiom is not a case study.
    idiom = (
        "In the case of the dogs, the tone predicted food. The dogs were trained for weeks and "
        "researchers measured their saliva. The results showed that an association forms fast."
    )
    assert study_rows(idiom, "S", 100) == []


def test_contrast_rows_need_the_terms_on_each_side():
    style = TermStyle("")
    known = ("positive reinforcement", "negative reinforcement", "language", "dyslexia")
    good = (
        "Positive reinforcement adds something pleasant after a behaviour, whereas negative "
        "reinforcement removes something unpleasant."
    )
    (row,) = contrast_rows(good, known, style, "S")
    assert row["category"] == "comparison" and row["output"] == good
    assert "positive reinforcement" in row["instruction"]
    assert "negative reinforcement" in row["instruction"]
    # "language" only modifies "language disability": not one side of the contrast.
    loose = (
        "A person with a language disability has difficulty using spoken language, whereas "
        "someone with dyslexia has difficulty processing what they read."
    )
    assert contrast_rows(loose, known, style, "S") == []


def test_claims_and_steps():
    (who,) = claim_rows(
        "Skinner (1957) proposed that language is learned through reinforcement.", "S"
    )
    # A surname alone with its citation: the citation says whose claim it is.
    assert who["instruction"] == "What did Skinner (1957) propose about language?"
    assert who["category"] == "theory"
    assert (
        claim_rows("While Freud believed that personality is fixed, others disagreed.", "S") == []
    )
    assert claim_rows("Clifton argued that our strengths provide the most growth.", "S") == []
    (row,) = claim_rows(
        "The James-Lange theory of emotion asserts that emotions arise from arousal.", "S"
    )
    assert row["category"] == "theory"
    assert row["instruction"] == "What does the James-Lange theory of emotion assert?"
    assert claim_rows("The theory states that organisms adapt to their setting.", "S") == []
    (steps,) = claim_rows(
        "According to Freud, children pass through the stages of development: oral, anal, "
        "phallic, latency, and genital.",
        "S",
    )
    assert steps["instruction"] == "According to Freud, what are the stages of development?"


def test_one_definition_per_term_book_wide():
    text = BOOK.read_text(encoding="utf-8")
    _, chunks = split_book(BOOK, text)
    style = TermStyle(text)
    plan = plan_book(chunks, style)
    assert term_key("Reflexes") == term_key("reflex") == "reflex"
    assert term_key("Unconditioned response (UCR)") == "unconditioned response"
    assert term_key("theories") == "theory"
    # Effortful processing: "This is known as X" in the text loses to the glossary's entry.
    index, _ = plan.chosen["effortful processing"]
    assert chunks[index].glossary
    seen: dict[str, int] = {}
    for chunk in chunks:
        found = rule_rows(chunk, "book", style, 200, plan.chosen, plan.known)
        for c in found.candidates:
            if c.term:
                seen[term_key(c.term)] = seen.get(term_key(c.term), 0) + 1
        for r in found.rejected:
            assert r.reason in (
                "term defined better elsewhere",
                "not a term the book marks",
                "glossary: gloss shape does not make a sentence",  # "memory palace"
            )
    assert seen and set(seen.values()) == {1}
    assert "learning" not in seen  # "Learning is ..." in plain text: never marked as a term


def test_rule_rows_without_a_plan_keep_the_first_per_chunk():
    book = "# T\n\n**Decay** is the fading of a memory trace over time when it is not used.\n"
    _, (chunk,) = split_book(Path("t.md"), book)
    found = rule_rows(chunk, "T", TermStyle(book))
    assert [c.row["output"] for c in found.candidates] == [
        "Decay is the fading of a memory trace over time when it is not used."
    ]
    assert found.candidates[0].passage.startswith("Decay is the fading")
    assert found.candidates[0].section == "T"


def test_pair_row_reads_as_one_answer():
    from psych_plugin.book.definitions import Definition
    from psych_plugin.book.rules import pair_row

    a = Definition("authoritative style", "", False, ("With it, parents give reasonable limits.",))
    b = Definition("authoritarian style", "", False, ("In authoritarian style, parents rule.",))
    row = pair_row(a, b, TermStyle("In this book"), "S")
    assert row["output"].endswith("In contrast, in authoritarian style, parents rule.")
    plural = Definition("primary colours", "", True, ("Primary colours are red and blue.",))
    other = Definition("secondary colours", "", True, ("Secondary colours are mixed.",))
    row = pair_row(plural, other, TermStyle(""), "S")
    assert not row["instruction"].startswith("How does")  # "How do ... differ" for plurals


def test_concessive_while_is_not_a_comparison():
    style = TermStyle("")
    known = ("individual therapy", "group therapy")
    concessive = (
        "While individual therapy is used for many disorders, group therapy is the most "
        "widespread treatment modality."
    )
    assert contrast_rows(concessive, known, style, "S") == []


def test_theory_names_in_questions():
    text = (
        "# T\n\n## Key Terms\n\n"
        "- **theory of evolution by natural selection**: states that better-suited organisms "
        "survive and reproduce\n"
        "- **Theory X**: assumes workers are inherently lazy and unproductive\n"
    )
    _, chunks = split_book(Path("t.md"), text)
    style = TermStyle(text)
    plan = plan_book(chunks, style)
    rows = [c.row for ch in chunks for c in rule_rows(ch, "T", style, 200, plan.chosen).candidates]
    asks = {r["instruction"] for r in rows}
    assert any(
        q.endswith("the theory of evolution by natural selection.")
        or "the theory of evolution by natural selection" in q
        for q in asks
    ), asks
    (x,) = [r for r in rows if "Theory X" in r["instruction"]]
    assert "the Theory X" not in x["instruction"]
    assert x["output"] == "Theory X assumes workers are inherently lazy and unproductive."


def _stage_rows(glossary: str) -> list[dict[str, str]]:
    text = "# T\n\n## Key Terms\n\n" + glossary
    _, chunks = split_book(Path("t.md"), text)
    style = TermStyle(text)
    plan = plan_book(chunks, style)
    return [
        c.row
        for cs in plan.later.values()
        for c in cs
        if c.row["instruction"].startswith("What are the stages of")
    ]


def test_numbered_stages_need_the_whole_list():
    sleep = (
        "- **stage 1 sleep**: first stage of sleep; a light and transitional phase\n"
        "- **stage 2 sleep**: second stage of sleep; the body relaxes deeply\n"
        "- **stage 3 sleep**: third stage of sleep; deep sleep with delta waves\n"
    )
    assert _stage_rows(sleep) == []  # REM sleep may be a fourth: the glossary does not say
    gas = (
        "- **general adaptation syndrome**: Selye’s three-stage model of reactions to stress\n"
        "- **alarm reaction**: first stage of the general adaptation syndrome; the first shock\n"
        "- **stage of resistance**: second stage of the general adaptation syndrome; coping\n"
        "- **stage of exhaustion**: third stage of the general adaptation syndrome; depletion\n"
    )
    (row,) = _stage_rows(gas)
    assert row["instruction"] == "What are the stages of the general adaptation syndrome, in order?"
    assert row["output"] == (
        "The general adaptation syndrome has three stages, in this order: alarm reaction, stage "
        "of resistance, and stage of exhaustion."
    )


def test_a_glossary_entry_that_makes_no_row_is_listed_with_its_reason(tmp_path, capsys):
    """Never a silent skip: a gloss whose shape makes no sentence ("Greek and Roman orators
    used it ...") is counted under a reason and listed by --explain-rejections."""
    out = tmp_path / "rows.jsonl"
    assert build(BOOK, out, "--explain-rejections") == 0
    printed = capsys.readouterr().out
    assert not any("memory palace" in r["instruction"] for r in rows_of(out))
    section = printed.split("== rejected: glossary: gloss shape does not make a sentence")[1]
    assert 'Define the term "memory palace".' in section.split("\n== ")[0]


def test_a_comparative_sentence_loses_to_the_glossary_gloss():
    """ "Theta waves are even lower in frequency than the alpha waves" leans on the text
    before it; the glossary's gloss reads on its own."""
    book = (
        "# Sleep\n\n## Stages\n\nAs sleep deepens, the brain slows down. **Theta waves** are even"
        " lower in frequency and higher in amplitude than the alpha waves of a relaxed person.\n\n"
        "## Key Terms\n\n- **theta wave**: type of brain wave characteristic of the end of stage 1"
        " sleep, with a low amplitude and a frequency of 4 to 7 cycles per second\n"
    )
    _, chunks = split_book(Path("s.md"), book)
    style = TermStyle(book)
    plan = plan_book(chunks, style)
    outputs = [
        c.row["output"]
        for chunk in chunks
        for c in rule_rows(chunk, "s", style, 20, plan.chosen, plan.known).candidates
    ]
    assert any("type of brain wave" in o for o in outputs)
    assert not any("even lower" in o for o in outputs)


def test_a_sentence_about_what_happens_during_a_term_loses_to_the_gloss():
    """ "During drift phase, the pulse slows ..." says what happens, not what the phase is; the
    glossary's gloss is kept, and with no gloss the sentence makes no row."""
    book = (
        "# Rest\n\n## Phases\n\nRest has three phases. During **drift phase**, the pulse slows"
        " and the eyes close while the muscles of the neck relax slowly.\n\n"
        "## Key Terms\n\n- **drift phase**: phase of rest that falls between waking and deep rest\n"
    )
    for text, kept in ((book, True), (book.split("## Key Terms")[0], False)):
        _, chunks = split_book(Path("s.md"), text)
        style = TermStyle(text)
        plan = plan_book(chunks, style)
        outputs = [
            c.row["output"]
            for chunk in chunks
            for c in rule_rows(chunk, "s", style, 20, plan.chosen, plan.known).candidates
        ]
        assert any("falls between waking" in o for o in outputs) == kept
        drift = [o for o in outputs if o.startswith("During drift")]
        assert not drift or not kept  # the gloss wins when there is one


def test_comparisons_name_terms_with_their_articles():
    from psych_plugin.book.definitions import Definition
    from psych_plugin.book.rules import named_pair, pair_row

    style = TermStyle("A trait. Some text.")
    dom = Definition("dominant allele", "", False, ("The dominant allele is expressed.",))
    rec = Definition("recessive allele", "", False, ('The term "recessive allele" refers to x.',))
    row = pair_row(dom, rec, style, "S")
    # One says "the", the other nothing: a pair of one kind, asked about alike.
    assert "the dominant allele" in row["instruction"].replace("The", "the")
    assert "the recessive allele" in row["instruction"]
    # A mass noun the book writes bare stays bare, and so does its sibling.
    assert named_pair(
        ("manifest content", False, "Manifest content is the storyline of a dream."),
        ("latent content", False, 'The term "latent content" refers to the hidden meaning.'),
        style,
    ) == ("manifest content", "latent content")
    assert named_pair(
        ("primary reinforcer", False, "A primary reinforcer has innate qualities."),
        ("secondary reinforcer", False, "A secondary reinforcer has none."),
        style,
    ) == ("a primary reinforcer", "a secondary reinforcer")


def test_pairs_are_the_books_own():
    """Two definitions in one paragraph with "In contrast" between them are a pair only when
    no other sentence stands between: there, the book contrasts a third term."""
    paragraph = (
        "**Situationism** is the view that behavior is determined by the surroundings. In"
        " contrast, **dispositionism** holds that behavior is determined by internal factors."
        " An **internal factor** is an attribute of a person, such as a personality trait."
    )
    book = f"# Social\n\n## Influences\n\n{paragraph}\n"
    _, (chunk,) = split_book(Path("s.md"), book)
    found = rule_rows(chunk, "s", TermStyle(book), 20)
    assert not [c for c in found.candidates if c.row["category"] == "comparison"]


def test_a_claim_names_the_person_as_the_book_first_does():
    book = (
        "# Motivation\n\n## Instincts\n\nWilliam James was an early psychologist who wrote"
        " about habits and the stream of consciousness in long essays.\n\nJames theorized that"
        " behavior was driven by a number of instincts, which aid survival. Later work"
        " questioned how many instincts there are and whether the idea explains anything.\n"
    )
    _, chunks = split_book(Path("m.md"), book)
    style = TermStyle(book)
    plan = plan_book(chunks, style)
    assert plan.full_names.get("James") == "William James"
    asks = [
        c.row["instruction"]
        for chunk in chunks
        for c in rule_rows(
            chunk, "m", style, 20, plan.chosen, plan.known, (), plan.researchers, plan.full_names
        ).candidates
    ]
    assert "What did William James theorize about behavior?" in asks


def test_study_told_after_the_sentence_naming_it():
    from psych_plugin.book.rules import study_rows

    told = (
        "Moreno and Lutz (1984) showed not only that a fear of tones could be conditioned, but"
        " also that it faded slowly. In their study, separate groups of mice were conditioned to"
        " associate either a tone or a light with a mild shock. Results showed that the mice"
        " exposed to tone-shock pairings froze at the tone for weeks afterwards."
    )
    (row,) = study_rows(told, "S", 20)
    assert row["category"] == "experiment"
    assert "Moreno and Lutz (1984)" in row["instruction"]
    assert row["output"].startswith("Moreno and Lutz showed") and "Results showed" in row["output"]
    # "(Hunt, 2007)" cites where the story is told, not who did the study.
    sourced = (
        "The interest of Okafor was the digestive system of birds (Hunt, 2007). In his studies"
        " with pigeons, Okafor measured the amount of food eaten after each light. Over time,"
        " Okafor observed that the pigeons pecked at the light even when no food followed it."
    )
    rows = study_rows(sourced, "S", 20, people={"Okafor": "Ada Okafor"})
    assert len(rows) == 1 and "Ada Okafor" in rows[0]["instruction"]  # named in full
    assert rows[0]["output"].startswith("In his studies with pigeons, Okafor measured")
    assert study_rows(sourced, "S", 20) == []  # Okafor named nowhere else: no study told


def test_a_named_theory_takes_no_indefinite_article():
    from psych_plugin.book.definitions import glossary_entry
    from psych_plugin.book.rules import _definition_candidate

    style = TermStyle("Bandura built a social-cognitive theory of his own. More text here.")
    d = glossary_entry(
        "**social-cognitive theory**: Bandura’s theory of personality that emphasizes cognition",
        style,
    )
    assert d is not None and d.sentences[0].startswith("Social-cognitive theory is Bandura’s")
    row = _definition_candidate(d, style, "S", "Key Terms", "").row
    assert row["instruction"] == "What does social-cognitive theory propose?"


def test_a_study_named_by_whose_it_is_after_what_they_did():
    from psych_plugin.book.rules import study_rows

    told = (
        "In 1931, while at a small college, Brandt and his student, Mira Lenz, conducted research"
        " on a toddler nicknamed Little Ida. Lenz and Brandt’s experiments with Little Ida"
        " demonstrated how a fear of dogs can be conditioned using classical conditioning."
    )
    (row,) = study_rows(told, "S", 20)
    assert row["category"] == "experiment"
    assert "Lenz and Brandt’s experiments with Little Ida" in row["instruction"]
    assert row["output"].startswith("In 1931") and row["output"].endswith("conditioning.")
    # Without the sentence of what they did, no row: "had a different opinion" is not a study.
    opinion = (
        "However, another behaviorist, Edna Tolland, had a different opinion about learning and"
        " about rewards. Tolland’s experiments with rats demonstrated that animals learn even"
        " without any reinforcement."
    )
    assert study_rows(opinion, "S", 20) == []
    began = (
        "In 1921, Lena Marsh began a longitudinal study of over 900 children who were very tall"
        " (Marsh, 1925). Her findings showed that these children became adults of average"
        " height and health."
    )
    (row,) = study_rows(began, "S", 20)
    assert row["instruction"].endswith("by Marsh (1925): what was done, and what was found?") or (
        "Marsh (1925)" in row["instruction"]
    )


def test_steps_a_person_takes_are_how_to_and_stages_are_theory(tmp_path):
    """ "the steps in the process of progressive muscle relaxation: tensing ..., holding ...,
    and releasing ..." is a procedure (how_to); "three stages of memory formation" and the
    glossary's numbered stages are what a model describes (theory)."""
    out = tmp_path / "out.jsonl"
    assert build(BOOK, out) == 0
    rows = rows_of(out)
    how, keyword = [r for r in rows if r["category"] == "how_to"]
    assert (
        how["instruction"] == "What are the steps in the process of progressive muscle relaxation?"
    )
    assert keyword["instruction"] == "What are the three steps of the keyword technique?"
    staged = [r for r in rows if r["instruction"].startswith("What are the stages")]
    assert len(staged) == 2 and {r["category"] for r in staged} == {"theory"}


def test_a_claim_by_a_surname_alone_is_asked_with_its_citation():
    """ "What did Orlov suggest ...?" names no one; "Orlov (1990)" does."""
    from psych_plugin.book.rules import claim_rows

    (row,) = claim_rows(
        "Orlov (1990) suggested that memory training is often offered without attention to "
        "hearing loss.",
        "S",
    )
    assert row["instruction"] == "What did Orlov (1990) suggest about memory training?"
    (row,) = claim_rows("Skinner believed that behavior is shaped by its consequences.", "S")
    assert row["instruction"] == "What did Skinner believe about behavior?"


def test_a_pair_answer_uses_the_article_its_question_does():
    """ "How does the lenient style differ from the strict style?" answered "In contrast, in
    the strict style, ...", not the book's "in strict style"."""
    from psych_plugin.book.definitions import Definition
    from psych_plugin.book.rules import pair_row

    style = TermStyle("A trait. Some text.")
    lenient = Definition(
        "lenient style", "", False, ("With the lenient style, the parent sets few rules.",)
    )
    strict = Definition("strict style", "", False, ("In strict style, the parent sets many.",))
    row = pair_row(lenient, strict, style, "S")
    assert "the strict style" in row["instruction"]
    assert row["output"].endswith("In contrast, in the strict style, the parent sets many.")
