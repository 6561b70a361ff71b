"""Sample packing through real Axolotl on the tiny model: with attn_implementation: sdpa (the
presets) a packed row's answer loss equals the same row's loss alone; with no backend set,
Axolotl keeps the padding mask and rows attend to each other (what check-config reports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import MINI, OFFLINE_ENV, REPO, make_config

# Packed and alone run the same kernels on the same tokens; only float summation order may
# differ. Measured: 0.0 with sdpa; 3.6% on the rows after the first with no backend.
TOLERANCE = 1e-4


def probe(config) -> dict:
    import os

    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.packing_probe", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **OFFLINE_ENV},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith("PACKING ")]
    return json.loads(line.removeprefix("PACKING "))


@pytest.mark.slow
@pytest.mark.parametrize(("impl", "isolated"), [("sdpa", True), ("null", False)])
def test_packed_rows_are_isolated_with_sdpa(tmp_path, tiny_model, impl, isolated):
    config = make_config(
        tmp_path,
        tiny_model,
        MINI,
        "sample_packing=true",
        f"attn_implementation={impl}",
        "micro_batch_size=1",
    )
    result = probe(config)
    assert result["rows_in_first_batch"] >= 3, result  # really packed: several rows in one
    if isolated:
        assert result["mask_dropped"] is True
        assert result["max_relative_difference"] <= TOLERANCE, result
    else:
        assert result["mask_dropped"] is False
        assert result["max_relative_difference"] > 100 * TOLERANCE, result
