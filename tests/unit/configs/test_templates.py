"""psych_plugin/configs/templates.py, the template layer of `psych config`: YAML reading (safe
loading only), overrides, preset chains, the generated header and its hash, hand-edited files
kept. Exact values throughout: a wrong merge, type or message turns a test red."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from psych_plugin import atomic
from psych_plugin.cli import main
from psych_plugin.configs import templates as t
from psych_plugin.configs.templates import resolve_preset
from psych_plugin.paths import PACKAGE_DIR
from psych_plugin.problems import UsageError
from tests.conftest import GPU_LIST, REPO, fake_nvidia_smi, run_cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- reading YAML ----------------------------------------------------------------------------


def test_read_yaml_text_errors_are_one_line(tmp_path):
    with pytest.raises(UsageError) as e:
        t.read_yaml_text(tmp_path / "none.yml")
    assert str(e.value) == f"{tmp_path / 'none.yml'}: no such file"
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"a: \xe9\n")
    with pytest.raises(UsageError, match=r"latin\.yml: cannot read: 'utf-8' codec"):
        t.read_yaml_text(latin)
    with pytest.raises(UsageError, match=r": cannot read: .*Is a directory"):
        t.read_yaml_text(tmp_path)
    bad = write(tmp_path / "bad.yml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(UsageError) as e:
        t.read_yaml_text(bad)
    assert str(e.value) == f"{bad}:3: -: invalid YAML: expected ',' or ']', but got ':'"
    tab = write(tmp_path / "tab.yml", "a:\n\t- 1\n")
    with pytest.raises(UsageError, match=r"tab\.yml:2: -: invalid YAML: found character '\\t'"):
        t.read_yaml_text(tab)


def test_read_yaml_text_returns_text_and_value(tmp_path):
    path = write(tmp_path / "c.yml", "a: 1\nb: [x]\n")
    assert t.read_yaml_text(path) == ("a: 1\nb: [x]\n", {"a": 1, "b": ["x"]})


def test_read_yaml_wants_a_mapping(tmp_path):
    assert t.read_yaml(write(tmp_path / "empty.yml", "")) == {}
    assert t.read_yaml(write(tmp_path / "comment.yml", "# nothing\n")) == {}
    with pytest.raises(UsageError) as e:
        t.read_yaml(write(tmp_path / "list.yml", "- a\n"))
    assert str(e.value) == f"{tmp_path / 'list.yml'}:1: -: expected a YAML mapping of config keys"


# --- merging and overrides -------------------------------------------------------------------


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": {"p": 1}}, "l": [1, 2], "s": 1, "m": {"k": 1}}
    over = {"a": {"y": {"q": 2}, "z": 3}, "l": [3], "s": {"now": "a map"}, "m": 5}
    assert t.deep_merge(base, over) == {
        "a": {"x": 1, "y": {"p": 1, "q": 2}, "z": 3},
        "l": [3],
        "s": {"now": "a map"},
        "m": 5,
    }
    assert base == {"a": {"x": 1, "y": {"p": 1}}, "l": [1, 2], "s": 1, "m": {"k": 1}}


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("lora_r=32", ["lora_r"], 32),
        ("learning_rate=2e-4", ["learning_rate"], 2e-4),
        ("learning_rate=-1.5E+3", ["learning_rate"], -1.5e3),
        ("x=.5e1", ["x"], 5.0),
        ("bf16=true", ["bf16"], True),
        ("bf16=False", ["bf16"], False),
        ("eval_strategy=no", ["eval_strategy"], "no"),
        ("flag=on", ["flag"], "on"),
        ("a.b.c=[q_proj, v_proj]", ["a", "b", "c"], ["q_proj", "v_proj"]),
        ("base_model=", ["base_model"], ""),
        ("base_model=  ", ["base_model"], ""),
        ("adapter=null", ["adapter"], None),
        (" name =Qwen/Qwen3-1.7B", ["name"], "Qwen/Qwen3-1.7B"),
        ("note=a=b", ["note"], "a=b"),
        ("version=1e5x", ["version"], "1e5x"),
    ],
)
def test_parse_override(text, keys, value):
    got_keys, got = t.parse_override(text)
    assert got_keys == keys and got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("novalue", "--set 'novalue': expected KEY=VALUE"),
        ("=3", "--set '=3': expected KEY=VALUE"),
        (" =3", "--set ' =3': expected KEY=VALUE"),
        ("a=[1", "--set 'a=[1': value is not valid YAML (ParserError)"),
    ],
)
def test_parse_override_errors(text, message):
    with pytest.raises(UsageError) as e:
        t.parse_override(text)
    assert str(e.value) == message


def test_apply_override_creates_and_indexes():
    cfg = {"datasets": [{"path": "a"}, {"path": "b"}], "n": 1}
    t.apply_override(cfg, ["datasets", "1", "path"], "c")
    t.apply_override(cfg, ["new", "deep", "key"], 3)
    t.apply_override(cfg, ["n", "inner"], 2)  # a scalar on the way becomes a mapping
    assert cfg["datasets"] == [{"path": "a"}, {"path": "c"}]
    assert cfg["new"] == {"deep": {"key": 3}} and cfg["n"] == {"inner": 2}
    t.apply_override(cfg, ["datasets", "0"], {"path": "z"})
    assert cfg["datasets"][0] == {"path": "z"}


def test_apply_override_never_makes_a_mapping_of_list_indexes():
    # `datasets.0.path` with no datasets: a new list has no item 0 (not {"0": {...}})
    cfg: dict = {}
    with pytest.raises(UsageError) as e:
        t.apply_override(cfg, ["made", "0", "path"], "x")
    assert str(e.value) == "--set made.0.path: no list item 0"
    with pytest.raises(UsageError) as e:
        t.apply_override(cfg, ["other", "0"], "x")
    assert str(e.value) == "--set other.0: no list item 0"
    assert cfg == {"made": [], "other": []}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["datasets", "2", "path"], "--set datasets.2.path: no list item 2"),
        (["datasets", "x", "path"], "--set datasets.x.path: no list item x"),
        (["datasets", "2"], "--set datasets.2: no list item 2"),
        (["datasets", "first"], "--set datasets.first: no list item first"),
    ],
)
def test_apply_override_list_errors(keys, message):
    cfg = {"datasets": [{"path": "a"}, {"path": "b"}]}
    with pytest.raises(UsageError) as e:
        t.apply_override(cfg, keys, 1)
    assert str(e.value) == message
    assert cfg == {"datasets": [{"path": "a"}, {"path": "b"}]}


# --- presets ---------------------------------------------------------------------------------


@pytest.fixture
def templates_dir(tmp_path):
    root = tmp_path / "axolotl_configs"
    write(root / "defaults.yml", "a: 1\nnested: {x: 1, y: 1}\nlist: [1, 2]\n")
    write(root / "presets" / "base.yml", "b: 2\nnested: {y: 2}\n")
    write(root / "presets" / "child.yml", "extends: base\nc: 3\nnested: {z: 3}\nlist: [9]\n")
    write(root / "presets" / "loop1.yml", "extends: loop2\n")
    write(root / "presets" / "loop2.yml", "extends: loop1\n")
    write(root / "presets" / "broken.yml", "extends: nowhere\n")
    write(root / "presets" / "notes.txt", "not a preset\n")
    return root


def test_list_presets(templates_dir):
    assert t.list_presets(templates_dir / "presets") == [
        "base",
        "broken",
        "child",
        "loop1",
        "loop2",
    ]


def test_extends_chain_merges_in_order(templates_dir):
    presets = templates_dir / "presets"
    got = t.resolve_preset("child", ["c=4", "nested.w=5"], presets_dir=presets)
    assert got.config == {
        "a": 1,
        "nested": {"x": 1, "y": 2, "z": 3, "w": 5},
        "list": [9],
        "b": 2,
        "c": 4,
    }
    assert got.sources == [
        templates_dir / "defaults.yml",
        presets / "base.yml",
        presets / "child.yml",
    ]
    assert (got.preset, got.overrides) == ("child", ["c=4", "nested.w=5"])


def test_presets_without_defaults(templates_dir):
    (templates_dir / "defaults.yml").unlink()
    got = t.resolve_preset("base", presets_dir=templates_dir / "presets")
    assert got.config == {"b": 2, "nested": {"y": 2}}
    assert got.sources == [templates_dir / "presets" / "base.yml"]
    assert got.overrides == []


def test_preset_errors(templates_dir):
    presets = templates_dir / "presets"
    with pytest.raises(UsageError) as e:
        t.resolve_preset("nope", presets_dir=presets)
    assert str(e.value) == "unknown preset 'nope' (known: base, broken, child, loop1, loop2)"
    with pytest.raises(UsageError) as e:
        t.resolve_preset("broken", presets_dir=presets)
    assert str(e.value).startswith("unknown preset 'nowhere' (known: ")
    with pytest.raises(UsageError) as e:
        t.resolve_preset("loop1", presets_dir=presets)
    assert str(e.value) == f"{presets / 'loop1.yml'}: `extends` loops back to 'loop1'"


def test_tiny_base_model_points_at_the_cache(templates_dir, monkeypatch, tmp_path):
    write(templates_dir / "presets" / "tiny.yml", f"base_model: {t.TINY_BASE_MODEL}\n")
    cache = tmp_path / "cache"
    monkeypatch.setenv("PSYCH_CACHE_DIR", str(cache))
    monkeypatch.chdir(tmp_path)
    got = t.resolve_preset("tiny", presets_dir=templates_dir / "presets").config
    from psych_plugin.model.tiny import tiny_model_dir

    expected = tiny_model_dir().resolve()
    assert str(expected).startswith(str(cache.resolve()))
    assert got["base_model"] == str(expected.relative_to(tmp_path.resolve()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the cache is not under the working directory: absolute
    got = t.resolve_preset("tiny", presets_dir=templates_dir / "presets").config
    assert got["base_model"] == str(expected)
    other = t.resolve_preset("tiny", ["base_model=my/model"], presets_dir=templates_dir / "presets")
    assert other.config["base_model"] == "my/model"


# --- the generated file ----------------------------------------------------------------------


def resolved(config: dict, overrides: list[str] | None = None, sources: list[Path] | None = None):
    return t.Resolved("p", config, sources or [], overrides or [])


def test_render_header_and_hash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = [tmp_path / "axolotl_configs" / "defaults.yml", Path("/elsewhere/p.yml")]
    text = t.render(resolved({"b": 1, "a": "é"}, ["a=é", "b=1"], sources))
    lines = text.splitlines()
    body = "b: 1\na: é\n"
    assert lines[:5] == [
        "# Generated by `psych config p` from: axolotl_configs/defaults.yml + /elsewhere/p.yml",
        "# Overrides: a=é b=1",
        "# Edit the templates (or pass --set) rather than this file: `psych config` will not",
        "# overwrite a hand-edited copy without --force.",
        f"# psych-config-sha256: {hashlib.sha256(body.encode()).hexdigest()}",
    ]
    assert text.endswith("\n" + body)
    assert t.render(resolved({"a": 1})).splitlines()[1] == "# Overrides: (none)"
    long = {"k": "word " * 30}  # wrapped at 100 columns, not 80
    first = t.render(resolved(long)).splitlines()[5]
    assert 95 < len(first) <= 105


def test_is_hand_edited(tmp_path):
    path = tmp_path / "c.yml"
    assert t.is_hand_edited(path) is False  # nothing there yet
    text = t.render(resolved({"a": 1}))
    path.write_text(text)
    assert t.is_hand_edited(path) is False
    path.write_text(text.replace("a: 1", "a: 2"))
    assert t.is_hand_edited(path) is True
    path.write_text(text + "b: 2\n")
    assert t.is_hand_edited(path) is True
    path.write_text("a: 1\n")  # not generated by psych config
    assert t.is_hand_edited(path) is True
    # the header line alone with nothing after it: an empty body, hashed as such
    empty = hashlib.sha256(b"").hexdigest()
    path.write_text(f"# psych-config-sha256: {empty}")
    assert t.is_hand_edited(path) is False
    path.write_text(f"# psych-config-sha256: {empty}\n")
    assert t.is_hand_edited(path) is False
    path.write_text(f"# psych-config-sha256: {empty}\nx: 1\n")
    assert t.is_hand_edited(path) is True


def test_write_config(tmp_path):
    out = tmp_path / "c.yml"
    first = resolved({"a": 1})
    assert t.write_config(first, out) is True
    assert out.read_text() == t.render(first)
    assert t.write_config(first, out) is False  # identical: not rewritten
    second = resolved({"a": 2})
    assert t.write_config(second, out) is True  # generated and untouched: replaced
    assert out.read_text() == t.render(second)
    out.write_text(out.read_text().replace("a: 2", "a: 3"))
    with pytest.raises(UsageError) as e:
        t.write_config(first, out)
    assert str(e.value) == (
        f"{out}: edited by hand since it was generated; not overwriting it "
        "(use --force, or move your edits into the templates or --set)"
    )
    assert "a: 3" in out.read_text()
    assert t.write_config(first, out, force=True) is True
    assert out.read_text() == t.render(first)


def test_default_output_and_preset_names():
    assert t.default_output("tiny-cpu") == Path("axolotl_configs/generated/tiny-cpu.yml")
    assert (t.GPU_PRESET, t.CPU_PRESET) == ("qwen3-1.7b-qlora", "tiny-cpu")
    assert t.TINY_BASE_MODEL == ".cache/tiny-qwen3"


def test_yaml_errors_without_a_position(tmp_path):
    # A reader error (a control character) has no problem mark: line 0, its own first line
    path = write(tmp_path / "c.yml", "a: \x01\n")
    with pytest.raises(UsageError) as e:
        t.read_yaml_text(path)
    assert str(e.value) == (
        f"{path}:0: -: invalid YAML: unacceptable character #x0001: special characters are not "
        "allowed"
    )


def test_shipped_presets_are_listed_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no axolotl_configs/ here: the shipped templates
    assert t.list_presets() == [
        "qwen3-1.7b-lora",
        "qwen3-1.7b-lora-ds3",
        "qwen3-1.7b-lora-fsdp",
        "qwen3-1.7b-qlora",
        "qwen3-1.7b-qlora-ds2",
        "smollm2-135m-cpu",
        "tiny-cpu",
    ]


def test_a_file_that_is_not_utf8_counts_as_hand_edited(tmp_path):
    path = tmp_path / "c.yml"
    path.write_bytes(b"\xff\xfe not ours\n")
    assert t.is_hand_edited(path) is True


def test_apply_override_goes_on_past_a_list_item():
    cfg = {"datasets": [{"roles": {"user": ["human"]}}]}
    t.apply_override(cfg, ["datasets", "0", "roles", "user"], ["me"])
    assert cfg == {"datasets": [{"roles": {"user": ["me"]}}]}


def test_write_config_over_a_file_that_is_not_utf8(tmp_path):
    out = tmp_path / "c.yml"
    out.write_bytes(b"\xff\xfe someone else's file\n")
    with pytest.raises(UsageError, match="edited by hand"):
        t.write_config(resolved({"a": 1}), out)
    assert out.read_bytes() == b"\xff\xfe someone else's file\n"
    assert t.write_config(resolved({"a": 1}), out, force=True) is True
    assert out.read_text() == t.render(resolved({"a": 1}))


def test_tiny_cpu_preset_is_qlora_without_cuda_kernels():
    cfg = resolve_preset("tiny-cpu").config
    assert cfg["adapter"] == "qlora" and cfg["load_in_4bit"] is True
    assert cfg["lora_mlp_kernel"] is cfg["lora_qkv_kernel"] is cfg["lora_o_kernel"] is False
    gpu = resolve_preset("qwen3-1.7b-qlora").config
    assert gpu["attn_implementation"] == "sdpa" and gpu["sample_packing"] is True
    assert len(gpu["lora_target_modules"]) == 7


def test_generation_is_deterministic_and_typed(tmp_path, capsys):
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    sets = [
        "--set",
        "lora_r=32",
        "--set",
        "bf16=false",
        "--set",
        "lora_target_modules=[q_proj]",
        "--set",
        "learning_rate=1e-4",
        "--set",
        "eval_strategy=no",
        "--no-check",
    ]
    assert main(["config", "qwen3-1.7b-lora", "-o", str(a), *sets]) == 0
    assert main(["config", "qwen3-1.7b-lora", "-o", str(b), *sets]) == 0
    assert a.read_bytes() == b.read_bytes()
    cfg = yaml.safe_load(a.read_text())
    assert cfg["lora_r"] == 32 and cfg["bf16"] is False and cfg["lora_target_modules"] == ["q_proj"]
    assert cfg["learning_rate"] == 1e-4
    assert cfg["eval_strategy"] == "no"  # not YAML 1.1's boolean False
    header = a.read_text().splitlines()[:2]
    assert "axolotl_configs/defaults.yml + axolotl_configs/presets/qwen3-1.7b-lora.yml" in header[0]
    assert "lora_r=32" in header[1]


def test_hand_edited_output_is_protected(tmp_path, capsys):
    out = tmp_path / "c.yml"
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0  # unchanged: fine
    assert "unchanged" in capsys.readouterr().out
    edited = out.read_text().replace("lora_r: 16", "lora_r: 64")
    out.write_text(edited)
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 2
    assert "edited by hand" in capsys.readouterr().err
    assert out.read_text() == edited
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check", "--force"]) == 0
    assert "lora_r: 16" in out.read_text()


def test_unknown_preset_and_bad_override(tmp_path, capsys):
    assert main(["config", "nope", "-o", str(tmp_path / "x.yml")]) == 2
    assert "unknown preset 'nope' (known:" in capsys.readouterr().err
    assert main(["config", "tiny-cpu", "--set", "novalue", "-o", str(tmp_path / "x.yml")]) == 2


def test_stand_in_gpu_generates_the_qwen_preset_with_an_importable_backend(tmp_path):
    """`psych config` on a machine whose nvidia-smi answers: the qwen preset, sdpa (torch
    itself), the reason printed; the only error is that this torch build is CPU-only."""
    env = fake_nvidia_smi(tmp_path, GPU_LIST)
    out = tmp_path / "gen.yml"
    done = subprocess.run(
        [sys.executable, "-m", "psych_plugin", "config", "-o", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "chose qwen3-1.7b-qlora" in done.stderr
    assert yaml.safe_load(out.read_text())["attn_implementation"] == "sdpa"
    assert re.search(r"attention: sdpa: PyTorch SDPA, always importable; packed rows", done.stdout)
    import torch

    # Errors only: warnings depend on what else is on the machine (a tokenizer to count with).
    problems = [
        line
        for line in done.stdout.splitlines()
        if line.startswith(f"{out}:") and ": warning: " not in line
    ]
    if not torch.cuda.is_available():  # a CPU torch build under a stand-in driver
        assert len(problems) == 1 and "cannot use it" in problems[0], done.stdout
        assert done.returncode == 1
    else:
        assert problems == [] and done.returncode == 0, done.stdout


def test_yaml_cannot_execute_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yml"
    evil.write_text(f'base_model: !!python/object/apply:os.system ["touch {marker}"]\n')
    code, out = run_cli(capsys, "check-config", str(evil))
    assert code == 2 and "invalid YAML" in out
    assert not marker.exists()
    template = tmp_path / "presets"
    template.mkdir()
    (template / "evil.yml").write_text(evil.read_text())
    from psych_plugin.configs.templates import resolve_preset
    from psych_plugin.problems import UsageError

    with pytest.raises(UsageError):
        resolve_preset("evil", presets_dir=template, defaults=tmp_path / "none.yml")
    assert not marker.exists()


def test_package_only_safe_loads_yaml():
    unsafe = re.compile(r"yaml\.(load|unsafe_load|full_load)\(|Loader=yaml\.(Full)?Loader")
    for path in PACKAGE_DIR.rglob("*.py"):
        assert not unsafe.search(path.read_text()), path


def test_ctrl_c_during_config_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    out = tmp_path / "c.yml"
    assert main(["config", "tiny-cpu", "-o", str(out), "--no-check"]) == 0
    before = out.read_text()
    monkeypatch.setattr(atomic.os, "fsync", lambda _fd: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["config", "tiny-cpu", "--set", "lora_r=4", "-o", str(out), "--no-check"]) == 130
    assert out.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.yml"]
