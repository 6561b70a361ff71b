"""Atomic writes: the whole file or the old one, and the permissions any other tool would give
(the umask for a new file, the old file's mode for a replaced one), never mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from psych_plugin.atomic import (
    current_umask,
    write_bytes_atomic,
    write_text_atomic,
    write_text_if_changed,
)


@pytest.fixture
def umask():
    """Set a umask for one test and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    write_text_atomic(tmp_path / "new.yml", "a: 1\n")
    write_bytes_atomic(tmp_path / "new.bin", b"\x00")
    assert mode(tmp_path / "new.yml") == expected
    assert mode(tmp_path / "new.bin") == expected


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "card.md"
    path.write_text("old\n")
    path.chmod(0o640)
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert mode(path) == 0o640


def test_no_temporary_file_is_left_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    write_text_atomic(path, "one\n")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_bytes_atomic(path, b"two\n")
    assert path.read_text() == "one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_text_is_utf8_with_unix_newlines(tmp_path):
    path = tmp_path / "t.txt"
    write_text_atomic(path, "é\n")
    assert path.read_bytes() == "é\n".encode()


def test_an_unchanged_file_is_not_rewritten(tmp_path):
    path = tmp_path / "same.json"
    assert write_text_if_changed(path, "{}\n") is True
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert write_text_if_changed(path, "{}\n") is False
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError) as e:
        write_text_atomic(tmp_path / "afile" / "sub" / "out.jsonl", "x")
    assert e.value.filename == str(tmp_path / "afile")
    assert e.value.strerror == "is a file, not a folder"


def test_concurrent_writers_leave_one_complete_file_and_no_temporary(tmp_path):
    """What two ranks racing on one name used to risk: a shared `.tmp` name replaced under the
    other writer. Unique temporary names: every reader sees a whole file, none is left over."""
    import threading

    path = tmp_path / "psych_prompt.json"
    texts = [f"{i}\n" * 20_000 for i in range(8)]
    threads = [threading.Thread(target=write_text_if_changed, args=(path, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in texts
    assert os.listdir(tmp_path) == ["psych_prompt.json"]


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from psych_plugin import atomic

    target = tmp_path / "out.yml"
    target.write_text("original\n")

    def interrupted(_fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "new content\n")
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yml"]


def test_safetensors_files_get_the_umask_mode(tmp_path, umask):
    """safetensors writes 0600 whatever the umask; the run's files are opened to the umask's
    mode, and a file a user chose another mode for is left alone."""
    import torch
    from safetensors.torch import save_file

    from psych_plugin.atomic import open_safetensors_to_umask

    umask(0o022)
    (tmp_path / "checkpoint-5").mkdir()
    for name in ("adapter_model.safetensors", "checkpoint-5/adapter_model.safetensors"):
        save_file({"w": torch.zeros(2)}, str(tmp_path / name))
    assert mode(tmp_path / "adapter_model.safetensors") == 0o600  # what safetensors does
    mine = tmp_path / "private.safetensors"
    save_file({"w": torch.zeros(2)}, str(mine))
    mine.chmod(0o640)
    changed = open_safetensors_to_umask(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in changed] == [
        "adapter_model.safetensors",
        "checkpoint-5/adapter_model.safetensors",
    ]
    assert mode(tmp_path / "checkpoint-5" / "adapter_model.safetensors") == 0o644
    assert mode(mine) == 0o640


def test_check_writable_fails_early_and_leaves_nothing(tmp_path):
    from psych_plugin.atomic import check_writable

    check_writable(tmp_path / "new" / "out.jsonl")
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError):
        check_writable(tmp_path / "afile" / "out.jsonl")
    with pytest.raises(OSError):
        check_writable(Path("/proc/no-such-dir/out.jsonl"))
