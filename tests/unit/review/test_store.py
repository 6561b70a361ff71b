"""The decision store: journal, resume, changed input, output ownership, revisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psych_plugin.problems import UsageError
from psych_plugin.review.store import (
    Conflict,
    Rejected,
    ReviewStore,
    default_output,
    journal_path,
    read_rows,
)

ROWS = [
    {"instruction": "What is extinction?", "input": "", "output": "The weakening of a response."},
    {
        "instruction": "Define a schema.",
        "input": "",
        "output": "A mental framework.",
        "category": "definition",
    },
    {
        "instruction": "What did Pavlov show?",
        "input": "",
        "output": "Classical conditioning.",
        "category": "experiment",
    },
    {
        "instruction": "Who was H.M.?",
        "input": "",
        "output": "A patient with amnesia.",
        "category": "case_study",
    },
]


def write_rows(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def open_store(tmp_path: Path, **kw) -> ReviewStore:
    src = tmp_path / "rows.jsonl"
    if not src.exists():
        write_rows(src, ROWS)
    rows, problems = read_rows(src)
    assert problems == []
    return ReviewStore(src, rows, tmp_path / "out.jsonl", **kw)


def out_rows(tmp_path: Path) -> list[dict]:
    text = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_output_holds_kept_and_edited_rows_in_input_order(tmp_path):
    s = open_store(tmp_path)
    edited = {**ROWS[0], "output": "The gradual weakening of a conditioned response."}
    s.decide(4, "keep", 0)
    s.decide(2, "drop", 0)
    s.decide(1, "edit", 0, row=edited)
    assert out_rows(tmp_path) == [edited, ROWS[3]]
    assert s.counts() == {
        "unreviewed": 1,
        "kept": 1,
        "dropped": 1,
        "edited": 1,
        "total": 4,
        "reviewed": 3,
    }


def test_a_kept_row_is_copied_byte_for_byte(tmp_path):
    src = tmp_path / "rows.jsonl"
    line = '{"output":"An answer.","instruction":"A question?",   "input":"\\u00e9"}'
    src.write_text(line + "\r\n", encoding="utf-8")
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == line + "\n"


def test_the_input_is_never_modified(tmp_path):
    s = open_store(tmp_path)
    before = (tmp_path / "rows.jsonl").read_bytes()
    s.decide(1, "edit", 0, row={**ROWS[0], "output": "Changed."})
    s.decide(2, "drop", 0)
    assert (tmp_path / "rows.jsonl").read_bytes() == before


def test_a_new_store_resumes_every_decision(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    s.decide(2, "drop", 0)
    s.decide(3, "edit", 0, row={**ROWS[2], "category": "theory"})
    s.decide(3, "keep", 1)  # changed their mind: the last decision wins
    again = open_store(tmp_path)
    assert [again.state[n].status for n in (1, 2, 3, 4)] == [
        "kept",
        "dropped",
        "kept",
        "unreviewed",
    ]
    assert again.state[3].rev == 2
    assert out_rows(tmp_path) == [ROWS[0], ROWS[2]]


def test_journal_is_appended_and_names_its_input(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    s.decide(2, "drop", 0)
    lines = journal_path(tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    header, first, second = (json.loads(x) for x in lines)
    assert header == {"psych_review": 1, "input": str((tmp_path / "rows.jsonl").resolve())}
    assert (first["line"], first["action"], first["base"]) == (1, "keep", 0)
    assert (second["line"], second["action"]) == (2, "drop")


def test_a_stale_revision_is_a_conflict_and_changes_nothing(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)  # tab A
    with pytest.raises(Conflict, match="revision 1"):
        s.decide(1, "drop", 0)  # tab B saw revision 0
    assert s.state[1].status == "kept"
    assert out_rows(tmp_path) == [ROWS[0]]
    s.decide(1, "drop", 1)  # B after reloading the row
    assert s.state[1].status == "dropped"


def test_a_decision_on_a_row_that_is_another_row_now_is_a_conflict(tmp_path):
    s = open_store(tmp_path)
    with pytest.raises(Conflict, match="another row"):
        s.decide(1, "keep", 0, digest="0" * 16)


def test_an_invalid_edit_is_rejected_with_the_validators_text(tmp_path):
    s = open_store(tmp_path)
    with pytest.raises(Rejected) as e:
        s.decide(1, "edit", 0, row={**ROWS[0], "output": "   "})
    assert e.value.problems == [
        f"{tmp_path / 'rows.jsonl'}:1: output: must not be empty or whitespace-only "
        "(got whitespace-only text)"
    ]
    assert s.state[1].status == "unreviewed" and s.state[1].rev == 0
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(Rejected, match="category: must be one of"):
        s.decide(1, "edit", 0, row={**ROWS[0], "category": "gossip"})


def test_an_edit_without_a_change_is_a_keep(tmp_path):
    s = open_store(tmp_path)
    s.decide(2, "edit", 0, row=dict(ROWS[1]))
    assert s.state[2].status == "kept"


def test_an_invalid_input_row_cannot_be_kept_only_edited_or_dropped(tmp_path):
    src = write_rows(tmp_path / "rows.jsonl", [{"instruction": "Q?", "input": "", "output": ""}])
    s = open_store(tmp_path)
    assert s.rows[0].problems == [
        f"{src}:1: output: must not be empty or whitespace-only (got empty text)"
    ]
    with pytest.raises(Rejected):
        s.decide(1, "keep", 0)
    s.decide(1, "edit", 0, row={"instruction": "Q?", "input": "", "output": "A."})
    assert out_rows(tmp_path) == [{"instruction": "Q?", "input": "", "output": "A."}]


def test_reset_makes_a_row_unreviewed_again(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    s.decide(1, "reset", 1)
    assert s.state[1].status == "unreviewed" and s.state[1].rev == 2
    assert out_rows(tmp_path) == []
    assert open_store(tmp_path).state[1].status == "unreviewed"


def test_unknown_action_or_row(tmp_path):
    s = open_store(tmp_path)
    with pytest.raises(ValueError, match="unknown action"):
        s.decide(1, "approve", 0)
    with pytest.raises(ValueError, match="JSON object"):
        s.decide(1, "edit", 0, row=["not", "a", "row"])
    with pytest.raises(KeyError):
        s.decide(99, "keep", 0)


def test_a_changed_row_is_unreviewed_again_and_a_moved_one_keeps_its_decision(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    s.decide(2, "drop", 0)
    s.decide(3, "keep", 0)
    changed = {**ROWS[2], "output": "Conditioned salivation."}
    # A new row above everything moves every line down; row 3 (now 4) changed.
    write_rows(
        tmp_path / "rows.jsonl",
        [ROWS[3] | {"instruction": "New?"}, ROWS[0], ROWS[1], changed, ROWS[3]],
    )
    again = open_store(tmp_path)
    assert again.replay.stale == 1 and again.replay.moved == 2
    assert [again.state[n].status for n in range(1, 6)] == [
        "unreviewed",
        "kept",
        "dropped",
        "unreviewed",
        "unreviewed",
    ]
    # The output follows at once: the changed row is no longer in it.
    assert out_rows(tmp_path) == [ROWS[0]]


def test_a_torn_last_entry_is_dropped(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    journal = journal_path(tmp_path / "out.jsonl")
    with open(journal, "a", encoding="utf-8") as f:
        f.write('{"line": 2, "sha": "ab')  # killed mid-append
    again = open_store(tmp_path)
    assert again.replay.torn
    assert again.state[1].status == "kept" and again.state[2].status == "unreviewed"
    assert journal.read_text(encoding="utf-8").endswith("}\n")
    again.decide(2, "drop", 0)
    assert open_store(tmp_path).state[2].status == "dropped"


def test_a_kill_between_journal_and_output_resumes_and_rewrites_the_output(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    before = (tmp_path / "out.jsonl").read_bytes()
    s.decide(2, "keep", 0)
    (tmp_path / "out.jsonl").write_bytes(before)  # as if killed before the output write
    again = open_store(tmp_path)
    assert out_rows(tmp_path) == [ROWS[0], ROWS[1]]
    assert again.state[2].status == "kept"


def test_a_broken_journal_line_in_the_middle_is_an_error_naming_it(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    s.decide(2, "keep", 0)
    journal = journal_path(tmp_path / "out.jsonl")
    lines = journal.read_text(encoding="utf-8").splitlines()
    lines[1] = "{oops"
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"out\.jsonl\.decisions\.jsonl:2: unreadable"):
        open_store(tmp_path)
    assert open_store(tmp_path, restart=True).counts()["reviewed"] == 0
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == ""


def test_an_output_not_written_by_review_needs_force(tmp_path):
    (tmp_path / "out.jsonl").write_text("mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not written by psych review; --force"):
        open_store(tmp_path)
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == "mine\n"
    s = open_store(tmp_path, force=True)
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == ""
    s.decide(1, "keep", 0)
    assert open_store(tmp_path).state[1].status == "kept"  # review's own now: no --force


def test_an_output_edited_by_hand_after_review_needs_force(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    with open(tmp_path / "out.jsonl", "a", encoding="utf-8") as f:
        f.write('{"instruction": "mine", "input": "", "output": "mine"}\n')
    with pytest.raises(UsageError, match="changed since psych review wrote it"):
        open_store(tmp_path)


def test_a_journal_of_another_input_is_refused_but_a_moved_input_resumes(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    other = write_rows(tmp_path / "other.jsonl", [{**r, "output": "Other."} for r in ROWS])
    rows, _ = read_rows(other)
    with pytest.raises(UsageError, match="holds the review of .*rows.jsonl, whose rows are not"):
        ReviewStore(other, rows, tmp_path / "out.jsonl")
    moved = write_rows(tmp_path / "moved.jsonl", ROWS)
    rows, _ = read_rows(moved)
    assert ReviewStore(moved, rows, tmp_path / "out.jsonl").state[1].status == "kept"


def test_output_must_not_be_the_input(tmp_path):
    src = write_rows(tmp_path / "rows.jsonl", ROWS)
    rows, _ = read_rows(src)
    with pytest.raises(UsageError, match="must not be the input"):
        ReviewStore(src, rows, src)


def test_no_output_is_written_before_the_first_decision(tmp_path):
    open_store(tmp_path)
    assert not (tmp_path / "out.jsonl").exists()
    assert not journal_path(tmp_path / "out.jsonl").exists()


def test_read_rows_reports_lines_that_are_not_rows(tmp_path):
    src = tmp_path / "rows.jsonl"
    src.write_text('{"instruction": "Q", "input": "", "output": "A"}\n\n[1, 2]\n{"a": \n', "utf-8")
    rows, problems = read_rows(src)
    assert [r.line for r in rows] == [1]
    assert [(p.line, p.message) for p in problems] == [
        (3, "expected a JSON object"),
        (4, "truncated JSON: expecting value at column 7"),
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert [p.message for p in read_rows(empty)[1]] == ["no rows: the file is empty"]


def test_default_output_sits_next_to_the_input():
    assert default_output(Path("d/rows.jsonl")) == Path("d/rows.reviewed.jsonl")
    assert default_output(Path("rows")) == Path("rows.reviewed.jsonl")


def test_an_edit_entry_without_its_row_is_an_error_naming_the_line(tmp_path):
    s = open_store(tmp_path)
    s.decide(1, "keep", 0)
    journal = journal_path(tmp_path / "out.jsonl")
    with open(journal, "a", encoding="utf-8") as f:
        f.write(json.dumps({"line": 2, "sha": s.rows[1].digest, "action": "edit"}) + "\n")
    with pytest.raises(UsageError, match=r"decisions\.jsonl:3: unknown review journal entry"):
        open_store(tmp_path)


def test_restart_without_a_journal_still_needs_force_for_a_foreign_output(tmp_path):
    (tmp_path / "out.jsonl").write_text("mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="--force"):
        open_store(tmp_path, restart=True)
