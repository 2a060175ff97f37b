"""Locate the shipped sql/, templates/ and config/ folders.

In the wheel they live inside the package (``muse/sql``); in a source checkout they sit
beside ``muse/``. Everything that reads them goes through :func:`resource_path`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

_KINDS = ("sql", "templates", "config")


@lru_cache(maxsize=None)
def resource_path(kind: str) -> Path:
    """Return the folder holding one kind of shipped resource."""
    if kind not in _KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    packaged = Path(str(resources.files("muse"))) / kind
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"muse resource folder {kind!r} not found (broken install?)")


def read_text(kind: str, relative: str) -> str:
    return (resource_path(kind) / relative).read_text(encoding="utf-8")
