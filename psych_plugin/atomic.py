"""Atomic file writes: a reader (or a Ctrl-C) never sees half a file.

A file written here gets the permissions any other tool would give it: those of the file it
replaces, else 0666 less the umask (mkstemp's temporary file is 0600, which would lock other
users, a container or a server running as another user out of a shared run folder)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where the kernel says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            found = re.search(r"^Umask:\s*([0-7]+)$", f.read(), re.M)
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (brief, single assignment)
    os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return umask_mode()


def _make_parent(path: Path) -> None:
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():  # mkdir would say "File exists", which misleads
                raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(folder))
            break
    path.parent.mkdir(parents=True, exist_ok=True)


def check_writable(path: Path) -> None:
    """Fail now, with the OSError naming the folder, if `path` could not be written later (a
    file where a folder should be, a missing or read-only folder): a server that takes
    decisions for an hour must not find out at the first one. Creates the folder."""
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    _make_parent(path)
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    # newline="\n" on every platform: the files are data and configs, compared byte for byte.
    write_bytes_atomic(path, text.encode("utf-8"))


def umask_mode() -> int:
    """The mode a new file gets from any tool that honours the umask (0644 under 022)."""
    return 0o666 & ~current_umask()


def temp_folder(parent: Path, prefix: str) -> Path:
    """A new folder in `parent` to build a result in and rename into place; mkdtemp makes it
    0700, which would keep the renamed folder from anyone else: give it the umask's mode."""
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    work.chmod(0o777 & ~current_umask())
    return work


def replace_folder(work: Path, final: Path) -> None:
    """Put the folder built in `work` at `final`, replacing what was there: a reader (or a
    killed build) sees the old folder or the new one, never half of one."""
    if final.exists():
        old = final.with_name(f".{final.name}-old-{os.getpid()}")
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(work, final)


def open_safetensors_to_umask(folder: Path) -> list[Path]:
    """safetensors writes every file 0600 whatever the umask (PEFT's adapter, checkpoints,
    merged shards): give the ones in `folder` (recursively) the umask's mode, as any other
    tool's files have, so a server running as another user can load them. Returns those
    changed; files a user set to another mode are left alone."""
    mode = umask_mode()
    changed = []
    for path in sorted(folder.rglob("*.safetensors")):
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600 and mode != 0o600:
            path.chmod(mode)
            changed.append(path)
    return changed


def write_text_if_changed(path: Path, text: str) -> bool:
    """Write atomically unless the file already holds exactly `text`; returns whether it wrote.
    Hooks that run more than once (or on a resumed run) then leave one unchanged file."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_text_atomic(path, text)
    return True
