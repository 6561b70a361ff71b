"""Third-party logging the user should not read: one home for every silencer.

Axolotl, transformers and the evaluation harness log freely while they validate, build or
load; what a `psych` command prints is its report."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

# Importing Axolotl imports torchao, which logs missing CUDA kernels on every CPU start;
# bitsandbytes' CPU backend logs that it could not fetch a hub kernel (offline, nothing to do);
# the harness logs each task it builds.
NOISY_LOGGERS = (
    "torchao",
    "torch.utils._pytree",
    "bitsandbytes.backends.cpu.ops",
    "lm_eval",
    "lm-eval",
)


def silence_noisy_loggers(names: tuple[str, ...] = NOISY_LOGGERS) -> None:
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    # The `kernels` package warns (UserWarning) that offline mode skips a trust check it then
    # does not need: bitsandbytes' CPU kernel is not fetched offline anyway.
    warnings.filterwarnings(
        "ignore", message="Skipping publisher trust check", category=UserWarning
    )


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """No log record below ERROR while the block runs (the previous setting comes back)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
