"""`psych export`: a finished run as GGUF files for llama.cpp, Ollama and LM Studio.

The merged model (`psych merge`) goes through llama.cpp's own converter (`convert_hf_to_gguf.py`,
from the pinned llama.cpp release, see release.py) to f16/bf16/q8_0, and through llama.cpp's own
quantizer (`llama_model_quantize` in llama-cpp-python) to q4_k_m. Nothing here writes GGUF.

What is ours is the prompt: the GGUF's chat template and the Ollama Modelfile's TEMPLATE/SYSTEM
are derived from `prompts.render_prompt`, the one template training used, so a client that sends
only a question gets the training prompt token for token.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import temp_folder, umask_mode, write_text_atomic
from ..problems import UsageError
from ..prompts import PromptSettings, render_prompt
from .inference import RunPaths
from .release import LLAMA_CPP, fetch_release

# What the converter writes itself, and what llama.cpp's quantizer makes from its output.
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
QUANTIZER_TYPES = {"q4_k_m": 15}  # llama.h: LLAMA_FTYPE_MOSTLY_Q4_K_M
GGUF_TYPES = (*CONVERTER_TYPES, *QUANTIZER_TYPES)
DEFAULT_TYPES = ("f16", "q8_0", "q4_k_m")
LLAMA_CPP_PYTHON = "llama-cpp-python[server]==0.3.36"  # the build the tolerances were measured on
# Placeholders rendered through the training template, then replaced by each runtime's own
# variables: the templates are the training prompt with holes, never a second copy of it.
_SYSTEM_HOLE = "\x00PSYCH_SYSTEM\x00"
_QUESTION_HOLE = "\x00PSYCH_QUESTION\x00"


@dataclass
class ExportResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)  # type -> GGUF
    modelfile: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # type -> why
    seconds: dict[str, float] = field(default_factory=dict)


def parse_types(text: str) -> tuple[str, ...]:
    """'f16,q8_0' -> ('f16', 'q8_0'), each a known type, in the order given, once."""
    types = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    unknown = [t for t in types if t not in GGUF_TYPES]
    if unknown or not types:
        raise UsageError(
            f"--types: unknown GGUF type {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(GGUF_TYPES)}"
        )
    return types


def has_llama_cpp() -> bool:
    """llama-cpp-python (llama.cpp compiled for this machine) is installed."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def has_llama_server() -> bool:
    """llama-cpp-python's server extra is installed too."""
    import importlib.util

    return has_llama_cpp() and all(
        importlib.util.find_spec(m) is not None
        for m in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
    )


def llama_cpp_missing(what: str) -> str:
    return (
        f"{what} needs llama.cpp itself: `make llama-cpp` builds and installs "
        f"{LLAMA_CPP_PYTHON} into the virtualenv once (a C++ build, see docs/export.md)"
    )


# --- the prompt, for each runtime ------------------------------------------------------------


def _prompt_with_holes(settings: PromptSettings, tokenizer: Any) -> str:
    """The training prompt of a one-question conversation, with holes for system and question."""
    holed = PromptSettings(
        style=settings.style,
        system_prompt=_SYSTEM_HOLE,
        use_category_prompts=False,
        alpaca_preamble=settings.alpaca_preamble,
    )
    text = render_prompt(holed, tokenizer, _QUESTION_HOLE)
    if text.count(_QUESTION_HOLE) != 1 or text.count(_SYSTEM_HOLE) > 1:
        raise UsageError("the training template does not place the question exactly once")
    return text


def _jinja_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid Jinja string literal


def chat_template(settings: PromptSettings, tokenizer: Any) -> str:
    """A Jinja chat template (for the GGUF, llama.cpp's server, vLLM) that renders a one-question
    conversation exactly as training did: the trained system prompt unless the client sends its
    own, then the question; thinking off where the template has it (Qwen3), as in training.
    Longer conversations (several turns) go through the base model's own template."""
    holed = _prompt_with_holes(settings, tokenizer)
    before, _, rest = holed.partition(_SYSTEM_HOLE) if _SYSTEM_HOLE in holed else ("", "", holed)
    middle, _, after = rest.partition(_QUESTION_HOLE)
    system = _jinja_string(settings.system_prompt)
    parts = [
        "{#- psych_plugin: the prompt this model was fine-tuned on (psych export) -#}",
        "{%- set ns = namespace(system=" + system + ", question=none, ok=true) -%}",
        "{%- for m in messages -%}",
        "{%- if m['role'] == 'system' and loop.first -%}{%- set ns.system = m['content'] -%}",
        "{%- elif m['role'] == 'user' and ns.question is none -%}"
        "{%- set ns.question = m['content'] -%}",
        "{%- else -%}{%- set ns.ok = false -%}{%- endif -%}",
        "{%- endfor -%}",
    ]
    if _SYSTEM_HOLE in holed:
        one = (
            _jinja_string(before)
            + " + ns.system + "
            + _jinja_string(middle)
            + " + ns.question + "
            + _jinja_string(after)
        )
    else:
        one = _jinja_string(middle) + " + ns.question + " + _jinja_string(after)
    base = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    parts += [
        "{%- if ns.ok and ns.question is not none and add_generation_prompt -%}",
        "{{- " + one + " -}}",
        "{%- else -%}",
        base if base else "{{- raise_exception('only one question per conversation') -}}",
        "{%- endif -%}",
    ]
    return "\n".join(parts)


def modelfile(
    settings: PromptSettings, tokenizer: Any, gguf_name: str, stops: Sequence[str]
) -> str:
    """An Ollama Modelfile whose TEMPLATE and SYSTEM give the training prompt, greedy."""
    holed = _prompt_with_holes(settings, tokenizer)
    if "{{" in holed or '"""' in holed:
        raise UsageError("the training prompt contains '{{' or '\"\"\"': no Ollama template")
    if _SYSTEM_HOLE in holed:
        before, _, rest = holed.partition(_SYSTEM_HOLE)
        template = before + "{{ .System }}" + rest.replace(_QUESTION_HOLE, "{{ .Prompt }}")
    else:
        template = holed.replace(_QUESTION_HOLE, "{{ .Prompt }}")
    lines = [
        "# Ollama: ollama create psych -f Modelfile && ollama run psych",
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{template}"""',
    ]
    if _SYSTEM_HOLE in holed:
        lines.append(f'SYSTEM """{settings.system_prompt}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += ["PARAMETER temperature 0", "PARAMETER num_predict 512"]
    return "\n".join(lines) + "\n"


def stop_tokens(tokenizer: Any, merged_dir: Path) -> list[str]:
    """The strings that end an answer: the tokenizer's EOS and the generation config's."""
    ids: list[int] = []
    gen = merged_dir / "generation_config.json"
    if gen.is_file():
        eos = json.loads(gen.read_text(encoding="utf-8")).get("eos_token_id")
        ids += eos if isinstance(eos, list) else [eos] if isinstance(eos, int) else []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    texts = [tokenizer.convert_ids_to_tokens(i) for i in dict.fromkeys(ids)]
    return [t for t in texts if isinstance(t, str) and t]


# --- llama.cpp's converter and quantizer ------------------------------------------------------


def staged_model(merged_dir: Path, template: str, stage: Path) -> Path:
    """The merged model's files (linked, not copied: gigabytes) with the training chat template
    in its tokenizer config, for the converter to embed."""
    stage.mkdir(parents=True, exist_ok=True)
    for f in merged_dir.iterdir():
        if f.is_file() and f.name not in ("tokenizer_config.json", "chat_template.jinja"):
            os.symlink(f.resolve(), stage / f.name)
    config_file = merged_dir / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    config["chat_template"] = template
    (stage / "tokenizer_config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stage


def convert(model_dir: Path, out_file: Path, outtype: str, converter: Path | None = None) -> None:
    """llama.cpp's convert_hf_to_gguf.py, with its own gguf-py, into `out_file`."""
    converter = converter or fetch_release(release=LLAMA_CPP)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(converter / "gguf-py"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "HF_HUB_OFFLINE": "1",
        "NO_LOCAL_GGUF": "",
    }
    done = subprocess.run(
        [sys.executable, str(converter / "convert_hf_to_gguf.py"), str(model_dir)]
        + ["--outtype", outtype, "--outfile", str(out_file)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out_file.is_file():
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit {done.returncode}"
        raise UsageError(f"llama.cpp's converter could not convert {model_dir} ({why})")


def quantize(source: Path, out_file: Path, kind: str) -> None:
    """llama.cpp's quantizer (llama_model_quantize) from a full-precision GGUF."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTIZER_TYPES[kind]
    params.nthread = os.cpu_count() or 1
    code = llama_cpp.llama_model_quantize(
        str(source).encode(), str(out_file).encode(), llama_cpp.byref(params)
    )
    if code != 0 or not out_file.is_file():
        raise UsageError(f"llama.cpp could not quantize {source} to {kind} (code {code})")


def gguf_name(out_dir: Path, name: str, kind: str) -> Path:
    return out_dir / f"{name}-{kind}.gguf"


def export(
    paths: RunPaths,
    merged_dir: Path,
    settings: PromptSettings,
    out_dir: Path,
    types: Sequence[str] = DEFAULT_TYPES,
    name: str = "psych",
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> ExportResult:
    """Every asked-for GGUF type of the merged model in `out_dir`, a Modelfile next to the most
    compact one, and the chat template. Existing files are kept unless `force`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    template = chat_template(settings, tokenizer)
    targets = {t: gguf_name(out_dir, name, t) for t in types}
    extra = [out_dir / "Modelfile", out_dir / "chat_template.jinja", out_dir / "README.md"]
    existing = [p for p in [*targets.values(), *extra] if p.exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]}: already exported; --force writes a new export over it")
    result = ExportResult(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quantized = [t for t in types if t in QUANTIZER_TYPES]
    if quantized and not has_llama_cpp():
        for t in quantized:
            result.skipped[t] = llama_cpp_missing(t)
    work = temp_folder(out_dir, ".export-")
    try:
        stage = staged_model(merged_dir, template, work / "model")
        # The quantizer works from a full-precision GGUF: the f16 asked for, else a temporary one.
        full: Path | None = None
        for kind in [t for t in types if t in CONVERTER_TYPES] + (
            ["f16"] if quantized and "f16" not in types and not result.skipped else []
        ):
            progress(f"converting to {kind} with llama.cpp's convert_hf_to_gguf.py")
            start = time.monotonic()
            tmp = work / f"{kind}.gguf"
            convert(stage, tmp, kind)
            if kind == "f16":
                full = tmp
            if kind in types:
                result.seconds[kind] = time.monotonic() - start
        for kind in quantized:
            if kind in result.skipped or full is None:
                continue
            progress(f"quantizing to {kind} with llama.cpp's llama_model_quantize")
            start = time.monotonic()
            quantize(full, work / f"{kind}.gguf", kind)
            result.seconds[kind] = time.monotonic() - start
        for kind, target in targets.items():
            made = work / f"{kind}.gguf"
            if made.is_file():
                made.chmod(umask_mode())
                os.replace(made, target)
                result.files[kind] = target
    finally:
        shutil.rmtree(work, ignore_errors=True)
    smallest = next((result.files[t] for t in reversed(GGUF_TYPES) if t in result.files), None)
    write_text_atomic(out_dir / "chat_template.jinja", template + "\n")
    if smallest is not None:
        stops = stop_tokens(tokenizer, merged_dir)
        result.modelfile = out_dir / "Modelfile"
        write_text_atomic(result.modelfile, modelfile(settings, tokenizer, smallest.name, stops))
        write_text_atomic(out_dir / "README.md", usage_readme(result, paths))
    return result


def usage_readme(result: ExportResult, paths: RunPaths) -> str:
    """How to run the files just written: Ollama, llama.cpp's tools and server, vLLM."""
    files = sorted(result.files.items(), key=lambda kv: GGUF_TYPES.index(kv[0]))
    pick = next((p.name for t, p in files if t == "q4_k_m"), files[-1][1].name if files else "")
    rows = "\n".join(
        f"| `{p.name}` | {t} | {p.stat().st_size / 2**20:,.1f} MiB |" for t, p in files
    )
    return f"""# The fine-tuned model as GGUF

Exported by `psych export` from the run in `{paths.adapter_dir}` (base `{paths.base_model}`,
adapter merged). Every file carries the chat template the model was trained with: send a
question as the user message and nothing else; the trained system prompt is added unless you
send your own.

| file | type | size |
|---|---|---|
{rows}

## Ollama

    ollama create psych -f Modelfile
    ollama run psych "What is classical conditioning?"

## llama.cpp

    llama-cli -m {pick} --jinja -cnv
    llama-server -m {pick} --jinja --host 127.0.0.1 --port 8080

## llama-cpp-python's server (OpenAI-compatible)

    python -m llama_cpp.server --model {pick} --host 127.0.0.1 --port 8080

## vLLM (GPU), the adapter without merging

    vllm serve {paths.base_model} --enable-lora --lora-modules psych={paths.adapter_dir} \\
      --chat-template chat_template.jinja
"""


# --- serving ----------------------------------------------------------------------------------


def pick_gguf(out_dir: Path, name: str = "psych") -> Path:
    """The export to serve by default: the most compact type written."""
    for kind in reversed(GGUF_TYPES):
        path = gguf_name(out_dir, name, kind)
        if path.is_file():
            return path
    raise UsageError(f"{out_dir}: no {name}-*.gguf here; run `psych export` first")


def llama_server_command(
    gguf: Path, host: str, port: int, alias: str, n_ctx: int = 4096
) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server for a GGUF; it renders prompts with the chat
    template inside the file (the training prompt, see chat_template)."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
    ]


def vllm_command(
    paths: RunPaths, template: Path, host: str, port: int, alias: str, lora_rank: int
) -> list[str]:
    """vLLM serving the base with the adapter unmerged (GPU only), prompts rendered with the
    training chat template; clients ask for model `alias`."""
    return [
        "vllm",
        "serve",
        paths.base_model,
        "--enable-lora",
        "--lora-modules",
        f"{alias}={paths.adapter_dir}",
        "--max-lora-rank",
        str(lora_rank),
        "--chat-template",
        str(template),
        "--host",
        host,
        "--port",
        str(port),
    ]
