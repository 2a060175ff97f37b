"""Inter-process locks with flock: the embedded store's path lock and per-agent run locks.

The lock file holds who took it (pid, command, since) so a waiting process can say who
it is waiting for. The kernel releases a flock when its holder dies, so a crashed run
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from muse.errors import StoreLockTimeout

# Who this process is, for the lock files it writes: the muse subcommand (never its
# arguments: a query's SQL text, a path or a value is no one else's business) and its role.
# "agent" while an agent runs (run_agent sets it); anything else is "interactive": a person
# or a script at a prompt (query, health, digest, db ...), whose wait an agent may outlast.
_IDENTITY = {"command": "", "role": "interactive"}


def set_command(command: str) -> None:
    """Name the subcommand this process runs ("muse ingest hearts"), from the CLI."""
    _IDENTITY["command"] = command


def set_role(role: str) -> str:
    """Set this process's role; returns the previous one (to restore)."""
    previous, _IDENTITY["role"] = _IDENTITY["role"], role
    return previous


def current_command() -> str:
    return _IDENTITY["command"] or (Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "?")


class LockHeld(Exception):
    """Raised by a non-blocking acquire when another process holds the lock."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class FileLock:
    def __init__(self, path: Path, *, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def holder_info(self) -> dict:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def holder(self) -> str:
        """A human description of the current holder, from the lock file."""
        info = self.holder_info()
        if not info:
            return "another process"
        role = f", {info['role']}" if info.get("role") else ""
        return f"pid {info.get('pid')} ({info.get('command', '?')}{role}, since {info.get('since', '?')})"

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        info = {
            "pid": os.getpid(),
            "command": current_command(),
            "role": _IDENTITY["role"],
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
        except OSError:
            # A full disk: the lock is held all the same (flock needs no space); the holder
            # text is what is lost, and a waiter says "another process".
            pass
        return True

    def acquire(self, *, timeout: float, on_wait: Callable[[str], None] | None = None) -> None:
        """Wait up to ``timeout`` seconds; raise StoreLockTimeout naming the holder."""
        deadline = time.monotonic() + timeout
        announced = False
        delay = 0.02
        while not self.try_acquire():
            holder = self.holder()
            if not announced:
                announced = True
                if on_wait:
                    on_wait(f"waiting up to {timeout:g}s for {self.what} held by {holder}")
            if time.monotonic() >= deadline:
                info = self.holder_info()
                raise StoreLockTimeout(
                    f"{self.what} at {self.path.parent} is locked by {holder}; gave up after {timeout:g}s",
                    hint="raise store.lock_timeout_seconds, or wait for that run to finish",
                    holder_role=str(info.get("role") or ""),
                    holder_command=str(info.get("command") or ""),
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def acquire_nowait(self) -> None:
        if not self.try_acquire():
            raise LockHeld(self.holder())

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "FileLock":
        self.acquire_nowait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
