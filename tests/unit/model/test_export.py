"""psych export without llama.cpp compiled: the chat template and the Modelfile give the training
prompt, llama.cpp's converter writes f16 and q8_0 files whose metadata and weights are the merged
model's (read back with llama.cpp's own gguf-py), and an export is never silently overwritten.
The comparison inside llama.cpp itself is tests/e2e/test_export.py."""

from __future__ import annotations

import functools
import json
import stat
import sys

import pytest

from psych_plugin.atomic import current_umask
from psych_plugin.model import export as ex
from psych_plugin.model.inference import prompt_settings, run_paths
from psych_plugin.model.release import fetch_release
from psych_plugin.model.tiny import read_gguf_metadata
from psych_plugin.problems import UsageError
from psych_plugin.prompts import PromptSettings, render_prompt

QUESTION = "What is classical conditioning?"
CHAT = PromptSettings(system_prompt="Answer as a careful psychology tutor.")
ALPACA = PromptSettings(style="alpaca", alpaca_preamble="Answer as a psychology tutor.\n\n")


def rendered(template: str, tokenizer, messages, generation: bool = True) -> str:
    """What a Jinja chat runtime renders (transformers' renderer, as llama-cpp-python's)."""
    return tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=generation
    )


@pytest.mark.parametrize("settings", [CHAT, ALPACA], ids=["chat", "alpaca"])
def test_chat_template_renders_a_question_as_training_did(tiny_tokenizer, settings):
    template = ex.chat_template(settings, tiny_tokenizer)
    messages = [{"role": "user", "content": QUESTION}]
    assert rendered(template, tiny_tokenizer, messages) == render_prompt(
        settings, tiny_tokenizer, QUESTION
    )


def test_chat_template_takes_a_clients_own_system_prompt(tiny_tokenizer):
    template = ex.chat_template(CHAT, tiny_tokenizer)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    own = PromptSettings(system_prompt="Be brief.")
    assert rendered(template, tiny_tokenizer, messages) == render_prompt(
        own, tiny_tokenizer, QUESTION
    )


def test_chat_template_leaves_longer_conversations_to_the_base_template(tiny_tokenizer):
    template = ex.chat_template(CHAT, tiny_tokenizer)
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Learning by association."},
        {"role": "user", "content": "Who studied it?"},
    ]
    assert rendered(template, tiny_tokenizer, messages) == tiny_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )


def ollama_render(modelfile: str, system: str | None, prompt: str) -> str:
    """Ollama's rendering of the Modelfile's TEMPLATE for one question (its Go template with
    .System and .Prompt; the Modelfile's SYSTEM when the client sends none)."""
    template = modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    default = (
        modelfile.split('SYSTEM """', 1)[1].split('"""', 1)[0] if "SYSTEM" in modelfile else ""
    )
    return template.replace("{{ .System }}", system or default).replace("{{ .Prompt }}", prompt)


@pytest.mark.parametrize("settings", [CHAT, ALPACA], ids=["chat", "alpaca"])
def test_modelfile_gives_the_training_prompt(tiny_tokenizer, settings):
    text = ex.modelfile(settings, tiny_tokenizer, "psych-q8_0.gguf", ["<|im_end|>"])
    assert "FROM ./psych-q8_0.gguf\n" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert ollama_render(text, None, QUESTION) == render_prompt(settings, tiny_tokenizer, QUESTION)
    assert ("SYSTEM" in text) == (settings.style == "chat")


def test_stop_tokens_are_the_models_end_markers(tiny_tokenizer, tiny_model):
    assert ex.stop_tokens(tiny_tokenizer, tiny_model) == ["<|im_end|>", "<|endoftext|>"]


@pytest.mark.parametrize(
    ("text", "types"),
    [("f16", ("f16",)), ("Q8_0, f16,q8_0", ("q8_0", "f16")), ("q4_k_m", ("q4_k_m",))],
)
def test_parse_types(text, types):
    assert ex.parse_types(text) == types


@pytest.mark.parametrize("text", ["q4_0", "", ","])
def test_parse_types_names_what_it_does_not_know(text):
    with pytest.raises(UsageError, match=r"^--types: unknown GGUF type .*choose from f32, f16"):
        ex.parse_types(text)


@pytest.fixture(scope="module")
def merged_run(adapter_run):
    """The random-adapter run with its merged model (PEFT's merge: what Axolotl's merge does
    for a LoRA run) in out/merged."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    paths = run_paths(adapter_run)
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, paths.adapter_dir).merge_and_unload()
    merged.save_pretrained(paths.adapter_dir / "merged")
    AutoTokenizer.from_pretrained(paths.base_model).save_pretrained(paths.adapter_dir / "merged")
    return paths


@pytest.fixture(scope="module")
def exported(merged_run):
    out = merged_run.adapter_dir / "gguf"  # where psych export writes by default
    settings = prompt_settings(merged_run, use_adapter=True)
    result = ex.export(
        merged_run, merged_run.adapter_dir / "merged", settings, out, ("f16", "q8_0")
    )
    return merged_run, settings, result


@functools.cache
def gguf_tensors(path):
    """The file's tensors as float32 arrays, read and dequantized by llama.cpp's own gguf-py."""
    sys.path.insert(0, str(fetch_release() / "gguf-py"))
    try:
        from gguf import GGUFReader
        from gguf.quants import dequantize
    finally:
        sys.path.pop(0)
    reader = GGUFReader(path)
    return {
        t.name: dequantize(t.data, t.tensor_type).reshape([int(n) for n in reversed(t.shape)])
        for t in reader.tensors
    }


def test_export_writes_each_type_a_modelfile_and_a_readme(exported):
    paths, settings, result = exported
    assert sorted(result.files) == ["f16", "q8_0"] and result.skipped == {}
    mode = 0o666 & ~current_umask()
    for kind, path in result.files.items():
        assert path.name == f"psych-{kind}.gguf"
        assert stat.S_IMODE(path.stat().st_mode) == mode
        meta = read_gguf_metadata(path)
        assert meta["general.architecture"] == "qwen3"
        assert meta["tokenizer.ggml.pre"] == "qwen2"  # llama.cpp recognised Qwen's tokenizer
        assert meta["general.file_type"] == {"f16": 1, "q8_0": 7}[kind]
        assert meta["tokenizer.chat_template"] == (
            result.out_dir / "chat_template.jinja"
        ).read_text(encoding="utf-8").rstrip("\n")
    modelfile = result.modelfile.read_text(encoding="utf-8")
    assert "FROM ./psych-q8_0.gguf" in modelfile  # the most compact file written
    readme = (result.out_dir / "README.md").read_text(encoding="utf-8")
    assert "ollama create psych -f Modelfile" in readme and "psych-q8_0.gguf" in readme
    assert not [p for p in result.out_dir.iterdir() if p.name.startswith(".")]  # no leftovers


def test_exported_weights_are_the_merged_model(exported):
    """f16 within f16 rounding, q8_0 within 8-bit steps, of the merged weights; and the
    adapter is in them (the base's weights are farther away than the rounding)."""
    import numpy as np
    from safetensors.numpy import load_file

    paths, _, result = exported
    merged = load_file(str(paths.adapter_dir / "merged" / "model.safetensors"))
    base = load_file(str(paths.base_model + "/model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"  # LoRA-adapted, not permuted for Qwen3
    want, before = merged[name], base[name]
    for kind, tolerance in (("f16", 1e-3), ("q8_0", 2e-2)):
        got = gguf_tensors(result.files[kind])["blk.0.attn_q.weight"]
        assert got.shape == want.shape
        scale = float(np.abs(want).max())
        assert float(np.abs(got - want).max()) <= tolerance * scale, kind
        assert float(np.abs(got - before).max()) > 10 * tolerance * scale, kind
    embed = gguf_tensors(result.files["f16"])["token_embd.weight"]
    assert embed.shape == (151_936, 64)


def test_an_export_is_not_overwritten_without_force(exported):
    paths, settings, result = exported
    before = result.files["f16"].stat().st_mtime_ns
    with pytest.raises(UsageError, match=r"psych-f16.gguf: already exported; --force"):
        ex.export(paths, paths.adapter_dir / "merged", settings, result.out_dir, ("f16",))
    assert result.files["f16"].stat().st_mtime_ns == before


def test_a_failing_conversion_names_the_model_and_leaves_nothing(merged_run, tmp_path):
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"architectures": ["NoSuchForCausalLM"]}))
    with pytest.raises(UsageError, match=rf"llama.cpp's converter could not convert {broken} \("):
        ex.convert(broken, tmp_path / "x.gguf", "f16")
    assert not (tmp_path / "x.gguf").exists()


def test_quantized_types_without_llama_cpp_are_refused_before_any_work(
    merged_run, capsys, monkeypatch, tmp_path
):
    from psych_plugin.cli import main

    monkeypatch.setattr(ex, "has_llama_cpp", lambda: False)
    out = tmp_path / "gguf"
    args = ["export", "--config", str(merged_run.config), "--types", "f16,q4_k_m", "-o", str(out)]
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "q4_k_m needs llama.cpp itself: `make llama-cpp`" in err[0]
    assert not out.exists()


def test_serve_runs_llama_cpps_server_on_the_most_compact_export(exported, capsys):
    import shlex

    from psych_plugin.cli import main

    paths, _, result = exported
    args = ["serve", "--config", str(paths.config), "--port", "8123", "--print"]
    assert main(args) == 0
    command = shlex.split(capsys.readouterr().out.strip())
    assert command[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert command[3:] == [
        "--model", str(result.files["q8_0"]), "--model_alias", "psych", "--host", "127.0.0.1",
        "--port", "8123", "--n_ctx", "4096",
    ]  # fmt: skip


def test_serve_with_vllm_serves_the_adapter_with_the_training_template(exported, capsys):
    import shlex

    from psych_plugin.cli import main

    paths, _, result = exported
    assert main(["serve", "--config", str(paths.config), "--engine", "vllm", "--print"]) == 0
    command = shlex.split(capsys.readouterr().out.strip())
    assert command == [
        "vllm", "serve", paths.base_model, "--enable-lora",
        "--lora-modules", f"psych={paths.adapter_dir}", "--max-lora-rank", "4",
        "--chat-template", str(result.out_dir / "chat_template.jinja"),
        "--host", "127.0.0.1", "--port", "8080",
    ]  # fmt: skip


def test_serve_without_vllm_installed_says_where_to_run_it(exported, capsys, monkeypatch):
    import shutil

    from psych_plugin.cli import main

    monkeypatch.setattr(shutil, "which", lambda name: None)
    paths, _, _ = exported
    assert main(["serve", "--config", str(paths.config), "--engine", "vllm"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("vllm serve ")  # the line to run where vLLM is
    assert err.strip().endswith(
        "vllm is not installed here (it needs a CUDA GPU): run the line above there"
    )
