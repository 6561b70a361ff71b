"""The embedded tiny model: a Qwen3-architecture causal LM and a byte-level BPE tokenizer with
Qwen's ChatML special tokens and Qwen3's chat template, built locally and deterministically.

It lets the whole pipeline (Axolotl preprocessing, LoRA/QLoRA training, inference, evaluation)
run on a CPU with no hub access. It says nothing about answer quality: its weights are random.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..paths import SHIPPED_TRAIN, TINY_MODEL_DIRNAME, tiny_model_dir

BUILD_VERSION = 2  # bump when the recipe below changes, so caches rebuild
SEED = 0
INIT_STD = 0.2
VOCAB_SIZE = 2048
MODEL_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
}
# Qwen's special tokens, in Qwen's order (ids follow the learned vocabulary here).
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
# Fallback corpus when the shipped dataset is absent: every byte is in the alphabet anyway.
FALLBACK_CORPUS = (
    "Psychology is the scientific study of behaviour and mental processes. "
    "Classical conditioning pairs a neutral stimulus with an unconditioned stimulus. "
    "Operant conditioning changes behaviour through reinforcement and punishment. "
)


def _corpus(source: Path) -> list[str]:
    if not source.exists():
        return [FALLBACK_CORPUS]
    texts = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                texts.extend(str(row.get(k, "")) for k in ("instruction", "input", "output"))
    return texts


def _cache_key(texts: list[str]) -> str:
    h = hashlib.sha256(
        f"v{BUILD_VERSION}:{VOCAB_SIZE}:{INIT_STD}:{sorted(MODEL_SHAPE.items())}".encode()
    )
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:12]


def qwen3_chat_template() -> str:
    """Qwen3's own chat template, as Axolotl ships it (think blocks, enable_thinking)."""
    from axolotl.utils.chat_templates import get_chat_template

    return get_chat_template("qwen3")


def _batches(texts: list[str], size: int = 1000) -> Iterator[list[str]]:
    for i in range(0, len(texts), size):
        yield texts[i : i + size]


def build_tokenizer(texts: list[str], out_dir: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Qwen2/3's pre-tokenizer: split with its regex, then map bytes to printable characters.
    qwen_split = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
        r"|\s*[\r\n]+|\s+(?!\S)|\s+"
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(qwen_split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_batches(texts), trainer=trainer, length=len(texts))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = qwen3_chat_template()
    fast.save_pretrained(out_dir)


def build_model(out_dir: Path) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
        # Wider than the usual 0.02: with frozen tied embeddings of std 0.02 a 64-wide model can
        # barely move its logits, and the LoRA demo could not show that it learns.
        initializer_range=INIT_STD,
        **MODEL_SHAPE,
    )
    torch.manual_seed(SEED)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)


STAMP = "psych_tiny.json"


def ensure_tiny_model(source: Path = SHIPPED_TRAIN, root: Path | None = None) -> Path:
    """The tiny model's folder (fixed path, so presets can name it), built on first use in
    seconds and rebuilt only when its inputs (the recipe or the corpus) change."""
    texts = _corpus(source)
    key = _cache_key(texts)
    final = tiny_model_dir(root)
    stamp = final / STAMP
    if stamp.exists() and json.loads(stamp.read_text()).get("key") == key:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temp folder and rename: a killed build never leaves a half model behind.
    work = Path(tempfile.mkdtemp(prefix=".tiny-", dir=final.parent))
    try:
        build_tokenizer(texts, work)
        build_model(work)
        (work / STAMP).write_text(json.dumps({"key": key, "corpus": str(source)}) + "\n")
        if final.exists():
            old = final.with_name(f".{TINY_MODEL_DIRNAME}-old-{os.getpid()}")
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
