"""Logging that knows whether it runs on a TTY or under cron.

Logs go to stderr, results to stdout. On a TTY: Rich; under cron or a pipe: plain lines
without colour, or JSON lines with ``--log-format json``. In JSON mode every line muse
writes, to either stream, is one JSON object: logs (``kind: "log"``), results (``kind:
"result"``, see muse.cli.output) and the final error (``kind: "error"``, level error), so a
log shipper reading ``>> log 2>&1`` never meets a line it cannot parse.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

_SECRETS: list[str] = []
_STATE = {"format": "plain"}


def json_mode() -> bool:
    """Whether output is JSON lines (--log-format json, MUSE_LOG_FORMAT or log.format)."""
    return _STATE["format"] == "json"


def current_format() -> str:
    return _STATE["format"]


def json_line(level: str, kind: str, message: str, **fields: object) -> str:
    """One JSON object (one line) in the shape of the log lines."""
    doc: dict[str, object] = {
        "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": level,
        "kind": kind,
        "logger": "muse",
        "message": scrub(message),
    }
    doc.update(fields)
    return json.dumps(doc, default=str, ensure_ascii=False)


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


# Characters a terminal or a log shipper acts on rather than shows: C0 controls (newline,
# escape, ...), DEL, C1 controls, and the bidi overrides/isolates that reorder what is shown.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")


def terminal_safe(text: str) -> str:
    """One line a terminal or a log shows as written: a name's newline appears as ``\\n``, an
    ANSI escape as ``\\x1b``, a bidi override as ``\\u202e`` (a backslash is doubled only
    when something else needed escaping, so plain names stay as they are)."""
    if not _UNSAFE_LINE.search(text):
        return text
    return "".join(_escape_char(ch) if ch == "\\" or _UNSAFE_LINE.match(ch) else ch for ch in text)


def terminal_text(text: str) -> str:
    """Like :func:`terminal_safe` but keeps newlines and tabs (multi-line output muse wrote)."""
    if not _UNSAFE_TEXT.search(text):
        return text
    return _UNSAFE_TEXT.sub(lambda m: _escape_char(m.group(0)), text)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # One record, one line, whatever names it carries (tracebacks are formatted apart).
        record.msg = terminal_safe(scrub(record.getMessage()))
        record.args = ()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "kind": "log",
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            doc["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


class _OneLineFormatter(logging.Formatter):
    """Plain lines for other libraries' records: the message, no traceback unless --debug."""

    def __init__(self, fmt: str, datefmt: str, debug: bool) -> None:
        super().__init__(fmt, datefmt)
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        if not self.debug and record.exc_info:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def configure(fmt: str = "auto", *, debug: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger("muse")
    for old in list(root.handlers):
        root.removeHandler(old)
    if fmt == "auto":
        fmt = "rich" if sys.stderr.isatty() else "plain"
    _STATE["format"] = fmt
    _configure_libraries(fmt, debug)
    handler: logging.Handler
    if fmt == "rich":
        from rich.logging import RichHandler

        handler = RichHandler(show_path=debug, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            _JsonFormatter()
            if fmt == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
        )
    handler.addFilter(_ScrubFilter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def _configure_libraries(fmt: str, debug: bool) -> None:
    """Other libraries' log records (clickhouse-driver logs a traceback per failed connect
    attempt; muse already says the same in one line) go through the same format, one line
    each, warnings and worse only; tracebacks only with --debug."""
    top = logging.getLogger()
    for handler in [h for h in top.handlers if getattr(h, "_muse", False)]:
        top.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _JsonFormatter()
        if fmt == "json"
        else _OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z", debug)
    )
    handler.addFilter(_ScrubFilter())
    handler._muse = True  # type: ignore[attr-defined]
    top.addHandler(handler)
    top.setLevel(logging.DEBUG if debug else logging.WARNING)
    # A refused connection is retried and reported by muse.store; the driver's own record
    # of each attempt is noise unless debugging.
    logging.getLogger("clickhouse_driver").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.captureWarnings(True)
