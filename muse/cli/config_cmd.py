"""`muse config`: the effective settings and their validation."""

from typing import Annotated

import typer

from muse.cli import common
from muse.cli.output import echo, err, print_json, print_table

app = typer.Typer(
    help="Show and validate the effective configuration.\n\nExample: muse config show", no_args_is_help=True
)


@app.command("show")
def show_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print every setting with its value and where it came from; secrets are masked.

    Example: muse config show --json
    """
    s = common.settings(strict=False)
    masked = s.masked()
    if as_json:
        print_json(
            {"config_file": str(s.config_file) if s.config_file else None, "settings": masked, "sources": s.sources}
        )
        return
    echo(f"config file: {s.config_file or '(none)'}")
    print_table(["key", "value", "source"], [(k, v, s.sources[k]) for k, v in masked.items()])
    for p in s.problems:
        err(f"invalid: {p}")


@app.command("validate")
def validate_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Check the config file and environment; list each invalid key with its path and why.

    Exit 0 when valid, 2 when any key is invalid.

    Example: muse --config /etc/muse/muse.yaml config validate
    """
    s = common.settings(strict=False)
    if as_json:
        print_json(
            {
                "config_file": str(s.config_file) if s.config_file else None,
                "valid": not s.problems,
                "problems": [{"path": p.path, "reason": p.reason, "source": p.source} for p in s.problems],
            }
        )
    else:
        for p in s.problems:
            echo(f"invalid {p}")
        if not s.problems:
            echo(f"config valid ({s.config_file or 'no config file; defaults and environment'})")
    if s.problems:
        raise typer.Exit(2)
