"""Files taken out of one pinned package release on the package index, never a model hub.

llama.cpp keeps Qwen2's tokenizer vocabulary (with reference tokenizations) and its own GGUF
converter in its repository, and the `llama-cpp-python` source distribution on PyPI vendors that
repository. The tiny model's tokenizer and `psych export` both come from that one archive, pinned
by its sha256: it is fetched once, the parts used are extracted into the cache, the archive is not
kept.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..atomic import replace_folder, temp_folder
from ..paths import cache_dir
from ..problems import UsageError

PYPI_SIMPLE = "https://pypi.org/simple"
STAMP = ".release.json"


@dataclass(frozen=True)
class Release:
    """A package release on the index and the parts of its source archive that are used.

    `files` are checked one by one against their sha256 (data the project depends on byte for
    byte); `trees` (folders or files) are taken whole, pinned by the archive's own hash."""

    package: str
    version: str
    sdist_name: str
    sdist_sha256: str
    member_dir: str  # the parts' root inside the archive
    files: Mapping[str, str]  # path under member_dir -> sha256
    trees: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


# llama.cpp as llama-cpp-python 0.3.36 vendors it: Qwen2's BPE vocabulary with llama.cpp's
# reference tokenizations of it, and the HF-to-GGUF converter with its own gguf-py.
LLAMA_CPP = Release(
    package="llama-cpp-python",
    version="0.3.36",
    sdist_name="llama_cpp_python-0.3.36.tar.gz",
    sdist_sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
    member_dir="llama_cpp_python-0.3.36/vendor/llama.cpp",
    files={
        "models/ggml-vocab-qwen2.gguf": (
            "44c2f46b715f585c6ab513970e8a006bfa5badd6108560054921cf598d154d8c"
        ),
        "models/ggml-vocab-qwen2.gguf.inp": (
            "be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0"
        ),
        "models/ggml-vocab-qwen2.gguf.out": (
            "de785bb305cc6fa9d43908ed5da337f853c0b79e971348fcfb9f0915a39c5363"
        ),
    },
    trees=("LICENSE", "convert_hf_to_gguf.py", "conversion", "gguf-py/gguf"),
)


def release_dir(release: Release = LLAMA_CPP) -> Path:
    """Where the release's parts live in the cache (shared by every tiny-model folder and every
    export, so nothing is fetched twice)."""
    return cache_dir() / f"{release.package}-{release.version}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def has_release(folder: Path, release: Release = LLAMA_CPP) -> bool:
    """`folder` holds every file of `release` byte for byte, and its trees came whole from the
    pinned archive (the stamp is written last)."""
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp == {"sdist_sha256": release.sdist_sha256, "trees": list(release.trees)} and all(
        (folder / name).is_file() and sha256_file(folder / name) == digest
        for name, digest in release.files.items()
    )


def _in_trees(name: str, release: Release) -> str | None:
    prefix = release.member_dir + "/"
    if not name.startswith(prefix):
        return None
    rel = name[len(prefix) :]
    if rel in release.files or any(rel == t or rel.startswith(t + "/") for t in release.trees):
        return rel
    return None


def extract_release(sdist: Path, folder: Path, release: Release = LLAMA_CPP) -> None:
    """Take the release's parts out of its source archive into `folder`, replacing it whole
    (a killed extraction leaves the old folder or none, never half of one)."""
    digest = sha256_file(sdist)
    if digest != release.sdist_sha256:
        raise UsageError(
            f"{sdist}: sha256 {digest[:12]}... is not that of {release.requirement}'s "
            f"{release.sdist_name} ({release.sdist_sha256[:12]}...): refusing an unknown file"
        )
    work = temp_folder(folder.parent, f".{folder.name}-")
    try:
        found: set[str] = set()
        try:
            with tarfile.open(sdist, "r:gz") as tar:
                for member in tar:
                    rel = _in_trees(member.name, release)
                    if rel is None or not member.isfile() or ".." in Path(rel).parts:
                        continue
                    f = tar.extractfile(member)
                    if f is None:
                        continue
                    dest = work / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(f, out)
                    found.add(rel)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise UsageError(f"{sdist}: not a readable source archive ({e})") from e
        for name, want in release.files.items():
            if name not in found:
                raise UsageError(f"{sdist}: no {release.member_dir}/{name} in the archive")
            got = sha256_file(work / name)
            if got != want:
                raise UsageError(f"{sdist}: {name} has sha256 {got[:12]}..., not {want[:12]}...")
        for tree in release.trees:
            if not any(rel == tree or rel.startswith(tree + "/") for rel in found):
                raise UsageError(f"{sdist}: no {release.member_dir}/{tree} in the archive")
        stamp = {"sdist_sha256": release.sdist_sha256, "trees": list(release.trees)}
        (work / STAMP).write_text(json.dumps(stamp) + "\n", encoding="utf-8")
        replace_folder(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def index_url() -> str:
    """The package index pip uses here: PIP_INDEX_URL, else pip's configured index-url, else
    PyPI."""
    if env := os.environ.get("PIP_INDEX_URL"):
        return env
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else PYPI_SIMPLE


def sdist_url(index: str, release: Release = LLAMA_CPP) -> str:
    """The archive's address on the index's project page (PEP 503 simple API)."""
    name = re.sub(r"[-_.]+", "-", release.package).lower()
    page = f"{index.rstrip('/')}/{name}/"
    with urllib.request.urlopen(page, timeout=60) as r:
        text = r.read().decode("utf-8", "replace")
    for href in re.findall(r"""href=["']([^"']+)["']""", text):
        url = urllib.parse.urljoin(page, html.unescape(href))
        if urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] == release.sdist_name:
            return url.split("#", 1)[0]
    raise UsageError(f"{page}: no {release.sdist_name} on the index")


def _download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=120) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f, 1 << 20)


def _pip_download(dest: Path, release: Release) -> Path:
    """pip's own download (its index, proxy and credentials); slower: pip prepares the source
    archive's metadata with its build dependencies."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        + ["--disable-pip-version-check", "-q", "-d", str(dest), release.requirement],
        capture_output=True,
        text=True,
    )
    got = dest / release.sdist_name
    if done.returncode != 0 or not got.is_file():
        why = (done.stderr.strip().splitlines() or ["no archive written"])[-1]
        raise UsageError(f"pip download {release.requirement}: {why}")
    return got


def fetch_release(
    folder: Path | None = None, release: Release = LLAMA_CPP, index: str | None = None
) -> Path:
    """The release's parts in `folder` (default: the cache), fetched once from the package index
    when absent. Offline, put the archive in that folder first: it is used and left there."""
    folder = folder or release_dir(release)
    if has_release(folder, release):
        return folder
    own = folder / release.sdist_name  # a user's copy, brought to an offline machine
    if own.is_file():
        with tempfile.TemporaryDirectory(prefix=".own-", dir=folder.parent) as tmp:
            keep = Path(tmp) / release.sdist_name
            shutil.copy2(own, keep)
            extract_release(keep, folder, release)
            shutil.copy2(keep, own)  # the user's file stays where they put it
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder.parent) as tmp:
        sdist = Path(tmp) / release.sdist_name
        # The archive straight from the index takes under a second; `pip download` of a source
        # archive takes a minute or more (it builds metadata), so it is the fallback.
        try:
            _download(sdist_url(index or index_url(), release), sdist)
        except (OSError, UsageError) as direct:
            try:
                sdist = _pip_download(Path(tmp), release)
            except UsageError as e:
                raise UsageError(
                    f"cannot fetch {release.requirement} ({direct}; {e}): with no network, copy "
                    f"{release.sdist_name} from the package index into {folder}/ and run again"
                ) from e
        extract_release(sdist, folder, release)
    return folder
