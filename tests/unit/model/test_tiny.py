"""The tiny model runs on Qwen3's real tokenizer: llama.cpp's reference tokenizations, Qwen3's
added tokens at their ids, Qwen3-1.7B's vocabulary size and tied embeddings; the vocabulary
files and the GGUF reader the tokenizer rests on (the fetch itself: test_release.py)."""

from __future__ import annotations

import json
import stat
import struct
from pathlib import Path

import pytest

from psych_plugin.atomic import current_umask
from psych_plugin.model import tiny
from psych_plugin.model.tiny import (
    QWEN3_ADDED_TOKENS,
    check_tokenizer,
    read_gguf_metadata,
    reference_tokenizations,
    vocab_dir,
)
from psych_plugin.paths import MODEL_CONFIGS_DIR
from psych_plugin.problems import UsageError

# Qwen3's tokenizer on the example (transformers' own GGUF loader gives the same ids).
EXAMPLE = "Operant conditioning is a learning process."
EXAMPLE_IDS = [5494, 517, 34021, 374, 264, 6832, 1882, 13]


@pytest.fixture(scope="module")
def vocab(tiny_model: Path) -> Path:
    """The vocabulary files the tiny model was built from (fetched by then)."""
    return vocab_dir()


def test_tokenizer_reproduces_every_llama_cpp_reference_tokenization(tiny_tokenizer, vocab):
    cases = reference_tokenizations(vocab)
    assert len(cases) == 46 and ("Hello world", [9707, 1879]) in cases
    assert (
        check_tokenizer(lambda t: tiny_tokenizer.encode(t, add_special_tokens=False), vocab) == []
    )


def test_check_tokenizer_names_each_case_a_tokenizer_gets_wrong(tiny_tokenizer, vocab):
    def off_by_one(text: str) -> list[int]:
        return [i + 1 for i in tiny_tokenizer.encode(text, add_special_tokens=False)]

    wrong = check_tokenizer(off_by_one, vocab)
    assert len(wrong) == 45  # every case but the empty text
    assert wrong[0].startswith("case 1 'ied 4 ½ months': [1123, 221,")


def test_qwen3_added_tokens_ids_and_special_flags(tiny_tokenizer):
    assert tiny_tokenizer(EXAMPLE).input_ids == EXAMPLE_IDS
    assert tiny_tokenizer.decode(EXAMPLE_IDS) == EXAMPLE
    assert len(tiny_tokenizer) == 151_669  # 151,643 regular tokens + 26 added
    assert [i for i, _, _ in QWEN3_ADDED_TOKENS] == list(range(151_643, 151_669))
    for i, text, special in QWEN3_ADDED_TOKENS:
        assert tiny_tokenizer.convert_tokens_to_ids(text) == i
        assert tiny_tokenizer(f"a{text}b").input_ids == [64, i, 65]  # one token, never split
        kept = tiny_tokenizer.decode([64, i], skip_special_tokens=True)
        assert kept == ("a" if special else f"a{text}")  # Qwen3 keeps <think> in answers
    assert (tiny_tokenizer.eos_token, tiny_tokenizer.eos_token_id) == ("<|im_end|>", 151645)
    assert (tiny_tokenizer.pad_token, tiny_tokenizer.pad_token_id) == ("<|endoftext|>", 151643)
    assert tiny_tokenizer.bos_token is None and tiny_tokenizer.unk_token is None
    assert type(tiny_tokenizer).__name__ == "Qwen2Tokenizer"


def test_chat_template_is_axolotls_qwen3(tiny_tokenizer):
    assert tiny_tokenizer.chat_template == tiny.qwen3_chat_template()
    text = tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "Define memory."}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
    assert text == (
        "<|im_start|>user\nDefine memory.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    assert ids[:3] == [151644, 872, 198] and 151667 in ids and 151668 in ids  # user, \n


def test_model_config_has_qwen3_1_7b_vocabulary_and_tied_embeddings(tiny_model):
    from safetensors import safe_open

    ours = json.loads((tiny_model / "config.json").read_text())
    qwen = json.loads((MODEL_CONFIGS_DIR / "Qwen--Qwen3-1.7B.json").read_text())
    for key in ("model_type", "vocab_size", "tie_word_embeddings", "bos_token_id", "eos_token_id"):
        assert ours[key] == qwen[key], key
    assert ours["pad_token_id"] == 151643
    with safe_open(tiny_model / "model.safetensors", "pt") as f:
        assert f.get_slice("model.embed_tokens.weight").get_shape() == [151_936, 64]
        assert "lm_head.weight" not in set(f.keys())  # tied: one matrix
    generation = json.loads((tiny_model / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [151645, 151643]


def test_build_is_deterministic(tiny_model, vocab, tmp_path):
    """A second build, from the same files, writes the same bytes as the session's."""
    tiny.build_tokenizer(vocab, tmp_path)
    tiny.build_model(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"):
        assert (tmp_path / name).read_bytes() == (tiny_model / name).read_bytes(), name


def test_the_built_model_gets_the_umasks_permissions(tiny_model):
    """Another user (a server, a container) can read the cached model: the folder is not
    mkdtemp's 0700 and the weights are not safetensors' 0600."""
    mode = 0o666 & ~current_umask()
    assert stat.S_IMODE(tiny_model.stat().st_mode) == 0o777 & ~current_umask()
    for path in tiny_model.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


def test_a_cached_model_is_not_rebuilt(tiny_model, monkeypatch):
    monkeypatch.setattr(tiny, "build_model", lambda out: pytest.fail("rebuilt"))
    monkeypatch.setattr(tiny, "fetch_vocab", lambda: pytest.fail("fetched"))
    assert tiny.ensure_tiny_model(root=tiny_model.parent) == tiny_model


def test_read_gguf_metadata_of_the_vocabulary(vocab):
    meta = read_gguf_metadata(vocab / tiny.VOCAB_GGUF)
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == ("gpt2", "qwen2")
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == 151_936 and tokens[5494] == "Oper" and tokens[220] == "Ġ"
    assert len(meta["tokenizer.ggml.merges"]) == 151_387
    assert meta["tokenizer.ggml.merges"][0] == "Ġ Ġ"
    assert meta["tokenizer.ggml.token_type"][151643:151646] == [3, 3, 3]  # control tokens
    assert meta["qwen2.context_length"] == 32768


def test_read_gguf_metadata_reads_what_the_gguf_package_writes(tmp_path):
    """Every value type, written by the reference implementation (ggml's gguf package)."""
    import gguf

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_uint8("u8", 200)
    writer.add_int8("i8", -3)
    writer.add_uint16("u16", 60000)
    writer.add_int16("i16", -30000)
    writer.add_uint32("u32", 4_000_000_000)
    writer.add_int32("i32", -2_000_000_000)
    writer.add_float32("f32", 0.5)
    writer.add_uint64("u64", 2**40)
    writer.add_int64("i64", -(2**40))
    writer.add_float64("f64", 0.25)
    writer.add_bool("yes", True)
    writer.add_string("s", "Ġhé")
    writer.add_array("ints", [1, -2, 3])
    writer.add_array("strs", ["a", "", "ü"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    meta = read_gguf_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert [meta[k] for k in ("u8", "i8", "u16", "i16", "u32", "i32", "f32")] == [
        200,
        -3,
        60000,
        -30000,
        4_000_000_000,
        -2_000_000_000,
        0.5,
    ]
    assert [meta[k] for k in ("u64", "i64", "f64", "yes", "s")] == [
        2**40,
        -(2**40),
        0.25,
        True,
        "Ġhé",
    ]
    assert meta["ints"] == [1, -2, 3] and meta["strs"] == ["a", "", "ü"]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"PK\x03\x04 a zip file", "no GGUF magic number"),
        (b"GGUF" + struct.pack("<I", 1), "GGUF version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 50) + b"key", "unpack"),
    ],
)
def test_read_gguf_metadata_refuses_what_is_not_gguf(tmp_path, data, why):
    path = tmp_path / "v.gguf"
    path.write_bytes(data)
    with pytest.raises(UsageError, match=rf"^{path}: not a readable GGUF file \(.*{why}"):
        read_gguf_metadata(path)
