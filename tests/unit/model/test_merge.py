"""psych_plugin/model/merge.py: `psych merge` runs Axolotl's merge, restores the full-precision
tensors a QLoRA merge rounded, and its logit check accepts a true merge and rejects a wrong one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from psych_plugin.cli import main
from psych_plugin.model import merge as merge_mod
from psych_plugin.model.inference import run_paths
from psych_plugin.problems import UsageError
from psych_plugin.prompts import SETTINGS_FILE, PromptSettings, render_prompt
from tests.conftest import adapter_copy, nf4_settings


def merged_copy(adapter_run: Path, dest: Path, scale: float = 1.0) -> Path:
    """base + adapter merged by peft, with the adapter's delta scaled by `scale`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    paths = run_paths(adapter_run)
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32)
    original = {k: v.clone() for k, v in base.state_dict().items()}
    merged = PeftModel.from_pretrained(base, paths.adapter_dir).merge_and_unload()
    if scale != 1.0:
        with torch.no_grad():
            for name, p in merged.named_parameters():
                p.copy_(original[name] + scale * (p - original[name]))
    merged.save_pretrained(dest)
    AutoTokenizer.from_pretrained(paths.base_model).save_pretrained(dest)
    return dest


def test_merge_check_accepts_a_true_merge_and_rejects_a_wrong_one(adapter_run, tmp_path):
    paths = run_paths(adapter_run)
    questions = ["What is memory?", "Define attention."]
    good = merge_mod.compare_logits(paths, merged_copy(adapter_run, tmp_path / "good"), questions)
    assert good.ok and good.relative < 1e-4 and good.adapter_effect > 0.1
    # Half the adapter's effect missing: the merged model is wrong by about half its effect.
    half = merge_mod.compare_logits(
        paths, merged_copy(adapter_run, tmp_path / "half", 0.5), questions
    )
    assert not half.ok and 0.2 < half.relative < 0.8
    # No adapter at all (a merge that did nothing): wrong by the whole effect.
    none = merge_mod.compare_logits(
        paths, merged_copy(adapter_run, tmp_path / "none", 0.0), questions
    )
    assert not none.ok and none.relative == pytest.approx(1.0)


def test_merge_check_thresholds():
    check = merge_mod.MergeCheck(Path("m"), 0.01, 1.0, 0.01, [])
    assert check.relative == 0.01 and check.ok
    assert not merge_mod.MergeCheck(Path("m"), 0.0101, 1.0, 0.01, []).ok
    # An adapter with no effect at all: any difference is infinitely wrong, none is fine.
    assert merge_mod.MergeCheck(Path("m"), 0.0, 0.0, 0.01, []).ok
    assert not merge_mod.MergeCheck(Path("m"), 1e-6, 0.0, 0.01, []).ok


def test_merge_check_thresholds_with_a_4bit_base():
    """QLoRA: the merge's arithmetic (share of the adapter's effect) and the merge's base vs
    the trained 4-bit base (share of the logits' range) must both pass; each says why not."""
    check = merge_mod.MergeCheck(Path("m"), 0.001, 1.0, 0.01, [], 0.5, 20.0)
    assert check.base_relative == 0.025 and check.ok and check.problem == ""
    wrong_base = merge_mod.MergeCheck(Path("m"), 0.001, 1.0, 0.01, [], 2.0, 20.0)
    assert not wrong_base.ok
    assert wrong_base.problem.startswith("the merge's base differs from the trained 4-bit base")
    wrong_sum = merge_mod.MergeCheck(Path("m"), 0.5, 1.0, 0.01, [], 0.5, 20.0)
    assert wrong_sum.problem == "0.500 of the adapter's effect > 0.01"
    assert not merge_mod.MergeCheck(Path("m"), float("nan"), 1.0, 0.01, []).ok


def merged_on(base: object, adapter_dir: Path, tokenizer_from: str, dest: Path) -> Path:
    """`base` + the adapter, merged by peft and saved with a tokenizer."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    PeftModel.from_pretrained(base, adapter_dir).merge_and_unload().save_pretrained(dest)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(dest)
    return dest


def test_qlora_merge_is_checked_against_the_merges_own_base_and_that_base_against_training(
    adapter_run, tmp_path, monkeypatch
):
    """A QLoRA merge made as Axolotl makes it (its NF4 round trip of the base, in float32, plus
    the adapter) passes with its arithmetic exact and its base within the 4-bit base's numeric
    noise; a merge made on the full-precision base (training never saw it) fails the base part,
    even though its arithmetic is right."""
    import torch
    from transformers import AutoModelForCausalLM

    paths = run_paths(adapter_run)
    paths.load_in_4bit = True
    questions = ["What is memory?", "Define attention."]
    good = merged_on(
        merge_mod.merge_base(paths), paths.adapter_dir, paths.base_model, tmp_path / "good"
    )
    check = merge_mod.compare_logits(paths, good, questions)
    assert check.ok, check
    assert check.relative < 1e-4 and check.adapter_effect > 0.1
    assert check.base_relative is not None and 0 < check.base_relative < check.base_tolerance

    def full_precision(p):
        return AutoModelForCausalLM.from_pretrained(p.base_model, dtype=torch.float32).eval()

    monkeypatch.setattr(merge_mod, "merge_base", full_precision)
    wrong = merged_on(full_precision(paths), paths.adapter_dir, paths.base_model, tmp_path / "fp")
    check = merge_mod.compare_logits(paths, wrong, questions)
    assert check.relative < 1e-4  # the sum is right ...
    assert not check.ok and "the merge's base differs" in check.problem  # ... on the wrong base
    assert check.base_relative > 3 * check.base_tolerance


def test_nf4_round_trip_is_axolotls_bit_for_bit():
    """The merge's base is rounded as Axolotl's merge rounds it. Its function is called in a
    child process: importing axolotl.cli wraps this process's sys.stdout and sys.stderr."""
    import subprocess
    import sys

    code = """
import torch
from axolotl.cli.utils.lora_merge import _simulate_nf4_roundtrip
from psych_plugin.model.merge import nf4_round_trip
torch.manual_seed(0)
for shape in ((64, 32), (3, 5, 8), (100, 7)):
    for dtype in (torch.float32, torch.bfloat16):
        t = torch.randn(shape).to(dtype)
        for blocksize in (None, 128):
            for double in (True, False):
                ours = nf4_round_trip(t, blocksize, double, "cpu")
                theirs = _simulate_nf4_roundtrip(t, blocksize, double, "cpu")
                assert ours.dtype == theirs.dtype == dtype and ours.shape == t.shape
                assert torch.equal(ours, theirs), (shape, dtype, blocksize, double)
                assert not torch.equal(ours, t)
print("same")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("same"), done.stderr[-2000:]


def test_merge_base_rounds_as_axolotls_merge_reads_the_config(adapter_run, tmp_path):
    """Axolotl 0.19's merge double-quantizes only when bnb_config_kwargs says so; the merge's
    base follows the config the same way, and keeps the embeddings in full precision."""
    import torch
    import yaml
    from transformers import AutoModelForCausalLM

    paths = run_paths(adapter_run)
    full = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32)
    plain = dict(merge_mod.merge_base(paths).named_parameters())
    cfg = yaml.safe_load(adapter_run.read_text())
    cfg["bnb_config_kwargs"] = {"bnb_4bit_use_double_quant": True}
    config = tmp_path / "dq.yml"
    config.write_text(yaml.safe_dump(cfg))
    paths.config = config
    double = dict(merge_mod.merge_base(paths).named_parameters())
    for name, p in full.named_parameters():
        if name.endswith(merge_mod.FULL_PRECISION_SUFFIXES) or p.ndim < 2:
            assert torch.equal(plain[name], p) and torch.equal(double[name], p), name
        else:
            assert not torch.equal(plain[name], p), name  # NF4-rounded
            assert not torch.equal(plain[name], double[name]), name  # the absmax rounded too


def test_psych_merge_exit_code_follows_the_check(adapter_run, tmp_path, monkeypatch, capsys):
    """The CLI around the check; Axolotl's merge itself runs in the slow e2e test."""
    out = run_paths(adapter_run).adapter_dir

    def fake_axolotl_merge(scale):
        def run(config: Path) -> None:
            assert config == adapter_run
            shutil.rmtree(out / "merged", ignore_errors=True)
            merged_copy(adapter_run, out / "merged", scale)

        return run

    monkeypatch.setattr(merge_mod, "run_axolotl_merge", fake_axolotl_merge(1.0))
    assert main(["merge", "--config", str(adapter_run)]) == 0
    text = capsys.readouterr().out
    assert f"merged model: {out / 'merged'}" in text and "tolerance 0.01" in text
    monkeypatch.setattr(merge_mod, "run_axolotl_merge", fake_axolotl_merge(0.0))
    assert main(["merge", "--config", str(adapter_run)]) == 1
    captured = capsys.readouterr()
    assert "1.000 of the adapter's own effect" in captured.out
    assert "the merged model does not match base + adapter" in captured.err
    monkeypatch.setattr(merge_mod, "run_axolotl_merge", lambda config: None)
    shutil.rmtree(out / "merged")
    assert main(["merge", "--config", str(adapter_run)]) == 2
    assert "Axolotl's merge wrote no model" in capsys.readouterr().err


def test_restore_full_precision_puts_back_only_unquantized_tensors(tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    base, merged = tmp_path / "base", tmp_path / "merged"
    base.mkdir()
    merged.mkdir()
    embed = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    proj = torch.ones(2, 2)
    save_file(
        {"model.embed_tokens.weight": embed, "model.q_proj.weight": proj},
        str(base / "model.safetensors"),
    )
    save_file(
        {"model.embed_tokens.weight": embed.round() + 0.25, "model.q_proj.weight": proj * 3},
        str(merged / "model.safetensors"),
        metadata={"format": "pt"},
    )
    assert merge_mod.restore_full_precision(base, merged) == ["model.embed_tokens.weight"]
    got = load_file(str(merged / "model.safetensors"))
    assert torch.equal(got["model.embed_tokens.weight"], embed)
    assert torch.equal(got["model.q_proj.weight"], proj * 3)  # merged LoRA weight: kept
    with safe_open(str(merged / "model.safetensors"), "pt") as h:
        assert h.metadata() == {"format": "pt"}
    assert merge_mod.restore_full_precision(base, merged) == []  # already equal
    assert sorted(p.name for p in merged.iterdir()) == ["model.safetensors"]


# --- merge: the Axolotl call, the reference model, the comparison and the restore, exactly ------


def test_run_axolotl_merge_runs_axolotls_cli_without_telemetry(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    calls = []
    exit_code = 0

    def run(args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args, exit_code)

    monkeypatch.setattr(merge_mod.subprocess, "run", run)
    monkeypatch.setenv("AXOLOTL_DO_NOT_TRACK", "0")
    config = tmp_path / "cfg.yml"
    assert merge_mod.run_axolotl_merge(config) is None
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1"}
    assert calls == [
        (
            [sys.executable, "-m", "axolotl.cli.merge_lora", str(config)],
            {"env": env, "check": False},
        )
    ]
    for exit_code in (1, 3):
        with pytest.raises(UsageError) as e:
            merge_mod.run_axolotl_merge(config)
        assert str(e.value) == f"axolotl.cli.merge_lora {config} failed (exit {exit_code})"


@pytest.fixture
def model_loads(monkeypatch):
    """AutoModelForCausalLM.from_pretrained, recorded: (path, kwargs) per call; the model is the
    real one loaded on the CPU without those kwargs (no 4-bit without a GPU), and the ids each
    model is run on are recorded too (`ids`, by path)."""
    from types import SimpleNamespace

    import transformers

    rec = SimpleNamespace(calls=[], ids={})
    real = transformers.AutoModelForCausalLM.from_pretrained

    def from_pretrained(path, **kwargs):
        rec.calls.append((path, kwargs))
        model = real(path)
        forward = model.forward

        def recording_forward(*args, **kw):
            rec.ids.setdefault(str(path), []).append(kw["input_ids"][0].tolist())
            return forward(*args, **kw)

        model.forward = recording_forward
        return model

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    return rec


def test_reference_model_is_the_base_quantized_as_trained_plus_the_adapter(
    adapter_run, model_loads, tiny_model
):
    import torch
    from peft import PeftModel

    paths = run_paths(adapter_run)
    model = merge_mod.reference_model(paths)
    assert isinstance(model, PeftModel) and not model.training
    assert model_loads.calls == [(str(tiny_model), {})]
    paths.load_in_4bit = True
    merge_mod.reference_model(paths)
    path, kwargs = model_loads.calls[1]
    q = kwargs.pop("quantization_config")
    assert (path, kwargs) == (str(tiny_model), {})
    # QLoRA's NF4 with double quantization; computing in float32 for an exact comparison.
    assert nf4_settings(q) == (True, False, "nf4", True, torch.float32)


def small_adapter(adapter_run: Path, dest: Path, scale: float) -> Path:
    """A copy of the adapter with its LoRA B weights scaled (a weaker adapter)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(run_paths(adapter_run).adapter_dir, dest)
    weights = dest / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    save_file(
        {k: v * scale if "lora_B" in k else v for k, v in tensors.items()},
        str(weights),
        metadata={"format": "pt"},
    )
    return dest


def test_compare_logits_runs_every_model_on_the_training_prompt(
    adapter_run, model_loads, tiny_model, tmp_path
):
    """The chat prompt the adapter was trained with (its saved settings), tokenized without added
    special tokens even by a tokenizer that adds a BOS, fed alike to the merged model (in
    float32) and to base + adapter. A weak adapter, and a "merge" that left the base as it was:
    wrong by exactly the adapter's whole (small) effect."""
    import torch
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    paths = run_paths(adapter_run)
    paths.adapter_dir = small_adapter(adapter_run, tmp_path / "out", 0.001)
    chat = PromptSettings(use_category_prompts=True)
    chat.save(paths.adapter_dir)
    merged = tmp_path / "merged"
    shutil.copytree(tiny_model, merged)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", 151644)]
    )
    tokenizer.save_pretrained(merged)
    questions = ["What is memory?", "Define attention."]
    check = merge_mod.compare_logits(paths, merged, questions)
    assert model_loads.calls == [(str(tiny_model), {}), (merged, {"dtype": torch.float32})]
    prompts = [render_prompt(chat, tokenizer, q) for q in questions]
    assert prompts[0].startswith("<|im_start|>system\n")
    want = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    assert want[0][0] == 151644 and tokenizer(prompts[0]).input_ids[:2] == [151644, 151644]
    assert model_loads.ids[str(merged)] == want
    assert model_loads.ids[str(tiny_model)] == [want[0], want[0], want[1], want[1]]
    assert 0 < check.adapter_effect < 0.5 and check.restored == []
    assert check.max_abs_diff == check.adapter_effect and check.relative == 1.0
    assert not check.ok


def test_compare_logits_needs_the_adapters_prompt_settings(adapter_run, tmp_path):
    paths = adapter_copy(adapter_run, tmp_path / "out")
    (paths.adapter_dir / SETTINGS_FILE).unlink()
    with pytest.raises(UsageError) as e:
        merge_mod.compare_logits(paths, paths.base_model, ["What is memory?"])
    assert str(e.value) == (
        f"{paths.adapter_dir / SETTINGS_FILE}: missing; this adapter was not trained with "
        "psych_plugin"
    )


def test_base_dir_is_the_local_folder_or_the_hub_cache_offline(tiny_model, monkeypatch):
    import huggingface_hub

    assert merge_mod._base_dir(str(tiny_model)) == tiny_model
    calls = []

    def snapshot_download(*args, **kwargs):
        calls.append((args, kwargs))
        return "/cache/models--org--model/snapshots/abc"

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    got = merge_mod._base_dir("org/model")
    assert got == Path("/cache/models--org--model/snapshots/abc")
    assert calls == [(("org/model",), {"local_files_only": True})]


def test_restore_full_precision_across_shards_and_dtypes(tmp_path, monkeypatch):
    """A merged model saved in bf16: a tensor equal to the base's once cast is untouched; a
    changed one gets the base's values in the merged dtype; every shard is looked at."""
    import torch
    from safetensors.torch import load_file, save_file

    monkeypatch.chdir(tmp_path)  # nothing written outside the two folders can be read back

    base, merged = tmp_path / "base", tmp_path / "merged"
    base.mkdir()
    merged.mkdir()
    third = torch.full((2, 3), 1 / 3)  # not exact in bf16
    embed, head = third * 3, third * 6
    save_file(
        {
            "model.embed_tokens.weight": embed,
            "lm_head.weight": head,
            "vision.embed_tokens.weight": third.clone(),
            "norm.weight": third,
        },
        str(base / "model.safetensors"),
    )
    bf16 = torch.bfloat16
    shards = {
        "model-00001-of-00003.safetensors": {"model.embed_tokens.weight": (embed + 1).to(bf16)},
        "model-00002-of-00003.safetensors": {  # as saved in bf16: equal
            "vision.embed_tokens.weight": third.to(bf16),
            "norm.weight": (third + 1).to(bf16),  # not a full-precision tensor: kept
        },
        "model-00003-of-00003.safetensors": {"lm_head.weight": (head - 1).to(bf16)},
    }
    for name, tensors in shards.items():
        save_file(tensors, str(merged / name), metadata={"format": "pt"})
    assert merge_mod.restore_full_precision(base, merged) == [
        "lm_head.weight",
        "model.embed_tokens.weight",
    ]
    got: dict = {}
    for name in shards:
        got.update(load_file(str(merged / name)))
    assert {k: v.dtype for k, v in got.items()} == dict.fromkeys(got, bf16)
    assert torch.equal(got["model.embed_tokens.weight"], embed.to(bf16))
    assert torch.equal(got["lm_head.weight"], head.to(bf16))
    assert torch.equal(got["vision.embed_tokens.weight"], third.to(bf16))
    assert torch.equal(got["norm.weight"], (third + 1).to(bf16))
    # A bf16 copy of an fp32 base: nothing to restore.
    assert merge_mod.restore_full_precision(base, merged) == []


def test_merge_restores_full_precision_tensors_only_after_qlora(
    adapter_run, tiny_model, tmp_path, monkeypatch
):
    """QLoRA (load_in_4bit): the base's embeddings are put back into Axolotl's merged model, and
    named in the check; LoRA: the merged model is left as Axolotl wrote it."""
    import torch
    from safetensors.torch import load_file, save_file

    paths = run_paths(adapter_run)
    monkeypatch.chdir(tmp_path)  # nothing written outside the run's folders can be read back
    paths.adapter_dir = tmp_path / "out"
    shutil.copytree(run_paths(adapter_run).adapter_dir, paths.adapter_dir)
    merged = paths.adapter_dir / "merged"
    key = "model.embed_tokens.weight"

    def axolotl_merge(config: Path) -> None:  # the embeddings through a (here: crude) round trip
        assert config == adapter_run
        shutil.rmtree(merged, ignore_errors=True)
        shutil.copytree(tiny_model, merged)
        tensors = load_file(str(merged / "model.safetensors"))
        tensors[key] = tensors[key].round()
        save_file(tensors, str(merged / "model.safetensors"), metadata={"format": "pt"})

    compared = []

    def compare_logits(paths_, merged_dir, questions):
        compared.append((paths_, merged_dir, questions))
        return merge_mod.MergeCheck(merged_dir, 0.0, 1.0, merge_mod.TOLERANCE, [])

    monkeypatch.setattr(merge_mod, "run_axolotl_merge", axolotl_merge)
    monkeypatch.setattr(merge_mod, "compare_logits", compare_logits)
    original = load_file(str(tiny_model / "model.safetensors"))[key]
    check = merge_mod.merge(paths, ["What is memory?"])
    assert check.restored == [] and compared == [(paths, merged, ["What is memory?"])]
    assert torch.equal(load_file(str(merged / "model.safetensors"))[key], original.round())
    paths.load_in_4bit = True
    check = merge_mod.merge(paths, ["What is memory?"])
    assert check.restored == [key] and check.merged_dir == merged
    assert torch.equal(load_file(str(merged / "model.safetensors"))[key], original)
