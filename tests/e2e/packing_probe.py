"""Does Axolotl's sample packing let rows attend to each other? Run as
`python -m tests.e2e.packing_probe CONFIG...`; prints one JSON line per config.

It builds the trainer exactly as `axolotl.cli.train` does (plugins, datasets, patches, the
multipack collator, the attention-mask drop), takes the first packed training batch, and
compares each packed row's answer loss with the loss of the same row run alone (its own
position ids, no neighbours). Equal losses: packed rows are isolated. Dropout is off (eval mode)
so both passes are deterministic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _answer_loss(logits, labels) -> tuple[float, int]:
    import torch

    shift_logits, shift_labels = logits[:-1], labels[1:]
    mask = shift_labels != -100
    if not mask.any():
        return 0.0, 0
    loss = torch.nn.functional.cross_entropy(
        shift_logits[mask].float(), shift_labels[mask], reduction="mean"
    )
    return float(loss), int(mask.sum())


def probe(config: Path) -> dict:
    import torch
    from axolotl.cli.args import TrainerCliArgs
    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets
    from axolotl.integrations.base import PluginManager
    from axolotl.train import setup_model_and_trainer

    cfg = load_cfg(str(config))
    meta = PluginManager.get_instance().load_datasets(cfg, preprocess=False)
    meta = meta or load_datasets(cfg=cfg, cli_args=TrainerCliArgs())
    trainer, model, _, _, _ = setup_model_and_trainer(cfg, meta)
    batch = next(iter(trainer.get_train_dataloader()))
    model.eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    rows = []
    with torch.no_grad():
        packed = model(**inputs).logits
        for b in range(batch["input_ids"].shape[0]):
            pos = batch["position_ids"][b]
            starts = (pos == 0).nonzero().flatten().tolist() + [len(pos)]
            for s, e in zip(starts[:-1], starts[1:], strict=True):
                labels = batch["labels"][b, s:e]
                packed_loss, n = _answer_loss(packed[b, s:e], labels)
                if n == 0:  # padding at the end of the row, or a row without answer tokens
                    continue
                ids = batch["input_ids"][b, s:e][None]
                alone = model(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    position_ids=torch.arange(e - s)[None],
                ).logits[0]
                alone_loss, _ = _answer_loss(alone, labels)
                rows.append({"tokens": e - s, "packed": packed_loss, "alone": alone_loss})
    diffs = [abs(r["packed"] - r["alone"]) / max(abs(r["alone"]), 1e-9) for r in rows]
    return {
        "attn_implementation": cfg.attn_implementation,
        "mask_dropped": "attention_mask" not in batch,
        "rows_in_first_batch": len(rows),
        "max_relative_difference": max(diffs) if diffs else None,
        "rows": rows,
    }


if __name__ == "__main__":
    # Several configs in one process share the cost of importing Axolotl and torch.
    for arg in sys.argv[1:]:
        print("PACKING " + json.dumps(probe(Path(arg))), flush=True)
