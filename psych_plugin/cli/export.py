"""`psych export | serve`: the fine-tuned model where people run models (GGUF for llama.cpp,
Ollama and LM Studio; an OpenAI-compatible server)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..problems import UsageError
from .common import EXIT_OK, EXIT_PROBLEMS, require, training_config

CHECK_QUESTIONS = (
    "What is classical conditioning?",
    "Compare episodic and semantic memory.",
    "Describe Milgram's obedience study.",
)


def _merged(paths: Any) -> Path:
    """The merged model of the run, merged (and checked) now when missing or older than the
    adapter."""
    from ..model.merge import merge
    from ..paths import ADAPTER_FILES

    merged = paths.adapter_dir / "merged"
    adapter_times = [
        (paths.adapter_dir / f).stat().st_mtime
        for f in ADAPTER_FILES
        if (paths.adapter_dir / f).is_file()
    ]
    config = merged / "config.json"
    if config.is_file() and config.stat().st_mtime >= max(adapter_times, default=0):
        return merged
    print("psych export: merging the adapter first (psych merge)", file=sys.stderr)
    check = merge(paths, list(CHECK_QUESTIONS))
    if not check.ok:
        raise UsageError(
            f"{check.merged_dir}: the merged model does not match base + adapter ({check.problem})"
        )
    return check.merged_dir


def cmd_export(args: argparse.Namespace) -> int:
    require("axolotl", "torch", "peft", what="psych export")
    from ..model.export import (
        DEFAULT_TYPES,
        QUANTIZER_TYPES,
        export,
        has_llama_cpp,
        llama_cpp_missing,
        parse_types,
    )
    from ..model.inference import check_adapter, prompt_settings, run_paths

    llama = has_llama_cpp()
    if args.types:
        types = parse_types(args.types)
        needs = [t for t in types if t in QUANTIZER_TYPES]
        if needs and not llama:
            raise UsageError(llama_cpp_missing(", ".join(needs)))
    else:
        types = tuple(t for t in DEFAULT_TYPES if llama or t not in QUANTIZER_TYPES)
    paths = run_paths(training_config(args))
    check_adapter(paths)
    settings = prompt_settings(paths, use_adapter=True)
    out_dir = Path(args.output) if args.output else paths.adapter_dir / "gguf"
    from ..atomic import check_writable

    check_writable(out_dir / "Modelfile")
    merged = _merged(paths)

    def progress(message: str) -> None:
        print(f"psych export: {message}", file=sys.stderr)

    result = export(
        paths, merged, settings, out_dir, types, args.name, args.force, progress=progress
    )
    for kind, path in result.files.items():
        size = path.stat().st_size / 2**20
        print(f"{kind:7} {path}  {size:,.1f} MiB  ({result.seconds.get(kind, 0):.0f} s)")
    if result.modelfile:
        print(f"Modelfile {result.modelfile}  (ollama create {args.name} -f {result.modelfile})")
    print(f"how to run them: {out_dir / 'README.md'}")
    if not llama:
        print(
            "psych export: q4_k_m and the check against llama.cpp skipped: "
            + llama_cpp_missing("they"),
            file=sys.stderr,
        )
        return EXIT_OK
    if args.no_check:
        return EXIT_OK
    return _check(paths, merged, settings, result.files)


def _check(paths: Any, merged: Path, settings: Any, files: dict[str, Path]) -> int:
    """Each GGUF in llama.cpp against the merged model in transformers (itself checked against
    base + adapter by the merge), and far closer to it than the base is."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..model.gguf_check import check_gguf

    tokenizer = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    base = AutoModelForCausalLM.from_pretrained(paths.base_model, dtype=torch.float32).eval()
    failed = False
    print("llama.cpp vs the merged model (transformers, float32) along its greedy answers:")
    for kind, path in files.items():
        c = check_gguf(path, kind, model, tokenizer, settings, CHECK_QUESTIONS, base=base)
        print(
            f"  {kind:7} prompt tokens {'equal' if c.prompt_tokens_equal else 'DIFFER'}; "
            f"max |dlogit| {c.max_abs_diff:.3g} ({c.relative:.2%} of range); "
            f"top-1 {c.top1_agreement:.0%}; KL {c.mean_kl:.2g}; "
            f"greedy agrees {c.greedy_prefix}/{c.answer_tokens} tokens; "
            f"adapter effect {c.adapter_effect:.3g}"
        )
        for problem in c.problems:
            failed = True
            print(f"psych export: {problem}", file=sys.stderr)
    return EXIT_PROBLEMS if failed else EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="the fine-tuned model as GGUF (f16, q8_0, q4_k_m) with an Ollama Modelfile",
        description="Merge the adapter (psych merge) and convert the merged model with "
        "llama.cpp's own converter and quantizer; write a Modelfile and a README next to the "
        "files. With llama.cpp installed (make llama-cpp), also make q4_k_m and check every "
        "file in llama.cpp against base + adapter.",
    )
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.add_argument("-o", "--output", help="folder for the files (default: OUTPUT_DIR/gguf)")
    p.add_argument(
        "--types",
        help="comma-separated: f32, f16, bf16, q8_0, q4_k_m (default: f16,q8_0, and q4_k_m "
        "when llama.cpp is installed)",
    )
    p.add_argument("--name", default="psych", help="file name prefix and Ollama model name")
    p.add_argument("--force", action="store_true", help="write over an earlier export")
    p.add_argument("--no-check", action="store_true", help="skip the llama.cpp comparison")
    p.set_defaults(func=cmd_export)
    add_serve_parser(sub)


def cmd_serve(args: argparse.Namespace) -> int:
    import os
    import shlex
    import shutil

    from ..model.export import llama_server_command, pick_gguf, vllm_command
    from ..model.inference import check_adapter, run_paths

    paths = run_paths(training_config(args))
    if args.engine == "vllm":
        adapter = check_adapter(paths)
        template = paths.adapter_dir / "gguf" / "chat_template.jinja"
        if not template.is_file():
            raise UsageError(f"{template}: missing; run `psych export` first (it writes it)")
        rank = int(adapter.get("r") or 16)
        command = vllm_command(paths, template, args.host, args.port, args.name, rank)
    else:
        gguf = Path(args.gguf) if args.gguf else pick_gguf(paths.adapter_dir / "gguf", args.name)
        if not gguf.is_file():
            raise UsageError(f"{gguf}: no such GGUF file")
        command = llama_server_command(gguf, args.host, args.port, args.name, args.n_ctx)
    print(shlex.join(command), flush=True)
    if args.print:
        return EXIT_OK
    if args.engine == "vllm":
        found = shutil.which("vllm")
        if found is None:
            raise UsageError(
                "vllm is not installed here (it needs a CUDA GPU): run the line above there"
            )
        command[0] = found
    else:
        from ..model.export import has_llama_server, llama_cpp_missing

        if not has_llama_server():
            raise UsageError(llama_cpp_missing("psych serve"))
    os.execv(command[0], command)
    return EXIT_OK  # not reached: the server replaced this process


def add_serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="an OpenAI-compatible server of the model (llama.cpp on a CPU, vLLM on a GPU)",
        description="llama-cpp-python's server for the exported GGUF (psych export), or vLLM with "
        "the adapter unmerged (--engine vllm, GPU). Prints the command, then runs it (--print: "
        "only print). Clients send a question as the user message; the trained prompt is the "
        "model's chat template.",
    )
    p.add_argument("--config", help="training YAML (default: the generated default preset)")
    p.add_argument("--engine", choices=("llama-cpp", "vllm"), default="llama-cpp")
    p.add_argument("--gguf", help="the GGUF to serve (default: the most compact export)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--name", default="psych", help="the model name clients ask for")
    p.add_argument("--n-ctx", type=int, default=4096, help="context length (llama.cpp)")
    p.add_argument("--print", action="store_true", help="print the command, do not run it")
    p.set_defaults(func=cmd_serve)
