#!/usr/bin/env bash
# `make bench-gpu` on a GPU machine that has torch with CUDA (and transformers, peft, accelerate)
# but not this project's venv: installs what is missing from a folder of wheels, offline, then
# runs the benchmark. Results go to benchmarks/results/ (gpu.json, gpu.md), the generated section
# of docs/benchmarks.md, and $OUT when set.
#
#   bash benchmarks/gpu_machine.sh [WHEELS_DIR]     # default: benchmarks/.wheels
#
# Prepare WHEELS_DIR on a machine with PyPI access (pip's own resolver; torch is not downloaded,
# the GPU machine's own torch is kept):
#   pip download -d benchmarks/.wheels --python-version 3.12 --only-binary=:all: --no-deps \
#     axolotl==0.19.0 bitsandbytes==0.50.2 datasets==4.8.4 trl==1.9.0
# then add any further dependency the install below reports as missing the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${1:-benchmarks/.wheels}
export AXOLOTL_DO_NOT_TRACK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
missing=()
for mod in axolotl bitsandbytes datasets trl; do
  python -c "import $mod" 2>/dev/null || missing+=("$mod")
done
if ((${#missing[@]})); then
  echo "== installing from $WHEELS: ${missing[*]}"
  # --no-deps: the machine's torch/transformers stay as they are; Axolotl's pins are not forced.
  python -m pip install --no-index --find-links "$WHEELS" --no-deps "$WHEELS"/*.whl
fi
python -m pip install --no-deps --no-build-isolation -e . >/dev/null 2>&1 || export PYTHONPATH=$PWD
python benchmarks/gpu.py --docs docs/benchmarks.md "${@:2}"
if [[ -n "${OUT:-}" ]]; then
  cp benchmarks/results/gpu.json benchmarks/results/gpu.md docs/benchmarks.md "$OUT"/
fi
