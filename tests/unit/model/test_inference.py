"""psych_plugin/model/inference.py on a real PEFT adapter, made in a second without training
(random LoRA weights, so the adapter visibly changes the answers). `psych infer` must answer
exactly what greedy generation on the saved training prompt (psych_prompt.json) gives; load_model
and generate_answers keep their exact contract with transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from psych_plugin.cli import main
from psych_plugin.model.inference import (
    check_adapter,
    generate_answers,
    load_model,
    prompt_settings,
    run_paths,
)
from psych_plugin.problems import UsageError
from psych_plugin.prompts import SETTINGS_FILE, PromptSettings, render_prompt
from tests.conftest import (
    GPU_LIST,
    NO_DEVICE,
    SAVED_PROMPT,
    adapter_copy,
    fake_nvidia_smi,
    nf4_settings,
    reference_answer,
)

QUESTION = "What is operant conditioning?"


def infer(capsys, cfg: Path, *extra: str) -> str:
    code = main(["infer", QUESTION, "--config", str(cfg), "--max-new-tokens", "12", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_infer_answers_what_greedy_generation_on_the_saved_prompt_gives(
    adapter_run, tiny_model, tiny_tokenizer, capsys
):
    adapter = adapter_run.parent / "out"
    saved_prompt = render_prompt(SAVED_PROMPT, tiny_tokenizer, QUESTION)
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
    saved_prompt = render_prompt(SAVED_PROMPT, tiny_tokenizer, QUESTION)
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
    assert prompt.startswith(SAVED_PROMPT.alpaca_preamble)


def test_batched_generation_equals_one_by_one(adapter_run):
    paths = run_paths(adapter_run)
    model, tokenizer, settings = load_model(paths)
    assert settings == SAVED_PROMPT
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
    assert prompt_settings(paths, use_adapter=True) == SAVED_PROMPT
    assert prompt_settings(paths, use_adapter=False) == SAVED_PROMPT
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


def test_saved_settings_file_is_the_dataclass(adapter_run):
    data = json.loads((adapter_run.parent / "out" / SETTINGS_FILE).read_text())
    assert data["style"] == "alpaca" and data["alpaca_preamble"] == SAVED_PROMPT.alpaca_preamble


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
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|endoftext|>", 151643)  # kept
    assert settings == SAVED_PROMPT


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
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|im_end|>", 151645)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id


def test_load_model_reports_the_first_line_of_a_load_error(adapter_run, loads, tiny_model):
    error = OSError("no file named model.safetensors found\nsee the documentation")
    loads.error = error
    with pytest.raises(UsageError) as e:
        load_model(run_paths(adapter_run))
    assert str(e.value) == f"cannot load {tiny_model}: no file named model.safetensors found"
    assert e.value.__cause__ is error


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
    ids = {"pad_token_id": 151643, "eos_token_id": 151645}  # <|endoftext|>, <|im_end|>
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
        single="<|im_start|> $A", special_tokens=[("<|im_start|>", 151644)]
    )
    prompt = render_prompt(settings, tokenizer, QUESTION)
    assert tokenizer(prompt).input_ids[0] == 151644  # it would add one
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
            new = torch.tensor([[*answer, 151645, 151643]] * input_ids.shape[0])  # EOS, pad
            return torch.cat([prompt, new], dim=1)

    rows = [{"instruction": QUESTION}, {"instruction": "Define memory."}]
    got = generate_answers(Model(), tiny_tokenizer, SAVED_PROMPT, rows, max_new_tokens=4)
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


@pytest.mark.parametrize(
    ("stdout", "code", "expected"), [(GPU_LIST, 0, True), (NO_DEVICE, 6, False)]
)
def test_inference_asks_the_same_detector(tmp_path, monkeypatch, stdout, code, expected):
    from psych_plugin.model import inference

    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path, stdout, code)["PATH"])
    assert inference.has_cuda() is expected
