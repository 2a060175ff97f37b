"""Helpers several test modules share (conftest.py holds fixtures only; tests never import it)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def muse_cmd() -> list[str]:
    """The installed console script when present, else `python -m muse`."""
    exe = Path(sys.executable).parent / "muse"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "muse"]
