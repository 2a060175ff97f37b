"""Atomic file writes, shared by every agent that leaves a file behind.

A reader (a person, git, the council reading the watcher's status file) sees the old
file or the whole new one, never part of one, and a crash leaves no temp file behind.
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644, fsync_dir: bool = False) -> Path:
    """Write ``text`` to a temp file beside ``path`` with ``mode``, fsync, rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a stale one from a crashed run with this pid
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if fsync_dir:
        sync_dir(path.parent)
    return path


def sync_dir(path: Path) -> None:
    """fsync a directory so a rename or unlink in it survives a power cut (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def disk_usage(path: Path) -> tuple[int, int]:
    """Bytes and entries (files and folders) below ``path``, not following links; a file that
    vanishes during the walk (a merge removing a part) is skipped."""
    files = size = 0
    for root, dirs, names in os.walk(path):
        files += len(names) + len(dirs)
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return size, files
