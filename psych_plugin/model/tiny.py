"""The embedded tiny model: a Qwen3-architecture causal LM with random weights on Qwen3's real
tokenizer, built locally and deterministically.

It lets the whole pipeline (Axolotl preprocessing, LoRA/QLoRA training, inference, evaluation)
run on a CPU with no hub access. Its weights say nothing about answer quality, but every token
count it gives (`psych lint --sequence-len`, packing, the memory estimate, the benchmarks) is
Qwen3's: the tokenizer is Qwen's byte-level BPE (151,643 regular tokens and their 151,387
merges), Qwen3's added tokens at their real ids, Qwen3's chat template (Axolotl's `qwen3`).

No model hub ships that vocabulary here, a package registry does: llama.cpp keeps it for its
tokenizer tests (`ggml-vocab-qwen2.gguf`, with reference tokenizations next to it) and the
`llama-cpp-python` source distribution on PyPI vendors llama.cpp (`release.py` fetches it once);
the build checks the tokenizer against every reference tokenization before saving it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path
from typing import Any

from ..atomic import open_safetensors_to_umask, replace_folder, temp_folder
from ..paths import tiny_model_dir
from ..problems import UsageError
from .release import LLAMA_CPP, fetch_release, release_dir

__all__ = ["ensure_tiny_model", "tiny_model_dir"]

BUILD_VERSION = 3  # bump when the recipe below changes, so caches rebuild
SEED = 0
INIT_STD = 0.2
# Embedding rows, as Qwen3-1.7B has them (resources/model_configs): the tokenizer's 151,669
# tokens padded to a multiple of 128; the rows past the tokenizer are never produced by it.
VOCAB_SIZE = 151_936
MODEL_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
}

# Qwen3's added tokens (its tokenizer_config.json `added_tokens_decoder`, the same for every
# Qwen3 model): id, text, special. Special ones are dropped by decode(skip_special_tokens=True);
# Qwen3 marks the tool, fill-in-the-middle and think tags as not special, so they survive it.
QWEN3_ADDED_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
    (151665, "<tool_response>", False),
    (151666, "</tool_response>", False),
    (151667, "<think>", False),
    (151668, "</think>", False),
)
REGULAR_TOKENS = 151_643
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
# Qwen2/Qwen3's pre-tokenizer regex (its tokenizer.json; llama.cpp's "qwen2" pre-tokenizer).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


VOCAB_GGUF = "ggml-vocab-qwen2.gguf"
REFERENCE_INPUTS = VOCAB_GGUF + ".inp"
REFERENCE_OUTPUTS = VOCAB_GGUF + ".out"
VOCAB_SUBDIR = "models"  # where llama.cpp keeps its tokenizer test files
# llama.cpp's test files: inputs separated by this line, one line of space-separated ids each.
REFERENCE_SEPARATOR = "\n__ggml_vocab_test__\n"


def vocab_dir() -> Path:
    """The vocabulary files in the cache (shared by every tiny-model folder, so a test's
    temporary build does not fetch again)."""
    return release_dir(LLAMA_CPP) / VOCAB_SUBDIR


def fetch_vocab() -> Path:
    """The vocabulary files, fetched once from the package index with the rest of the pinned
    llama.cpp release (psych_plugin.model.release)."""
    return fetch_release(release=LLAMA_CPP) / VOCAB_SUBDIR


# GGUF value types (ggml's gguf.h): the struct format of each fixed-size one.
_GGUF_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """The key-value metadata of a GGUF file (version 2 or 3, little-endian), tensors left
    out. gguf.GGUFReader does the same but takes half a minute over a 151,936-token array."""
    data = memoryview(path.read_bytes())

    def string(pos: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", data, pos)
        return bytes(data[pos + 8 : pos + 8 + n]).decode("utf-8"), pos + 8 + n

    def value(kind: int, pos: int) -> tuple[Any, int]:
        if kind == _GGUF_STRING:
            return string(pos)
        if kind == _GGUF_ARRAY:
            sub, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            items = []
            if sub == _GGUF_STRING:
                for _ in range(count):
                    item, pos = string(pos)
                    items.append(item)
                return items, pos
            fmt = _GGUF_SCALARS[sub]
            end = pos + struct.calcsize(fmt) * count
            return [v for (v,) in struct.iter_unpack(fmt, data[pos:end])], end
        fmt = _GGUF_SCALARS[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + struct.calcsize(fmt)

    try:
        if bytes(data[:4]) != b"GGUF":
            raise ValueError("no GGUF magic number")
        (version,) = struct.unpack_from("<I", data, 4)
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version}, not 2 or 3")
        _tensors, n_kv = struct.unpack_from("<QQ", data, 8)
        pos, meta = 24, {}
        for _ in range(n_kv):
            key, pos = string(pos)
            (kind,) = struct.unpack_from("<I", data, pos)
            meta[key], pos = value(kind, pos + 4)
    except (ValueError, KeyError, struct.error, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a readable GGUF file ({e})") from e
    return meta


def reference_tokenizations(folder: Path) -> list[tuple[str, list[int]]]:
    """llama.cpp's reference tokenizations of Qwen2's vocabulary (what its test-tokenizer-0
    checks): each input text with the ids Qwen's own tokenizer gives it."""
    raw = (folder / REFERENCE_INPUTS).read_bytes().decode("utf-8")  # no newline translation
    texts = raw.split(REFERENCE_SEPARATOR)
    if texts and texts[-1] == "":  # the file ends with a separator
        texts.pop()
    lines = (folder / REFERENCE_OUTPUTS).read_text(encoding="ascii").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(texts) != len(lines):
        raise UsageError(
            f"{folder / REFERENCE_OUTPUTS}: {len(lines)} lines for {len(texts)} inputs"
        )
    return [(text, [int(i) for i in line.split()]) for text, line in zip(texts, lines, strict=True)]


def qwen3_chat_template() -> str:
    """Qwen3's own chat template, as Axolotl ships it (think blocks, enable_thinking)."""
    from axolotl.utils.chat_templates import get_chat_template

    return get_chat_template("qwen3")


def qwen3_tokenizer(folder: Path) -> Any:
    """Qwen3's tokenizer (a `tokenizers.Tokenizer`) from the GGUF vocabulary in `folder`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre

    gguf = folder / VOCAB_GGUF
    meta = read_gguf_metadata(gguf)
    tokens = meta.get("tokenizer.ggml.tokens", [])
    types = meta.get("tokenizer.ggml.token_type", [])
    merges = meta.get("tokenizer.ggml.merges", [])
    kind = (meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre"))
    # Regular (type 1) tokens first, then the control tokens Qwen3 also has at those ids.
    if (
        kind != ("gpt2", "qwen2")
        or len(tokens) < REGULAR_TOKENS + 3
        or any(t != 1 for t in types[:REGULAR_TOKENS])
        or tokens[REGULAR_TOKENS : REGULAR_TOKENS + 3] != [t for _, t, _ in QWEN3_ADDED_TOKENS[:3]]
    ):
        raise UsageError(f"{gguf}: not Qwen2's BPE vocabulary ({kind}, {len(tokens)} tokens)")
    model = models.BPE(
        vocab={t: i for i, t in enumerate(tokens[:REGULAR_TOKENS])},
        merges=[tuple(m.split(" ", 1)) for m in merges],
        dropout=None,
        unk_token=None,
        continuing_subword_prefix="",
        end_of_word_suffix="",
        fuse_unk=False,
        byte_fallback=False,
        ignore_merges=False,
    )
    # The pipeline of Qwen3's tokenizer.json: NFC, the Qwen2 split, then bytes to characters.
    tok = Tokenizer(model)
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre.Sequence(
        [
            pre.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(
        add_prefix_space=False, trim_offsets=False, use_regex=False
    )
    tok.add_tokens(
        [
            AddedToken(text, special=special, normalized=False)
            for _, text, special in QWEN3_ADDED_TOKENS
        ]
    )
    for i, text, _ in QWEN3_ADDED_TOKENS:
        if tok.token_to_id(text) != i:
            raise UsageError(f"{gguf}: {text} would get id {tok.token_to_id(text)}, not {i}")
    return tok


def check_tokenizer(encode: Any, folder: Path) -> list[str]:
    """Where `encode` (text -> ids, no special tokens added) differs from llama.cpp's reference
    tokenizations in `folder`: one line per differing case, empty when all agree."""
    wrong = []
    for n, (text, want) in enumerate(reference_tokenizations(folder), 1):
        got = list(encode(text))
        if got != want:
            wrong.append(f"case {n} {text[:40]!r}: {got[:12]} instead of {want[:12]}")
    return wrong


def tokenizer_config() -> dict[str, Any]:
    """Qwen3's tokenizer_config.json, with the tiny model's context length."""
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {
                "content": text,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": special,
            }
            for i, text, special in QWEN3_ADDED_TOKENS
        },
        # Qwen3's list: the ChatML and vision markers (the last special one is <|video_pad|>).
        "additional_special_tokens": [t for _, t, s in QWEN3_ADDED_TOKENS[1:] if s],
        "bos_token": None,
        "chat_template": qwen3_chat_template(),
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": MODEL_SHAPE["max_position_embeddings"],
        "pad_token": PAD_TOKEN,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def build_tokenizer(vocab: Path, out_dir: Path) -> None:
    """tokenizer.json and tokenizer_config.json in `out_dir`, checked against every reference
    tokenization before they are written."""
    tok = qwen3_tokenizer(vocab)
    wrong = check_tokenizer(lambda t: tok.encode(t, add_special_tokens=False).ids, vocab)
    if wrong:
        raise UsageError(f"{vocab}: the tokenizer differs from llama.cpp's reference: {wrong[0]}")
    tok.save(str(out_dir / "tokenizer.json"), pretty=False)  # compact: it loads faster
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def build_model(out_dir: Path) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    # The ids Qwen3's config and generation config name (fixed by QWEN3_ADDED_TOKENS; the
    # tokenizer is not loaded for them: a 151k-token tokenizer takes seconds to load).
    ids = {text: i for i, text, _ in QWEN3_ADDED_TOKENS}
    bos = pad = ids[PAD_TOKEN]
    eos = ids[EOS_TOKEN]
    config = Qwen3Config(
        vocab_size=VOCAB_SIZE,
        tie_word_embeddings=True,  # as Qwen3-1.7B: one 151,936-row matrix, not two
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        torch_dtype="float32",
        # Wider than the usual 0.02: with frozen tied embeddings of std 0.02 a 64-wide model can
        # barely move its logits, and the LoRA demo could not show that it learns.
        initializer_range=INIT_STD,
        **MODEL_SHAPE,
    )
    torch.manual_seed(SEED)
    model = Qwen3ForCausalLM(config)
    model.generation_config.bos_token_id = bos
    model.generation_config.pad_token_id = pad
    model.generation_config.eos_token_id = [eos, pad]  # as Qwen3's: either end marker stops
    model.save_pretrained(out_dir, safe_serialization=True)


STAMP = "psych_tiny.json"


def _cache_key() -> str:
    recipe = f"v{BUILD_VERSION}:{VOCAB_SIZE}:{INIT_STD}:{sorted(MODEL_SHAPE.items())}"
    vocab = sorted(LLAMA_CPP.files.items())
    return hashlib.sha256(f"{recipe}:{vocab}".encode()).hexdigest()[:12]


def ensure_tiny_model(root: Path | None = None, vocab: Path | None = None) -> Path:
    """The tiny model's folder (fixed path, so presets can name it), built on first use in
    seconds and rebuilt only when the recipe changes. The vocabulary is fetched into `vocab`
    (default: the cache) the first time."""
    key = _cache_key()
    final = tiny_model_dir(root)
    stamp = final / STAMP
    if stamp.exists() and json.loads(stamp.read_text()).get("key") == key:
        return final
    vocab = vocab or fetch_vocab()
    # Build in a temp folder and rename: a killed build never leaves a half model behind.
    work = temp_folder(final.parent, ".tiny-")
    try:
        build_tokenizer(vocab, work)
        build_model(work)
        open_safetensors_to_umask(work)
        (work / STAMP).write_text(json.dumps({"key": key, "vocab": str(vocab)}) + "\n")
        replace_folder(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
