"""Is there a CUDA GPU? One answer for the Makefile, the config generator and the checker."""

from __future__ import annotations

import shutil
import subprocess


def has_cuda_gpu() -> bool:
    """A CUDA GPU is usable: the driver answers `nvidia-smi -L` (no torch import needed)."""
    if not shutil.which("nvidia-smi"):
        return False
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and b"GPU" in done.stdout
