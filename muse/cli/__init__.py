"""The `muse` command line: parse, call a library function, render, pick the exit code.

Heavy libraries (chdb, clickhouse_driver, git, deepl, datadog, httpx, jinja2) are imported
inside the commands that need them, so `muse --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from muse import __version__
from muse.cli import common
from muse.cli.output import err
from muse.errors import ExitCode, MuseError


class MuseGroup(TyperGroup):
    """Turns expected errors into `Error: ...` and their exit code, in one place."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except MuseError as exc:
            from muse.logs import json_mode, scrub, terminal_safe

            if json_mode():
                # One line a log shipper can parse: the error, its hint and the exit code.
                from muse.logs import json_line

                import sys

                sys.stderr.write(
                    json_line("error", "error", exc.message, hint=scrub(exc.hint or ""), exit_code=int(exc.exit_code))
                    + "\n"
                )
                if common.debug_enabled():
                    import traceback

                    err(scrub("".join(traceback.format_exception(exc))), level="debug")
                raise typer.Exit(int(exc.exit_code)) from None
            # One line each, whatever a name in the message holds (newlines, ANSI escapes).
            err(f"Error: {terminal_safe(scrub(exc.message))}")
            if exc.hint:
                err(f"Hint: {terminal_safe(scrub(exc.hint))}")
            if common.debug_enabled():
                import traceback

                err(scrub("".join(traceback.format_exception(exc))))
            elif exc.exit_code not in (ExitCode.USAGE,):
                err("(run with --debug for a traceback)", level="info")
            raise typer.Exit(int(exc.exit_code)) from None
        except (typer.Exit, typer.Abort, typer.TyperException) as exc:
            from typer._click.exceptions import UsageError as ClickUsageError

            if isinstance(exc, ClickUsageError) and _json():
                # Under --log-format json even a bad argument is one JSON line (exit 2).
                import sys

                from muse.logs import json_line

                sys.stderr.write(json_line("error", "error", exc.format_message(), exit_code=int(exc.exit_code)) + "\n")
                raise typer.Exit(int(exc.exit_code)) from None
            raise
        except BrokenPipeError:
            # `muse query ... | head`: the reader left. Click silences the pipe and exits 1.
            raise
        except KeyboardInterrupt:
            err("Interrupted.", level="error")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
            from muse.logs import scrub, terminal_safe

            if common.debug_enabled():
                import traceback

                err(scrub("".join(traceback.format_exception(exc))))
            err(f"Error: unexpected {type(exc).__name__}: {terminal_safe(scrub(str(exc)))}")
            if not common.debug_enabled() and not _json():
                err("(run with --debug for a traceback)")
            raise typer.Exit(int(ExitCode.FAILED)) from None


def _json() -> bool:
    from muse.logs import json_mode

    return json_mode()


app = typer.Typer(
    cls=MuseGroup,
    name="muse",
    help="Chimera Muse: benchmark and telemetry warehouse, freshness watcher, analytics, "
    "traceable episodes, publishing and translation.\n\n"
    "Example: muse demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"muse {__version__}")
        raise typer.Exit()


def _subcommand(ctx: typer.Context) -> str:
    """ "muse ingest hearts": the command path, without arguments (a query's SQL stays private)."""
    import sys

    names = ["muse"]
    first = ctx.invoked_subcommand
    if not first:
        return "muse"
    names.append(first)
    cmd = ctx.command.get_command(ctx, first) if hasattr(ctx.command, "get_command") else None
    argv = sys.argv[1:]
    if cmd is not None and hasattr(cmd, "get_command") and first in argv:
        rest = argv[argv.index(first) + 1 :]
        if rest and not rest[0].startswith("-") and cmd.get_command(ctx, rest[0]) is not None:
            names.append(rest[0])
    return " ".join(names)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config", "-c", envvar="MUSE_CONFIG", help="Config file (YAML). Default: $XDG_CONFIG_HOME/muse/muse.yaml."
        ),
    ] = None,
    state_dir: Annotated[
        Optional[str],
        typer.Option("--state-dir", help="State dir (store, locks, status files). Default: $XDG_DATA_HOME/muse."),
    ] = None,
    store_url: Annotated[
        Optional[str],
        typer.Option(
            "--store-url", help="ClickHouse server URL clickhouse://user:pass@host:9000/db; empty = embedded chDB."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Debug logs and tracebacks (or MUSE_DEBUG=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
    log_format: Annotated[
        Optional[str],
        typer.Option(
            "--log-format",
            help="auto | rich | plain | json "
            "(auto: rich on a TTY, plain otherwise). Overrides "
            "MUSE_LOG_FORMAT and log.format in the config file.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Chimera Muse."""
    from muse import locks
    from muse.logs import configure

    locks.set_command(_subcommand(ctx))
    opts = common.GlobalOptions(
        config=config, state_dir=state_dir, store_url=store_url, debug=debug, quiet=quiet, log_format=log_format
    )
    ctx.obj = opts
    configure(common.log_format(opts), debug=common.debug_enabled(), quiet=quiet)


def _register() -> None:
    # Registration order is the order `muse --help` lists: the pipeline first, then tools.
    from muse.cli import (
        analytics_cmd,
        config_cmd,
        council_cmd,
        cron_cmd,
        db_cmd,
        demo_cmd,
        digest_cmd,
        health_cmd,
        i18n_cmd,
        ingest_cmd,
        monitors_cmd,
        publish_cmd,
        query_cmd,
        run_cmd,
        watcher_cmd,
    )

    demo_cmd.register(app)
    run_cmd.register(app)
    app.add_typer(ingest_cmd.app, name="ingest")
    app.add_typer(watcher_cmd.app, name="watcher")
    analytics_cmd.register(app)
    app.add_typer(council_cmd.app, name="council")
    app.add_typer(publish_cmd.app, name="publish")
    app.add_typer(i18n_cmd.app, name="i18n")
    digest_cmd.register(app)
    query_cmd.register(app)
    health_cmd.register(app)
    app.add_typer(monitors_cmd.app, name="monitors")
    app.add_typer(db_cmd.app, name="db")
    app.add_typer(cron_cmd.app, name="cron")
    app.add_typer(config_cmd.app, name="config")


_register()


def main() -> None:
    """Console-script entry point."""
    app()
