"""Inference and the merge check on a real PEFT adapter, made in a second without training
(random LoRA weights, so the adapter visibly changes the answers). `psych infer` must answer
exactly what greedy generation on the saved training prompt (psych_prompt.json) gives; the merge
check must accept a true merge and reject a wrong one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from psych_plugin.cli import main
from psych_plugin.prompts import SETTINGS_FILE, PromptSettings, render_prompt
from psych_plugin.model import merge as merge_mod
from psych_plugin.model.inference import (
    check_adapter,
    generate_answers,
    load_model,
    prompt_settings,
    run_paths,
)
from psych_plugin.problems import UsageError

QUESTION = "What is operant conditioning?"
# What the adapter was "trained" with; the config below asks for chat style, which infer must
# ignore in favour of the saved file.
SAVED = PromptSettings(style="alpaca", alpaca_preamble="Answer as a psychology tutor.\n\n")


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A training config whose output_dir holds a LoRA adapter and psych_prompt.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tmp = tmp_path_factory.mktemp("adapter")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = LoraConfig(
        r=4,
        lora_alpha=64,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,  # random B: a visible effect, as after training
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora)
    out = tmp / "out"
    model.save_pretrained(out)
    SAVED.save(out)
    cfg = tmp / "cfg.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "base_model": str(tiny_model),
                "output_dir": str(out),
                "adapter": "lora",
                "load_in_4bit": False,
                "psych_prompt_style": "chat",
                "sequence_len": 256,
            }
        )
    )
    return cfg


def reference_answer(tiny_model: Path, adapter: Path | None, prompt: str, n: int) -> str:
    """Greedy decoding written out by hand with transformers (+ peft): no psych code."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(input_ids=ids).logits[0, -1]
            token = int(logits.argmax())
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True)


def infer(capsys, cfg: Path, *extra: str) -> str:
    code = main(["infer", QUESTION, "--config", str(cfg), "--max-new-tokens", "12", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_infer_answers_what_greedy_generation_on_the_saved_prompt_gives(
    adapter_run, tiny_model, tiny_tokenizer, capsys
):
    adapter = adapter_run.parent / "out"
    saved_prompt = render_prompt(SAVED, tiny_tokenizer, QUESTION)
    assert saved_prompt.startswith("Answer as a psychology tutor.\n\nBelow is an instruction")
    expected = reference_answer(tiny_model, adapter, saved_prompt, 12)
    assert expected.strip(), "the tuned tiny model should say something"
    got = infer(capsys, adapter_run)
    assert got == expected + "\n"  # the streamer ends the answer with a newline
    # The config's own settings (chat) would have given another answer: the file was used.
    chat_prompt = render_prompt(PromptSettings(), tiny_tokenizer, QUESTION)
    assert reference_answer(tiny_model, adapter, chat_prompt, 12) != expected


def test_infer_without_adapter_answers_like_the_base(
    adapter_run, tiny_model, tiny_tokenizer, capsys
):
    saved_prompt = render_prompt(SAVED, tiny_tokenizer, QUESTION)
    expected = reference_answer(tiny_model, None, saved_prompt, 12)
    got = infer(capsys, adapter_run, "--no-adapter")
    assert got == expected + "\n"
    assert got != infer(capsys, adapter_run)  # the adapter changes the answer


def test_infer_input_and_category_reach_the_prompt(adapter_run, tiny_model, capsys, monkeypatch):
    seen: list[str] = []
    import psych_plugin.model.inference as inference

    real = inference.render_prompt

    def spy(settings, tokenizer, instruction, input_text="", category=None):
        prompt = real(settings, tokenizer, instruction, input_text, category)
        seen.append(prompt)
        return prompt

    monkeypatch.setattr(inference, "render_prompt", spy)
    infer(capsys, adapter_run, "--input", "Skinner box", "--category", "definition")
    [prompt] = seen
    assert "### Input:\nSkinner box\n\n### Response:\n" in prompt
    assert prompt.startswith(SAVED.alpaca_preamble)


def test_batched_generation_equals_one_by_one(adapter_run):
    paths = run_paths(adapter_run)
    model, tokenizer, settings = load_model(paths)
    assert settings == SAVED
    rows = [
        {"instruction": QUESTION, "input": ""},
        {"instruction": "Define memory.", "input": "Memory is a long and winding subject."},
    ]
    batched = generate_answers(model, tokenizer, settings, rows, max_new_tokens=6)
    single = [generate_answers(model, tokenizer, settings, [r], max_new_tokens=6)[0] for r in rows]
    assert batched == single
    assert tokenizer.padding_side == "left"


def test_prompt_settings_come_from_the_adapter_folder(adapter_run, tmp_path):
    paths = run_paths(adapter_run)
    assert prompt_settings(paths, use_adapter=True) == SAVED
    assert prompt_settings(paths, use_adapter=False) == SAVED
    bare = tmp_path / "bare"
    shutil.copytree(paths.adapter_dir, bare)
    (bare / SETTINGS_FILE).unlink()
    paths.adapter_dir = bare
    with pytest.raises(UsageError, match="psych_prompt.json: missing; this adapter was not"):
        prompt_settings(paths, use_adapter=True)
    # The base alone: the config's settings are the best guess.
    assert prompt_settings(paths, use_adapter=False) == PromptSettings(style="chat")


def test_run_paths_and_adapter_checks(adapter_run, tmp_path, monkeypatch, tiny_model):
    paths = run_paths(adapter_run)
    assert paths.base_model == str(tiny_model) and paths.load_in_4bit is False
    assert check_adapter(paths)["r"] == 4
    with pytest.raises(UsageError, match="no such training config"):
        run_paths(tmp_path / "none.yml")
    (tmp_path / "nobase.yml").write_text("output_dir: x\n")
    with pytest.raises(UsageError, match="no base_model"):
        run_paths(tmp_path / "nobase.yml")
    # Relative paths resolve against the working directory, as Axolotl resolves them.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel.yml").write_text("base_model: some/hub-model\noutput_dir: outputs/r\n")
    rel = run_paths(Path("rel.yml"))
    assert rel.adapter_dir == Path("outputs/r") and rel.base_model == "some/hub-model"
    with pytest.raises(UsageError, match="no trained adapter here"):
        check_adapter(rel)
    other = tmp_path / "other-base"
    shutil.copytree(tiny_model, other)
    paths.base_model = str(other)
    with pytest.raises(UsageError, match="adapter was trained on"):
        check_adapter(paths)


def test_infer_errors_are_one_line(adapter_run, capsys):
    assert main(["infer", QUESTION, "--config", str(adapter_run), "--load-in-4bit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a CUDA GPU" in err
    assert main(["infer", "--config", str(adapter_run)]) == 2
    assert "give a QUESTION, or --interactive" in capsys.readouterr().err


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


def test_saved_settings_file_is_the_dataclass(adapter_run):
    data = json.loads((adapter_run.parent / "out" / SETTINGS_FILE).read_text())
    assert data["style"] == "alpaca" and data["alpaca_preamble"] == SAVED.alpaca_preamble


# --- load_model as a GPU user gets it, and generate_answers' exact contract ---------------------


@pytest.fixture
def loads(monkeypatch):
    """What load_model asks of the hardware detector and of transformers, recorded. `cuda` says
    what the detector answers (`problem`: what torch_cuda_problem answers); from_pretrained is
    recorded, then answered with the real tiny model on the CPU (all a CPU can load), or raises
    `error`; `pad_none` hands back a tokenizer without a pad token."""
    from types import SimpleNamespace

    import transformers

    from psych_plugin.configs import hardware

    rec = SimpleNamespace(
        cuda=False, problem=None, asked=0, models=[], tokenizers=[], error=None, pad_none=False
    )
    real_model = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer = transformers.AutoTokenizer.from_pretrained

    def model(path, **kwargs):
        rec.models.append((path, kwargs))
        if rec.error is not None:
            raise rec.error
        return real_model(path)

    def tokenizer(path, **kwargs):
        rec.tokenizers.append((path, kwargs))
        tok = real_tokenizer(path)
        if rec.pad_none:
            tok.pad_token = None
        return tok

    def problem():
        rec.asked += 1
        return rec.problem

    monkeypatch.setattr(hardware, "has_cuda_gpu", lambda: rec.cuda)
    monkeypatch.setattr(hardware, "torch_cuda_problem", problem)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer)
    return rec


def test_load_model_on_a_gpu_loads_bf16_placed_automatically(adapter_run, loads, tiny_model):
    import torch
    from peft import PeftModel

    loads.cuda = True
    model, tokenizer, settings = load_model(run_paths(adapter_run))  # the adapter by default
    assert loads.asked == 1  # torch was asked whether it can use the GPU
    assert loads.models == [(str(tiny_model), {"device_map": "auto", "dtype": torch.bfloat16})]
    assert loads.tokenizers == [(str(tiny_model), {})]  # no tokenizer next to the adapter
    assert isinstance(model, PeftModel) and not model.training
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|endoftext|>", 0)  # its own, kept
    assert settings == SAVED


@pytest.mark.parametrize(
    ("trained_4bit", "flag", "quantized"),
    [(True, None, True), (False, True, True), (True, False, False), (False, None, False)],
)
def test_load_model_on_a_gpu_quantizes_as_trained_unless_told(
    adapter_run, loads, trained_4bit, flag, quantized
):
    import torch

    loads.cuda = True
    paths = run_paths(adapter_run)
    paths.load_in_4bit = trained_4bit
    load_model(paths, use_adapter=False, load_in_4bit=flag)
    [(_, kwargs)] = loads.models
    q = kwargs.pop("quantization_config", None)
    assert kwargs == {"device_map": "auto", "dtype": torch.bfloat16}
    if not quantized:
        assert q is None
        return
    # QLoRA's recipe: NF4 with double quantization, computing in bf16.
    assert nf4_settings(q) == (True, False, "nf4", True, torch.bfloat16)


def nf4_settings(q) -> tuple:
    """What a BitsAndBytesConfig asks for: 4-bit, 8-bit, quant type, double quant, compute."""
    return (
        q.load_in_4bit,
        q.load_in_8bit,
        q.bnb_4bit_quant_type,
        q.bnb_4bit_use_double_quant,
        q.bnb_4bit_compute_dtype,
    )


def test_load_model_on_a_cpu_loads_plain_float_weights(adapter_run, loads, tiny_model):
    from peft import PeftModel

    paths = run_paths(adapter_run)
    paths.load_in_4bit = True  # trained with QLoRA: still no 4-bit without a GPU
    model, _, _ = load_model(paths, use_adapter=False)
    assert loads.models == [(str(tiny_model), {})]
    assert loads.asked == 0  # no GPU: nothing to ask torch about
    assert not isinstance(model, PeftModel) and not model.training
    with pytest.raises(UsageError) as e:
        load_model(paths, load_in_4bit=True)
    assert str(e.value) == "--load-in-4bit needs a CUDA GPU; none found (drop the flag on CPU)"
    assert len(loads.models) == 1  # refused before loading anything


def test_load_model_refuses_a_gpu_torch_cannot_use(adapter_run, loads):
    loads.cuda = True
    loads.problem = "nvidia-smi reports a CUDA GPU but torch cannot use it"
    with pytest.raises(UsageError) as e:
        load_model(run_paths(adapter_run))
    assert str(e.value) == "nvidia-smi reports a CUDA GPU but torch cannot use it"
    assert loads.models == [] and loads.tokenizers == []


def test_load_model_prefers_the_tokenizer_saved_with_the_adapter(
    adapter_run, loads, tiny_tokenizer, tmp_path
):
    paths = run_paths(adapter_run)
    paths.adapter_dir = tmp_path / "out"
    shutil.copytree(run_paths(adapter_run).adapter_dir, paths.adapter_dir)
    tiny_tokenizer.save_pretrained(paths.adapter_dir)
    load_model(paths)
    assert loads.tokenizers == [(paths.adapter_dir, {})]


def test_load_model_gives_a_tokenizer_without_pad_token_the_eos(adapter_run, loads):
    loads.pad_none = True
    _, tokenizer, _ = load_model(run_paths(adapter_run))
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|im_end|>", 2)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id


def test_load_model_reports_the_first_line_of_a_load_error(adapter_run, loads, tiny_model):
    error = OSError("no file named model.safetensors found\nsee the documentation")
    loads.error = error
    with pytest.raises(UsageError) as e:
        load_model(run_paths(adapter_run))
    assert str(e.value) == f"cannot load {tiny_model}: no file named model.safetensors found"
    assert e.value.__cause__ is error


def adapter_copy(adapter_run: Path, dest: Path):
    """The run's paths with its adapter folder copied to `dest` (to change it freely)."""
    paths = run_paths(adapter_run)
    shutil.copytree(paths.adapter_dir, dest)
    paths.adapter_dir = dest
    return paths


def test_load_model_needs_the_saved_prompt_settings_of_an_adapter(adapter_run, tmp_path):
    paths = adapter_copy(adapter_run, tmp_path / "out")
    (paths.adapter_dir / SETTINGS_FILE).unlink()
    with pytest.raises(UsageError) as e:
        load_model(paths)  # the adapter by default
    assert str(e.value) == (
        f"{paths.adapter_dir / SETTINGS_FILE}: missing; this adapter was not trained with "
        "psych_plugin"
    )
    # The base alone: the config's prompt settings (chat) are used.
    assert load_model(paths, use_adapter=False)[2] == PromptSettings(style="chat")


class Streamer:
    def put(self, value) -> None:
        pass

    def end(self) -> None:
        pass


def recording_generate(model, monkeypatch) -> list[dict]:
    """model.generate, with every call's keyword arguments recorded (and at most 4 new tokens
    really generated, to stay fast)."""
    calls: list[dict] = []
    real = model.generate

    def generate(**kwargs):
        calls.append(kwargs)
        return real(**{**kwargs, "max_new_tokens": min(kwargs["max_new_tokens"], 4)})

    monkeypatch.setattr(model, "generate", generate)
    return calls


def test_generate_answers_asks_for_greedy_or_sampled_decoding(adapter_run, monkeypatch):
    model, tokenizer, settings = load_model(run_paths(adapter_run))
    calls = recording_generate(model, monkeypatch)
    rows = [{"instruction": QUESTION}]
    generate_answers(model, tokenizer, settings, rows)
    streamer = Streamer()
    generate_answers(model, tokenizer, settings, rows, 5, 0.7, streamer)
    generate_answers(model, tokenizer, settings, rows, 5, 0.0, streamer)
    for call in calls:
        ids = call.pop("input_ids")
        assert tokenizer.decode(ids[0]) == render_prompt(settings, tokenizer, QUESTION)
        assert call.pop("attention_mask").tolist() == [[1] * ids.shape[1]]
    ids = {"pad_token_id": 0, "eos_token_id": 2}  # <|endoftext|>, <|im_end|>
    assert calls == [
        {"max_new_tokens": 256, "streamer": None, **ids, "do_sample": False},
        {"max_new_tokens": 5, "streamer": streamer, **ids, "do_sample": True, "temperature": 0.7},
        {"max_new_tokens": 5, "streamer": streamer, **ids, "do_sample": False},
    ]


def test_generate_answers_renders_chat_prompts_with_the_category(adapter_run, monkeypatch):
    model, tokenizer, _ = load_model(run_paths(adapter_run))
    calls = recording_generate(model, monkeypatch)
    settings = PromptSettings(use_category_prompts=True)
    rows = [{"instruction": QUESTION, "input": None, "category": "definition"}]
    generate_answers(model, tokenizer, settings, rows, max_new_tokens=2)
    [call] = calls
    prompt = render_prompt(settings, tokenizer, QUESTION, "", "definition")
    assert "Give a precise definition" in prompt and prompt.startswith("<|im_start|>system\n")
    assert tokenizer.decode(call["input_ids"][0]) == prompt


def test_generate_answers_adds_no_special_tokens_to_the_rendered_prompt(
    adapter_run, tiny_model, monkeypatch
):
    """The template holds every special token already; a tokenizer that would add a BOS must
    not add it."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    model, _, settings = load_model(run_paths(adapter_run))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", 1)]
    )
    prompt = render_prompt(settings, tokenizer, QUESTION)
    assert tokenizer(prompt).input_ids[0] == 1  # it would add one
    calls = recording_generate(model, monkeypatch)
    generate_answers(model, tokenizer, settings, [{"instruction": QUESTION}], max_new_tokens=1)
    [call] = calls
    assert call["input_ids"][0].tolist() == tokenizer(prompt, add_special_tokens=False).input_ids


def test_generate_answers_sends_inputs_to_the_model_device_and_keeps_only_new_text(
    tiny_tokenizer,
):
    """Any model: the encoded batch goes to model.device; the answer is what follows the prompt,
    without special tokens (EOS, and the padding after it)."""
    import torch

    answer = tiny_tokenizer("Reinforcement.", add_special_tokens=False).input_ids
    seen = []

    class Model:
        device = torch.device("meta")

        def generate(self, input_ids, attention_mask, **kwargs):
            seen.append((input_ids.device, attention_mask.device))
            prompt = torch.full(tuple(input_ids.shape), 7)
            new = torch.tensor([[*answer, 2, 0]] * input_ids.shape[0])
            return torch.cat([prompt, new], dim=1)

    rows = [{"instruction": QUESTION}, {"instruction": "Define memory."}]
    got = generate_answers(Model(), tiny_tokenizer, SAVED, rows, max_new_tokens=4)
    assert got == ["Reinforcement.", "Reinforcement."]
    assert seen == [(torch.device("meta"), torch.device("meta"))]


def fake_adapter(folder: Path, trained_on: str | None) -> Path:
    """What check_adapter reads: adapter_config.json next to adapter_model.safetensors."""
    folder.mkdir(parents=True)
    cfg = {"r": 4} if trained_on is None else {"r": 4, "base_model_name_or_path": trained_on}
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def test_check_adapter_messages(tmp_path):
    from psych_plugin.model.inference import RunPaths

    paths = RunPaths(tmp_path / "cfg.yml", "org/model", tmp_path / "a", False)
    fake_adapter(paths.adapter_dir, "org/other")
    with pytest.raises(UsageError) as e:
        check_adapter(paths)
    assert (
        str(e.value)
        == f"{paths.adapter_dir}: adapter was trained on 'org/other', not on 'org/model'"
    )
    # No base recorded in the adapter: nothing to compare, accepted.
    paths.adapter_dir = fake_adapter(tmp_path / "b", None)
    assert check_adapter(paths) == {"r": 4}
    paths.adapter_dir = fake_adapter(tmp_path / "c", "")
    assert check_adapter(paths) == {"r": 4, "base_model_name_or_path": ""}
    # The weights missing (an interrupted save): no adapter.
    (paths.adapter_dir / "adapter_model.safetensors").unlink()
    with pytest.raises(UsageError) as e:
        check_adapter(paths)
    assert str(e.value) == (
        f"{paths.adapter_dir}: no trained adapter here "
        "(adapter_config.json, adapter_model.safetensors); run `make train` first"
    )


def test_same_model_compares_folders_resolved_and_hub_ids_as_written(tmp_path):
    from psych_plugin.model.inference import _same_model

    # Hub ids: a trailing slash on either side is the same model, anything else is another.
    assert _same_model("org/model-X/", "org/model-X")
    assert _same_model("org/model-X", "org/model-X/")
    assert not _same_model("/org/model-X", "org/model-X")
    assert not _same_model("org/model-X", "org/model-Y")
    # Folders that exist here: the same folder however it is spelt (a link to it too).
    (tmp_path / "m").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "m")
    assert _same_model(str(tmp_path / "link"), str(tmp_path / "m") + "/")
    # A path that names nothing here is compared as written, never resolved.
    assert not _same_model(str(tmp_path / "gone" / ".." / "m"), str(tmp_path / "m"))
    assert not _same_model(str(tmp_path / "m"), str(tmp_path / "gone" / ".." / "m"))


def test_run_paths_reads_each_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models" / "base").mkdir(parents=True)
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("base_model: ~/models/base\nload_in_4bit: true\n")
    paths = run_paths(cfg)
    # A local folder: its expanded path. No output_dir: Axolotl's own default, ./model-out.
    assert paths.base_model == str(tmp_path / "models" / "base")
    assert paths.adapter_dir == Path("model-out") and paths.load_in_4bit is True
    # Not a folder here: a hub id, kept as written.
    cfg.write_text("base_model: org/model/\nload_in_4bit: false\n")
    paths = run_paths(cfg)
    assert paths.base_model == "org/model/" and paths.load_in_4bit is False


def test_prompt_settings_of_the_base_alone_come_from_the_config(tmp_path):
    from psych_plugin.model.inference import RunPaths

    cfg = tmp_path / "cfg.yml"
    cfg.write_text("base_model: org/model\npsych_prompt_style: alpaca\npsych_alpaca_preamble: P\n")
    paths = RunPaths(cfg, "org/model", tmp_path / "no-adapter", False)
    assert prompt_settings(paths, use_adapter=False) == PromptSettings(
        style="alpaca", alpaca_preamble="P"
    )


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
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", 1)]
    )
    tokenizer.save_pretrained(merged)
    questions = ["What is memory?", "Define attention."]
    check = merge_mod.compare_logits(paths, merged, questions)
    assert model_loads.calls == [(merged, {"dtype": torch.float32}), (str(tiny_model), {})]
    prompts = [render_prompt(chat, tokenizer, q) for q in questions]
    assert prompts[0].startswith("<|im_start|>system\n")
    want = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    assert want[0][0] == 1 and tokenizer(prompts[0]).input_ids[:2] == [1, 1]
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
