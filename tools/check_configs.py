"""Run `psych check-config` over every YAML in a folder (e.g. Axolotl's example configs) and
list each error, as a development check that the checker does not cry wolf.

    .venv/bin/python tools/check_configs.py FOLDER [--cpu]

Hardware is assumed to be a CUDA GPU with flash-attn and bitsandbytes (the examples target
one) unless --cpu. Exit 0; the last line counts errors and files.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")


def main() -> int:
    from psych_plugin.configs.checks import check_config
    from psych_plugin.configs.hardware import Hardware
    from psych_plugin.problems import UsageError

    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--cpu", action="store_true", help="check as on a machine without a GPU")
    p.add_argument("--warnings", action="store_true", help="list warnings too")
    args = p.parse_args()
    hw = Hardware(cuda=not args.cpu, flash_attn=not args.cpu, bitsandbytes=True)
    files = sorted(args.folder.glob("*.y*ml"))
    errors = warnings = 0
    for f in files:
        try:
            problems = check_config(f, hw)
        except UsageError as e:
            print(f"{e}")
            errors += 1
            continue
        for prob in problems:
            if prob.severity == "error" or args.warnings:
                print(f"{f.name}:{prob.line}: {prob.severity}: {prob.field}: {prob.message}")
            errors += prob.severity == "error"
            warnings += prob.severity == "warning"
    print(f"{errors} error(s), {warnings} warning(s) in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
