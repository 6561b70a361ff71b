"""The README stays a user's README that tells the truth: its synopsis names every `psych`
subcommand and option the CLI has, its links to docs/ resolve, it stays short, and neither it
nor docs/ talks about where or how the product was developed."""

from __future__ import annotations

import argparse
import re

import pytest

from psych_plugin.cli import build_parser
from tests.conftest import REPO, run_psych

README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_LINES = 320
# Words that belong to a lab notebook, not to a product's documentation.
# Words about how the product was made, not what it is ("session" as a whole word: a study
# session in a psychology example is fine).
FORBIDDEN = (r"this machine", r"2-core machine", r"(?<!study )\bsessions?\b", r"\.\./shared")


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def synopsis() -> dict[str, str]:
    """The README's `psych` synopsis: subcommand -> its entry (the line and its continuations)."""
    text = readme_text()
    section = text.split("## The `psych` command", 1)
    assert len(section) == 2, "README.md: no '## The `psych` command' section"
    block = re.search(r"```text\n(.*?)```", section[1], re.S)
    assert block, "README.md: the `psych` section has no ```text synopsis block"
    entries: dict[str, str] = {}
    current = None
    for line in block.group(1).splitlines():
        m = re.match(r"psych ([a-z][a-z-]*)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith(" "):
            entries[current] += "\n" + line
    return entries


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_psych_help_lists_is_in_the_synopsis():
    done = run_psych("--help")
    assert done.returncode == 0, done.stderr
    listed = re.search(r"\{([a-z,-]+)\}", done.stdout)
    assert listed, done.stdout
    commands = listed.group(1).split(",")
    assert len(commands) >= 15, commands  # the parse found the real list
    missing = sorted(set(commands) - set(synopsis()))
    assert not missing, f"README.md synopsis lacks: psych {', psych '.join(missing)}"


def test_every_option_of_every_subcommand_is_in_its_synopsis_entry():
    entries = synopsis()
    missing = []
    for name, parser in subparsers().items():
        entry = entries.get(name, "")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            # The long form where there is one (`-o/--output` is written `-o` or `--output`).
            if not any(
                re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", entry)
                for o in action.option_strings
            ):
                missing.append(f"psych {name} {'/'.join(action.option_strings)}")
    assert not missing, "README.md synopsis lacks: " + "; ".join(missing)


def test_every_docs_link_in_the_readme_points_at_a_file():
    links = re.findall(r"\]\((docs/[^)#\s]+)", readme_text())
    assert links, "README.md links no docs/ page"
    broken = sorted({link for link in links if not (REPO / link).is_file()})
    assert not broken, f"README.md links missing files: {broken}"


def test_links_between_docs_pages_point_at_files():
    broken = []
    for page in sorted(DOCS.glob("*.md")):
        for link in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", page.read_text("utf-8")):
            if "://" not in link and not (page.parent / link).resolve().is_file():
                broken.append(f"{page.relative_to(REPO)} -> {link}")
    assert not broken, f"broken links: {broken}"


def test_readme_is_short():
    lines = len(readme_text().splitlines())
    assert lines < MAX_LINES, f"README.md has {lines} lines; keep it under {MAX_LINES}"


@pytest.mark.parametrize(
    "path",
    [README, *sorted(DOCS.glob("*.md"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_docs_speak_of_the_product_only(path):
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for word in FORBIDDEN:
            if re.search(word, line.lower()):
                found.append(f"{path.relative_to(REPO)}:{number}: {word!r}")
    assert not found, "; ".join(found)


def test_bench_gpu_writes_its_tables_into_docs_not_the_readme():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^bench-gpu:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile: no bench-gpu recipe"
    assert "--docs docs/benchmarks.md" in recipe.group(1)
    assert "README" not in recipe.group(1)
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    assert "<!-- bench-gpu:start -->" in page and "<!-- bench-gpu:end -->" in page
    assert "bench-gpu:start" not in readme_text()


def test_every_make_target_that_make_help_lists_is_in_the_readme():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    help_recipe = re.search(r"^help:\n((?:\t.*\n)+)", makefile, re.M)
    assert help_recipe, "Makefile: no help recipe"
    targets = re.findall(r'echo "\s+make ([a-z][\w-]*)', help_recipe.group(1))
    assert len(targets) >= 10, targets  # the parse found the real list
    missing = [t for t in targets if f"`make {t}" not in readme_text()]
    assert not missing, f"README.md's make targets lack: {missing}"
