"""Shared fixtures. The tiny model is built once per session into a temp cache; end-to-end
tests run real Axolotl in a subprocess, offline, with telemetry off."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings

from psych_plugin.prompts import PromptSettings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI = FIXTURES / "mini_train.jsonl"
DATA_DIR = REPO / "data"
TRAIN_DATA = DATA_DIR / "psychology_alpaca.jsonl"
PARAPHRASE_DATA = DATA_DIR / "psychology_eval_paraphrase.jsonl"
UNSEEN_DATA = DATA_DIR / "psychology_eval_unseen.jsonl"
EVAL_DATA = UNSEEN_DATA
EVAL_SETS = [PARAPHRASE_DATA, UNSEEN_DATA]
SCHEMA = REPO / "schemas" / "alpaca.schema.json"

OFFLINE_ENV = {
    "AXOLOTL_DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONUNBUFFERED": "1",
}
os.environ.update(OFFLINE_ENV)
# Axolotl tokenizes and saves its datasets in worker processes (one per core by default; even
# `dataset_num_proc: 1` starts a pool), and each worker imports Axolotl again: ~60 s of every
# run on 2 cores, for 12 rows. 0 keeps that work in the run's own process (measured: a
# preprocess of the mini set 83 s -> 18 s). Only the tests that run the product as a user does
# (`make train`, the installed wheel) keep Axolotl's default: `user_env()`.
IN_PROCESS_DATASETS = {"AXOLOTL_DATASET_NUM_PROC": "0"}
os.environ.update(IN_PROCESS_DATASETS)
# Under `make test` a nested `make -n` would count as a sub-make and print directory lines.
os.environ.pop("MAKELEVEL", None)

# Property tests draw the same examples on every run, so `make test`, CI and mutation runs
# agree; HYPOTHESIS_PROFILE=explore draws new ones (a failure found there becomes a test).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def user_env(**extra: str) -> dict[str, str]:
    """The environment as a user's shell has it: offline, but Axolotl's dataset worker
    processes left at their default (so those runs also prove the prompt strategy works in
    them)."""
    env = {**os.environ, **OFFLINE_ENV, **extra}
    for key in IN_PROCESS_DATASETS:
        env.pop(key, None)
    return env


def run_psych(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: int = 120):
    return subprocess.run(
        [sys.executable, "-m", "psych_plugin", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# `nvidia-smi -L` on a machine with one GPU; on one with the driver but no usable GPU (exit 6).
GPU_LIST = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0000)\n"
NO_DEVICE = "No devices were found\n"


def fake_nvidia_smi(tmp: Path, stdout: str = "", code: int = 0) -> dict[str, str]:
    """The environment with a stand-in `nvidia-smi` first on PATH: like the real tool it
    answers `-L` (list GPUs) by printing `stdout` and exiting `code`; anything else is a usage
    error. Pass it as `env=` to a subprocess, or set its PATH with monkeypatch."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "nvidia-smi"
    tool.write_text(
        f'#!/bin/sh\n[ "$*" = "-L" ] || exit 2\nprintf "%s" {shlex.quote(stdout)}\nexit {code}\n'
    )
    tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def make_n(*args: str, env: dict[str, str] | None = None) -> str:
    """What `make ARGS` would run (`make -n`), as make prints it."""
    done = subprocess.run(
        ["make", "-n", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`psych ARGS` in this process: its exit code and everything it printed."""
    from psych_plugin.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def stop_at_checkpoint(
    command: list[str], out: Path, step: int, sig: signal.Signals, timeout: int = 300
) -> int:
    """Start `command` (a training run writing to `out`) in its own process group; once
    checkpoint-`step` is complete, send `sig` to the whole group (launcher and ranks, as a
    scheduler does) and wait for it to end. Returns the group id; the run must have failed."""
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **OFFLINE_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + timeout
        while not (out / f"checkpoint-{step}" / "trainer_state.json").exists():
            assert proc.poll() is None, "training ended before it could be stopped"
            assert time.time() < deadline, f"no checkpoint within {timeout} s"
            time.sleep(0.1)
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.pid


def last_checkpoint(out: Path) -> int:
    return max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))


def run_axolotl(command: str, config: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"axolotl.cli.{command}", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **OFFLINE_ENV},
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from psych_plugin.model.tiny import ensure_tiny_model

    return ensure_tiny_model(root=tmp_path_factory.mktemp("tiny-cache"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


# The prompt settings the adapter of `adapter_run` was "trained" with; its config asks for chat
# style, which inference must ignore in favour of the saved file.
SAVED_PROMPT = PromptSettings(style="alpaca", alpaca_preamble="Answer as a psychology tutor.\n\n")


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A training config whose output_dir holds a LoRA adapter (random weights, made in a
    second without training, so it visibly changes the answers) and psych_prompt.json."""
    import torch
    import yaml
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
    SAVED_PROMPT.save(out)
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


def adapter_copy(adapter_run: Path, dest: Path):
    """The run's paths with its adapter folder copied to `dest` (to change it freely)."""
    from psych_plugin.model.inference import run_paths

    paths = run_paths(adapter_run)
    shutil.copytree(paths.adapter_dir, dest)
    paths.adapter_dir = dest
    return paths


def nf4_settings(q) -> tuple:
    """What a BitsAndBytesConfig asks for: 4-bit, 8-bit, quant type, double quant, compute."""
    return (
        q.load_in_4bit,
        q.load_in_8bit,
        q.bnb_4bit_quant_type,
        q.bnb_4bit_use_double_quant,
        q.bnb_4bit_compute_dtype,
    )


def run_hooks(cfg, trainer) -> None:
    """The plugin's hooks in the order Axolotl 0.19 calls them (axolotl/train.py): register,
    post_trainer_create, post_train twice, then post_train_unload."""
    from psych_plugin import PsychologyPlugin

    plugin = PsychologyPlugin()
    plugin.register(cfg)
    plugin.post_trainer_create(cfg, trainer)
    plugin.post_train(cfg, None)
    plugin.post_train(cfg, None)
    plugin.post_train_unload(cfg)


def held_out(path: Path) -> str:
    """--set value making `path` the only test dataset (the defaults list two)."""
    return (
        f"test_datasets=[{{path: '{path}', type: psych_plugin.prompt_strategy, "
        "ds_type: json, split: train}]"
    )


def make_config(
    tmp: Path,
    tiny_model: Path,
    data: Path = MINI,
    *extra: str,
    name: str = "cfg.yml",
) -> Path:
    """A tiny-cpu config generated by `psych config`, pointed at temp folders."""
    out = tmp / name
    sets = [
        f"base_model={tiny_model}",
        f"datasets.0.path={data}",
        held_out(data),
        f"output_dir={tmp / 'out'}",
        f"dataset_prepared_path={tmp / 'prepared'}",
        "max_steps=4",
        "evals_per_epoch=1",
        *extra,
    ]
    args = ["config", "tiny-cpu", "-o", str(out), "--no-check"]
    for s in sets:
        args += ["--set", s]
    done = run_psych(*args)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """One real `axolotl.cli.train` run on the tiny model; returns its config (output in out/)."""
    tmp = tmp_path_factory.mktemp("train")
    # num_epochs and evals as the preset had them when the merge tolerance was measured.
    sets = ["max_steps=10", "learning_rate=0.01", "num_epochs=2"]
    config = make_config(tmp, tiny_model, MINI, *sets)
    done = run_axolotl("train", config)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return config


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


def fake_trainer(steps: int) -> SimpleNamespace:
    """What the model card reads of a finished Trainer: its step count and log history."""
    log = [{"loss": 9.5, "step": 1}, {"loss": 7.25, "step": steps}, {"eval_loss": 7.5}]
    log.append({"train_loss": 8.0, "train_runtime": 12.5, "train_samples_per_second": 3.2})
    return SimpleNamespace(state=SimpleNamespace(global_step=steps, log_history=log))


def plugin_run_cfg(tmp_path: Path, data: str, **extra) -> object:
    """A config as Axolotl hands it to the plugin's hooks (a DictDefault), for a run in
    tmp_path/run-7 on `data`."""
    from axolotl.utils.dict import DictDefault

    out = tmp_path / "run-7"
    out.mkdir(parents=True, exist_ok=True)
    return DictDefault(
        {
            "base_model": "/models/tiny-qwen3",
            "adapter": "qlora",
            "lora_r": 8,
            "lora_alpha": 16,
            "load_in_4bit": True,
            "lora_target_modules": ["q_proj", "v_proj"],
            "datasets": [{"path": data, "type": "psych_plugin.prompt_strategy"}],
            "output_dir": str(out),
            "sequence_len": 512,
            "micro_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "num_epochs": 1,
            "max_steps": 10,
            "learning_rate": 0.01,
            "psych_prompt_style": "alpaca",
            "psych_alpaca_preamble": "Tutor mode.\n\n",
            **extra,
        }
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_server(
    command: list[str], ready_url: str, log: Path, what: str, timeout: float = 180
) -> Iterator[None]:
    """`command` started in its own session (the server and anything it starts stop together),
    output in `log`, until `ready_url` answers 200; stopped (SIGTERM, then SIGKILL) on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **OFFLINE_ENV},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
