"""Rendering for the CLI: Rich on a TTY, plain lines in a pipe or under cron, JSON on request.

Results go to stdout; everything else (progress, warnings, errors) to stderr. Under
``--log-format json`` every line is one JSON object: results have ``kind: "result"`` (a
table row as ``row``, a JSON document as ``data``, a line of text as ``message``).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Sequence


def stdout_is_tty() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _console(stderr: bool = False):  # -> rich.console.Console (rich is imported lazily)
    from rich.console import Console

    tty = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, no_color=not tty or "NO_COLOR" in os.environ, highlight=False, soft_wrap=not tty)


def scrub(text: str) -> str:
    from muse.logs import scrub as _scrub

    return _scrub(text)


def safe(text: str) -> str:
    """Escape what a terminal would act on (ANSI escapes, other controls, bidi overrides);
    newlines and tabs stay: text muse writes may have several lines."""
    from muse.logs import terminal_text

    return terminal_text(text)


def _json_mode() -> bool:
    from muse.logs import json_mode

    return json_mode()


def _emit_json(stream: Any, level: str, kind: str, message: str, **fields: Any) -> None:
    from muse.logs import json_line

    if "data" in fields or "row" in fields:
        import json

        # Scrub secrets inside structured results too (the text form of the values).
        fields = json.loads(scrub(json.dumps(fields, default=str, ensure_ascii=False)))
    stream.write(json_line(level, kind, message, **fields) + "\n")
    stream.flush()


def echo(text: str = "") -> None:
    if _json_mode():
        _emit_json(sys.stdout, "info", "result", text)
        return
    sys.stdout.write(safe(scrub(text)) + "\n")
    sys.stdout.flush()


def err(text: str, *, level: str | None = None) -> None:
    if _json_mode():
        _emit_json(sys.stderr, level or ("error" if text.startswith("Error") else "warning"), "log", text)
        return
    sys.stderr.write(safe(scrub(text)) + "\n")
    sys.stderr.flush()


def print_json(data: Any, *, level: str = "info", message: str = "") -> None:
    import json

    if _json_mode():
        _emit_json(sys.stdout, level, "result", message, data=data)
        return
    echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _cell(value: Any) -> str:
    """A table cell on one line: a newline, tab or ANSI escape in a value is shown escaped."""
    from muse.logs import terminal_safe

    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, default=str)
    return terminal_safe(str(value))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A Rich table on a TTY; tab-separated lines with a header otherwise."""
    if _json_mode():
        for r in rows:
            _emit_json(sys.stdout, "info", "result", title or "", row=dict(zip(columns, r)))
        return
    rows = [[_cell(v) for v in r] for r in rows]
    if stdout_is_tty():
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for c in columns:
            table.add_column(escape(_cell(c)), overflow="fold")
        for r in rows:
            table.add_row(*[escape(scrub(v)) for v in r])
        _console().print(table)
        return
    if title:
        echo(f"# {title}")
    echo("\t".join(_cell(c) for c in columns))
    for r in rows:
        echo("\t".join(r))


def print_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    import csv
    import io

    if _json_mode():
        print_table(columns, rows)
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(v) for v in r])
    sys.stdout.write(scrub(buf.getvalue()))
    sys.stdout.flush()


def print_kv(pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    print_table(["key", "value"], [(k, v) for k, v in pairs], title=title)


def print_markdown(text: str) -> None:
    if stdout_is_tty() and not _json_mode():
        from rich.markdown import Markdown

        _console().print(Markdown(text))
    else:
        echo(text)
