"""Logging that knows whether it runs on a TTY or under cron.

Logs go to stderr, results to stdout. On a TTY: Rich; under cron or a pipe: plain lines
without colour, or JSON lines with ``--log-format json``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_SECRETS: list[str] = []


def register_secrets(values: list[str]) -> None:
    """Values that must never reach a log line or an output (masked when seen)."""
    for v in values:
        if v and len(v) >= 4 and v not in _SECRETS:
            _SECRETS.append(v)


def scrub(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "********")
    return text


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = scrub(record.getMessage())
            record.args = ()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure(fmt: str = "auto", *, debug: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger("muse")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if fmt == "auto":
        fmt = "rich" if sys.stderr.isatty() else "plain"
    handler: logging.Handler
    if fmt == "rich":
        from rich.logging import RichHandler

        handler = RichHandler(show_path=debug, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter() if fmt == "json" else
                             logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(_ScrubFilter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
