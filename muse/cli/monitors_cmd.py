"""`muse monitors`: the Datadog monitors of config/monitors.yaml, as code."""

from typing import Annotated, Any, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_table

app = typer.Typer(
    help="Datadog monitors as code (config/monitors.yaml).\n\nExample: muse monitors sync --dry-run",
    no_args_is_help=True,
)


def _short(value: Any, width: int = 60) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _delta(before: Any, after: Any, context: int = 12) -> str:
    """'before -> after', cut down to the part that differs for long strings (queries, messages)."""
    if not (isinstance(before, str) and isinstance(after, str)) or max(len(before), len(after)) <= 40:
        return f"{_short(before, 40)} -> {_short(after, 40)}"
    b, a = " ".join(before.split()), " ".join(after.split())
    p = 0
    while p < min(len(b), len(a)) and b[p] == a[p]:
        p += 1
    q = 0
    while q < min(len(b), len(a)) - p and b[-1 - q] == a[-1 - q]:
        q += 1
    start = max(0, p - context)

    def cut(t: str) -> str:
        end = len(t) - q + min(q, context)
        return ("…" if start else "") + _short(t[start:end], 50) + ("…" if end < len(t) else "")

    return f"{cut(b)} -> {cut(a)}"


@app.command("sync")
def sync_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and validate only; show what would change.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    file: Annotated[
        Optional[str],
        typer.Option(
            "--file", help="Monitor definitions (default: monitors.file, else the shipped config/monitors.yaml)."
        ),
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt", help="Take over a same-named monitor that is not tagged managed-by:muse (it gets the tag)."
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete monitors tagged managed-by:muse that the file "
            "no longer defines. Never touches other monitors.",
        ),
    ] = False,
) -> None:
    """Create or update the Datadog monitors of the file, matched by name (idempotent).

    Shows per monitor: create, update (with the fields that differ), unchanged; a same-named
    monitor muse did not create is a conflict (exit 1) and is left alone. Needs DD_API_KEY
    and DD_APP_KEY; datadog.api_url picks the Datadog site.

    Example: muse monitors sync --dry-run
    """
    from pathlib import Path

    from muse.ops.monitors import sync

    report = sync(
        common.settings(), dry_run=dry_run, adopt=adopt, prune=prune, path=Path(file).expanduser() if file else None
    )
    if as_json:
        print_json(report.as_dict())
    else:
        rows = []
        for c in report.changes:
            if c.action == "create":
                what = "new monitor"
            elif c.diffs and c.action == "update":
                what = "; ".join(f"{d.field}: {_delta(d.before, d.after)}" for d in c.diffs)
            else:
                what = c.note
            rows.append(
                (
                    c.name,
                    ("would " if dry_run and c.action in ("create", "update", "delete") else "") + c.action,
                    c.monitor_id or "",
                    what,
                )
            )
        print_table(
            ["monitor", "action", "id", "changes"],
            rows,
            title=f"{report.source} -> {report.api_url}" + (" (dry run: nothing written)" if dry_run else ""),
        )
        counts = ", ".join(f"{n} {a}" for a, n in sorted(report.counts.items()))
        echo(f"monitors: {counts}" + (" (dry run)" if dry_run else ""))
    if not report.ok:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    file: Annotated[
        Optional[str],
        typer.Option(
            "--file", help="Monitor definitions (default: monitors.file, else the shipped config/monitors.yaml)."
        ),
    ] = None,
) -> None:
    """List the monitors the file defines (checked locally, no network).

    Example: muse monitors list --json
    """
    from pathlib import Path

    import re

    from muse.ops.monitors import definitions_path, load_definitions

    path = Path(file).expanduser() if file else definitions_path(common.settings())
    defs = load_definitions(path)
    if as_json:
        print_json({"source": str(path), "monitors": [d.body() for d in defs]})
        return
    print_table(
        ["name", "type", "query", "notifies", "priority"],
        [
            (d.name, d.type, d.query, " ".join(sorted(set(re.findall(r"@[\w.\-]+", d.message)))), d.priority or "")
            for d in defs
        ],
        title=str(path),
    )
