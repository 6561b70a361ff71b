"""Several processes on this CPU (gloo), through `make train` and accelerate, for real.

One 1-process run (micro-batch 8) is the reference; a 2-process run (NPROC=2, micro-batch 4)
and a 2-"node" run (two `make train` commands, NUM_NODES=2, one process each) see the same
global batch of 8 rows per step and must reach the same losses. 24 rows = 3 full steps, so no
step has a ragged last batch (accelerate would pad it differently per rank).

Every row's answer is cut to the same number of tokens: Axolotl 0.19 sets
`average_tokens_across_devices: False`, so each rank averages over its own tokens and DDP
averages the ranks; with equal counts that equals one process's average over all tokens. (With
real rows of different lengths the two differ slightly: 4e-4 relative on the first step,
measured on 24 shipped rows; see the README.)

Tolerance 1e-5 relative, for every step: the layouts add the same float32 numbers in another
order (per-rank sums, then gloo), measured 1.1e-7; a different row in a batch, unsynchronised
ranks or an unseeded LoRA init move these losses by 1e-4 to 1e-2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import (
    OFFLINE_ENV,
    REPO,
    TRAIN_DATA,
    free_port,
    last_checkpoint,
    run_axolotl,
    run_psych,
    stop_at_checkpoint,
)

pytestmark = pytest.mark.slow

STEPS = 3
GLOBAL_BATCH = 8
ANSWER_TOKENS = 24
LOSS_RTOL = 1e-5


def run_sets(tmp: Path, tiny_model: Path, data: Path, micro_batch: int) -> list[str]:
    return [
        f"base_model={tiny_model}",
        f"datasets.0.path={data}",
        "test_datasets=null",
        "val_set_size=0",
        "evals_per_epoch=null",
        "eval_strategy=no",
        "saves_per_epoch=null",
        f"save_steps={STEPS}",
        f"output_dir={tmp / 'out'}",
        f"dataset_prepared_path={tmp / 'prepared'}",
        f"max_steps={STEPS}",
        f"micro_batch_size={micro_batch}",
        "gradient_accumulation_steps=1",
        "logging_steps=1",
        # Dropout draws differ per process; without it both layouts compute the same function.
        "lora_dropout=0",
    ]


def make_train(*variables: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`make train` as a user types it (the venv is taken as installed: -o skips set-up)."""
    return subprocess.run(
        ["make", "-o", ".venv/.installed", "train", "PRESET=tiny-cpu", *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **OFFLINE_ENV},
    )


def losses(out: Path) -> list[float]:
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    found = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(found) == STEPS, state["log_history"]
    return found


def assert_one_clean_run(out: Path) -> None:
    """One adapter, one prompt file, one model card (ours, complete), no temporary files."""
    assert (out / "adapter_model.safetensors").is_file()
    settings = json.loads((out / "psych_prompt.json").read_text())
    assert settings["style"] == "chat"
    card = (out / "README.md").read_text()
    assert "## Prompt template" in card and f"global_step: {STEPS}" in card, card
    assert (out / "psych_run_config.yml").is_file()
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name[0] == "."]
    assert leftovers == []


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    """Shipped rows, each answer cut to exactly ANSWER_TOKENS tokens (trained tokens per row:
    those plus EOS; the prompt strategy tokenizes the answer on its own)."""
    rows = []
    for line in TRAIN_DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ids = tiny_tokenizer(row["output"], add_special_tokens=False)["input_ids"]
        text = tiny_tokenizer.decode(ids[:ANSWER_TOKENS]).strip()
        if len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]) == ANSWER_TOKENS:
            rows.append(json.dumps({**row, "output": text}))
        if len(rows) == STEPS * GLOBAL_BATCH:
            break
    path = tmp_path_factory.mktemp("dist-data") / "rows.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, data: Path) -> Path:
    tmp = tmp_path_factory.mktemp("one-process")
    config = tmp / "cfg.yml"
    args = ["config", "tiny-cpu", "-o", str(config), "--no-check"]
    for s in run_sets(tmp, tiny_model, data, GLOBAL_BATCH):
        args += ["--set", s]
    assert run_psych(*args).returncode == 0
    done = run_axolotl("train", config)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "out"


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, data: Path):
    tmp = tmp_path_factory.mktemp("two-processes")
    sets = run_sets(tmp, tiny_model, data, GLOBAL_BATCH // 2)
    done = make_train(
        "NPROC=2",
        f"MASTER_PORT={free_port()}",
        f"CONFIG={tmp / 'cfg.yml'}",
        f"SET={' '.join(sets)}",
    )
    (tmp / "make.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    return tmp / "out", done


def test_two_processes_train_through_make(two_processes) -> None:
    out, done = two_processes
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    # Both ranks ran, in one DDP job (transformers warns when ranks train unsynchronised).
    assert all(f"psych_plugin: rank {r} of 2 on the CPU (gloo DDP)" in log for r in (0, 1))
    assert "parallel_mode != ParallelMode.DISTRIBUTED" not in log
    assert "Adapter written to:" in done.stdout  # psych trained checked it
    assert_one_clean_run(out)


def test_one_and_two_processes_agree(one_process: Path, two_processes) -> None:
    out, done = two_processes
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    single, double = losses(one_process), losses(out)
    assert double == pytest.approx(single, rel=LOSS_RTOL), (single, double)
    assert single[-1] != pytest.approx(single[0], rel=1e-3)  # it did learn: not a constant


def test_two_nodes_on_one_machine(
    tmp_path: Path, tiny_model: Path, data: Path, one_process: Path, two_processes
) -> None:
    """The multi-machine launch line, exercised: two `make train` commands, NUM_NODES=2, one
    process each, meet at MASTER_ADDR:MASTER_PORT and train as one job."""
    assert run_psych("tiny").returncode == 0  # built once here, not raced by the two nodes
    sets = " ".join(run_sets(tmp_path, tiny_model, data, GLOBAL_BATCH // 2))
    common = ["NPROC=1", "NUM_NODES=2", "MASTER_ADDR=127.0.0.1", f"MASTER_PORT={free_port()}"]
    procs = [
        subprocess.Popen(
            ["make", "-o", ".venv/.installed", "train", "PRESET=tiny-cpu", *common]
            + [f"NODE_RANK={rank}", f"CONFIG={tmp_path / f'node{rank}.yml'}", f"SET={sets}"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **OFFLINE_ENV},
        )
        for rank in (0, 1)
    ]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs, strict=True)):
        assert proc.returncode == 0, f"node {rank}:\n{log[-4000:]}"
    for rank, log in enumerate(logs):
        assert f"psych_plugin: rank {rank} of 2 on the CPU (gloo DDP)" in log
    assert "node 1 done: node 0 writes the adapter" in logs[1]
    assert "Adapter written to:" in logs[0]
    out = tmp_path / "out"
    assert_one_clean_run(out)
    # One job of two processes x 4 rows: the same losses as one process x 8 rows.
    single, nodes = losses(one_process), losses(out)
    assert nodes == pytest.approx(single, rel=LOSS_RTOL), (single, nodes)
    # The same 2-process job launched another way is the same computation, bit for bit (the
    # plugin seeds the LoRA init, which Axolotl 0.19 leaves unseeded).
    assert nodes == losses(two_processes[0])


def test_sigterm_during_two_process_run_then_resume(tmp_path: Path, tiny_model: Path, data: Path):
    """What a cluster scheduler does: SIGTERM to every process of the job (launcher and both
    ranks) mid-run. The same `make train` resumes from the last checkpoint; the same command
    with another learning rate is refused in one line, before anything starts."""
    steps = 8  # killed at checkpoint-4: 4 steps (over 8 s) still to go when SIGTERM is sent
    sets = [
        *run_sets(tmp_path, tiny_model, data, GLOBAL_BATCH // 2),
        f"max_steps={steps}",
        "save_steps=2",
    ]
    variables = ["NPROC=2", f"CONFIG={tmp_path / 'cfg.yml'}"]
    out = tmp_path / "out"
    command = ["make", "-o", ".venv/.installed", "train", "PRESET=tiny-cpu", *variables]
    command += [f"MASTER_PORT={free_port()}", f"SET={' '.join(sets)}"]
    group = stop_at_checkpoint(command, out, 4, signal.SIGTERM)
    # No rank outlives the job (a stray rank would hold the port and the files).
    deadline = time.time() + 30
    while _group_alive(group):
        assert time.time() < deadline, "processes of the stopped job are still running"
        time.sleep(0.2)
    assert not (out / "adapter_model.safetensors").exists()
    done_steps = last_checkpoint(out)
    assert 4 <= done_steps < steps

    changed = make_train(*variables, f"SET={' '.join(sets)} learning_rate=0.005")
    assert changed.returncode != 0
    refusal = [ln for ln in changed.stderr.splitlines() if "changed since the interrupted" in ln]
    assert len(refusal) == 1 and "learning_rate: 0.01 -> 0.005" in refusal[0], changed.stderr
    assert "Traceback" not in changed.stderr

    resumed = make_train(*variables, f"MASTER_PORT={free_port()}", f"SET={' '.join(sets)}")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert "resuming the interrupted run from" in resumed.stdout
    state = json.loads((out / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    assert state["global_step"] == steps
    card = (out / "README.md").read_text()
    assert f"global_step: {steps}" in card
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name[0] == "."]
    assert leftovers == []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
