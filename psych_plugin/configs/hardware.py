"""Is there a CUDA GPU, and which attention backend can run on it? One answer for the Makefile,
the config generator, the checker and inference.

The Makefile runs `python -m psych_plugin.configs.hardware` (system Python, before any
virtualenv exists, no torch import: it must stay fast) and reads `1` or nothing; everything in
Python calls `has_cuda_gpu()`. A machine whose driver answers but whose torch cannot use the GPU
(a CPU-only torch build) is reported by `torch_cuda_problem()` instead of silently disagreeing.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass

# attn_implementation -> the importable module it needs (None: PyTorch itself). Names starting
# with `kernels-community/` are hub kernels loaded through the `kernels` package at run time.
ATTN_MODULES: dict[str, str | None] = {
    "eager": None,
    "sdpa": None,
    "flash_attention_2": "flash_attn",
    "flash_attention_3": "flash_attn_interface",
    "flash_attention_4": "flash_attn.cute",
    "flex_attention": None,
    "xformers": "xformers",
    "sage": "sageattention",
}
# How to install each optional attention package (one line, for check-config's fix).
ATTN_INSTALL: dict[str, str] = {
    "flash_attn": "make setup FLASH_ATTN=1 (pip install flash-attn==2.8.3 --no-build-isolation, "
    "after torch; needs nvcc and a long build)",
    "flash_attn_interface": "build flash-attention 3 from its hopper/ folder (H100 only)",
    "flash_attn.cute": "pip install flash-attn-4",
    "xformers": "pip install xformers",
    "sageattention": "pip install sageattention",
}


def has_cuda_gpu() -> bool:
    """A CUDA GPU is usable: the driver answers `nvidia-smi -L` with a GPU (no torch import)."""
    if not shutil.which("nvidia-smi"):
        return False
    try:
        command = ["nvidia-smi", "-L"]
        # Any timeout works: it only stops a hung driver from hanging `make` (so no mutants).
        done = subprocess.run(command, capture_output=True, timeout=20)  # pragma: no mutate
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and b"GPU" in done.stdout


def torch_cuda_problem() -> str | None:
    """Why torch cannot use the GPU the driver reports (None when it can, or there is none)."""
    if not has_cuda_gpu():
        return None
    import torch

    if torch.cuda.is_available():
        return None
    return (
        f"nvidia-smi reports a CUDA GPU but torch {torch.__version__} cannot use it "
        f"(torch.version.cuda={torch.version.cuda}); install a CUDA build of torch "
        "(rm -rf .venv && make setup)"
    )


def module_importable(name: str) -> bool:
    """`import name` would find the module (without importing it: flash_attn pulls in CUDA)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def attention_module(impl: str) -> str | None:
    """The module `attn_implementation: impl` needs (`kernels` for a hub kernel), or None."""
    if "/" in impl:
        return "kernels"
    return ATTN_MODULES.get(impl.split(":", 1)[0])


@dataclass(frozen=True)
class AttentionChoice:
    impl: str
    reason: str


def describe_attention(impl: str | None, sample_packing: bool, cuda: bool) -> AttentionChoice:
    """Which attention backend a config runs with on this machine, and why (printed by
    `make train`)."""
    if not impl:
        return AttentionChoice(
            "sdpa (transformers' default)",
            "attn_implementation is unset; with sample_packing Axolotl then keeps the padding "
            "mask and packed rows attend to each other"
            if sample_packing
            else "attn_implementation is unset",
        )
    if impl == "sdpa":
        if sample_packing and cuda:
            why = (
                "PyTorch SDPA, always importable; packed rows run as variable-length attention "
                "(torch.nn.attention.varlen, cu_seqlens from position_ids, Axolotl's sdpa_varlen "
                "patch): no flash-attn package needed"
            )
        elif sample_packing:
            why = (
                "PyTorch SDPA, always importable; packed rows are isolated by a block-diagonal "
                "mask built from position_ids (the varlen kernel needs CUDA)"
            )
        else:
            why = "PyTorch SDPA, always importable"
        return AttentionChoice("sdpa", why)
    module = attention_module(impl)
    if module and not module_importable(module):
        return AttentionChoice(impl, f"asked for, but the `{module}` package is missing")
    return AttentionChoice(impl, f"asked for in the config; `{module or 'torch'}` is importable")


@dataclass(frozen=True)
class Hardware:
    """What check-config weighs a config against: one probe of this machine."""

    cuda: bool
    flash_attn: bool
    bitsandbytes: bool
    # Why torch cannot use the GPU the driver reports (a CPU-only torch build), else None.
    torch_cuda_problem: str | None = None

    @classmethod
    def detect(cls) -> Hardware:
        return cls(
            cuda=has_cuda_gpu(),
            flash_attn=module_importable("flash_attn"),
            bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
            torch_cuda_problem=torch_cuda_problem(),
        )

    def has_module(self, name: str) -> bool:
        return self.flash_attn if name == "flash_attn" else module_importable(name)


def main(argv: list[str] | None = None) -> int:
    """Print `1` when a CUDA GPU is present, nothing otherwise (the Makefile's $(shell ...))."""
    del argv
    if has_cuda_gpu():
        print("1")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
