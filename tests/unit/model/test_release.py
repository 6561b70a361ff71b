"""Parts of a pinned package release, fetched once from a package index (a real one on
127.0.0.1 here), checked by hash, extracted whole or not at all."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from psych_plugin.model import release as rel
from psych_plugin.model.release import Release, extract_release, fetch_release, has_release
from psych_plugin.problems import UsageError

# A stand-in release: an archive with checked files and a tree among others, pinned by hashes.
FILES = {"models/v.gguf": b"GGUF vocabulary", "models/v.gguf.inp": b"Hello"}
TREE = {"tool/convert.py": b"print('convert')\n", "tool/lib/util.py": b"X = 1\n"}
ROOT = "fake_pkg-1.0/vendor/lib"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def release(
    files: dict[str, bytes] = FILES, tree: dict[str, bytes] = TREE
) -> tuple[Release, bytes]:
    members = {"fake_pkg-1.0/README": b"readme", f"{ROOT}/other/skip.txt": b"not used"}
    members |= {f"{ROOT}/{n}": d for n, d in (files | tree).items()}
    data = archive(members)
    source = Release(
        package="Fake_Pkg",
        version="1.0",
        sdist_name="fake_pkg-1.0.tar.gz",
        sdist_sha256=sha(data),
        member_dir=ROOT,
        files={n: sha(d) for n, d in FILES.items()},
        trees=("tool",),
    )
    return source, data


@pytest.fixture
def index(tmp_path):
    """A PEP 503 package index on localhost serving `tmp_path/site`; yields its /simple URL."""
    site = tmp_path / "site"
    site.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def publish(site: Path, source: Release, data: bytes) -> None:
    """The archive under packages/ and the project page (normalised name) linking to it."""
    (site / "packages").mkdir(exist_ok=True)
    (site / "packages" / source.sdist_name).write_bytes(data)
    page = site / "simple" / "fake-pkg"
    page.mkdir(parents=True)
    href = f"../../packages/{source.sdist_name}#sha256={sha(data)}"
    (page / "index.html").write_text(
        f'<html><body><a href="../../packages/fake_pkg-0.9.tar.gz">fake_pkg-0.9.tar.gz</a>'
        f'<a href="{href}" data-requires-python="&gt;=3.8">{source.sdist_name}</a></body></html>'
    )


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_fetch_keeps_the_parts_used_and_not_the_archive(index, tmp_path):
    site, url = index
    source, data = release()
    publish(site, source, data)
    folder = tmp_path / "cache" / "fake"
    assert fetch_release(folder, source, index=url) == folder
    assert listing(folder) == sorted([*FILES, *TREE, rel.STAMP])
    assert all((folder / n).read_bytes() == d for n, d in (FILES | TREE).items())
    (site / "packages" / source.sdist_name).unlink()  # cached now: the index is not asked
    assert fetch_release(folder, source, index=url) == folder
    (folder / "models/v.gguf").write_bytes(b"altered")  # a damaged cache is fetched again
    assert not has_release(folder, source)


def test_fetch_uses_pips_index(index, tmp_path, monkeypatch):
    site, url = index
    source, data = release()
    publish(site, source, data)
    monkeypatch.setenv("PIP_INDEX_URL", url)
    assert rel.index_url() == url
    assert has_release(fetch_release(tmp_path / "v", source), source)


def test_fetch_refuses_an_archive_that_is_not_the_pinned_release(index, tmp_path):
    site, url = index
    source, _ = release()
    publish(site, source, archive({"other/file": b"not the release"}))
    folder = tmp_path / "cache" / "fake"
    with pytest.raises(UsageError, match=r"fake_pkg-1.0.tar.gz: sha256 \w+\.\.\. is not that of"):
        fetch_release(folder, source, index=url)
    assert not folder.exists() and list(folder.parent.iterdir()) == []  # nothing half-fetched


def test_fetch_offline_says_where_to_put_the_archive(tmp_path, monkeypatch):
    source, data = release()

    def no_pip(dest, src):
        raise UsageError("pip download Fake_Pkg==1.0: no network")

    monkeypatch.setattr(rel, "_pip_download", no_pip)
    folder = tmp_path / "fake"
    with pytest.raises(UsageError) as e:
        fetch_release(folder, source, index="http://127.0.0.1:9/simple")  # nothing listens there
    message = str(e.value)
    assert message.startswith("cannot fetch Fake_Pkg==1.0 (") and "no network" in message
    assert message.endswith(
        f"copy fake_pkg-1.0.tar.gz from the package index into {folder}/ and run again"
    )
    folder.mkdir()
    (folder / source.sdist_name).write_bytes(data)  # the user brings the archive
    assert has_release(fetch_release(folder, source, index="http://127.0.0.1:9/simple"), source)
    assert (folder / source.sdist_name).read_bytes() == data  # the user's own file is kept


def test_extract_names_a_missing_or_altered_file_and_writes_nothing(tmp_path):
    source, data = release({"models/v.gguf": b"GGUF vocabulary"})
    (tmp_path / "a.tar.gz").write_bytes(data)
    with pytest.raises(UsageError, match=rf"no {ROOT}/models/v.gguf.inp in the archive"):
        extract_release(tmp_path / "a.tar.gz", tmp_path / "out", source)
    source, data = release({**FILES, "models/v.gguf.inp": b"Hello, altered"})
    (tmp_path / "b.tar.gz").write_bytes(data)
    with pytest.raises(UsageError, match=r"b.tar.gz: models/v.gguf.inp has sha256 \w+\.\.\., not"):
        extract_release(tmp_path / "b.tar.gz", tmp_path / "out", source)
    source, data = release(tree={})
    (tmp_path / "c.tar.gz").write_bytes(data)
    with pytest.raises(UsageError, match=rf"no {ROOT}/tool in the archive"):
        extract_release(tmp_path / "c.tar.gz", tmp_path / "out", source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "b.tar.gz", "c.tar.gz"]


def test_the_pinned_llama_cpp_release_is_in_the_cache_after_the_tiny_build(tiny_model):
    """The real archive (fetched by the session's tiny model): its files and trees are there."""
    folder = rel.release_dir()
    assert has_release(folder)
    assert (folder / "convert_hf_to_gguf.py").is_file()
    assert (folder / "gguf-py" / "gguf" / "__init__.py").is_file()
    assert (folder / "conversion" / "qwen.py").is_file() or any((folder / "conversion").iterdir())
