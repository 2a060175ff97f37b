"""State shared by the command groups: global options, settings, and result rendering."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import typer

from muse.errors import ExitCode
from muse.cli.output import echo, print_json, print_table

if TYPE_CHECKING:
    from muse.config import Settings

LOG_FORMATS = ("auto", "rich", "plain", "json")


@dataclass
class GlobalOptions:
    """The root options of one `muse` invocation; the root callback puts it on ``ctx.obj``."""

    config: str | None = None
    state_dir: str | None = None
    store_url: str | None = None
    debug: bool = False
    quiet: bool = False
    log_format: str | None = None
    settings: Settings | None = field(default=None, repr=False)  # loaded on first use

    def overrides(self) -> dict[str, Any]:
        return {"state_dir": self.state_dir, "store.url": self.store_url}


def options() -> GlobalOptions:
    """This invocation's root options (``ctx.obj``); the defaults outside a `muse` invocation."""
    # typer re-exports click's Context but not get_current_context; typer is pinned (<0.30).
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    found = ctx.find_object(GlobalOptions) if ctx is not None else None
    return found if found is not None else GlobalOptions()


def settings(strict: bool = True) -> Settings:
    """Effective settings (loaded once per invocation, on first use)."""
    from muse.config import load_settings
    from muse.logs import register_secrets

    opts = options()
    if opts.settings is None or not strict:
        loaded = load_settings(config_file=opts.config, strict=strict, overrides=opts.overrides())
        register_secrets(loaded.secrets())
        if not strict:
            return loaded
        opts.settings = loaded
    return opts.settings


def log_format(opts: GlobalOptions, env: dict[str, str] | None = None) -> str:
    """The log format in effect: --log-format, else MUSE_LOG_FORMAT, else the config file's
    log.format, else auto. A config file that cannot be read leaves auto: the command that
    loads the settings reports it."""
    from muse.config import load_settings
    from muse.errors import ConfigError

    env = dict(os.environ if env is None else env)
    fmt = opts.log_format or env.get("MUSE_LOG_FORMAT")
    if fmt:
        if fmt not in LOG_FORMATS:
            raise typer.BadParameter(f"--log-format must be auto, rich, plain or json, not {fmt!r}")
        return fmt
    try:
        loaded = load_settings(config_file=opts.config, env=env, strict=False, overrides=opts.overrides())
    except ConfigError:
        return "auto"
    return loaded.log.format


def on_wait(message: str) -> None:
    import logging

    logging.getLogger("muse.store").warning(message)


def exit_with(code: int | ExitCode) -> None:
    raise typer.Exit(int(code))


def render_outcome(outcome: Any, *, as_json: bool = False, extra: Callable[[], None] | None = None) -> None:
    """Print an agent run's result and exit with its code."""
    res = outcome.result
    from muse.logs import json_mode

    doc = {
        "agent": outcome.agent,
        "run_id": outcome.run_id,
        "status": res.status,
        "exit_code": int(outcome.exit_code),
        "message": res.message,
        "rows_written": res.rows_written,
        "duration_s": round(outcome.duration_s, 3),
        "forced": res.forced,
        "items": [vars(i) for i in res.items],
        "details": res.details,
    }
    if json_mode():
        # One result line: the run's outcome (what --json prints), at error level for a
        # run that failed, could not reach the store, or was interrupted.
        level = (
            "error"
            if res.status in ("failed", "unavailable", "interrupted")
            else "warning"
            if res.status == "blocked"
            else "info"
        )
        print_json(doc, level=level, message=f"{outcome.agent}: {res.status} - {res.message or 'done'}")
        exit_with(outcome.exit_code)
    if as_json:
        print_json(doc)
    else:
        if res.items:
            print_table(
                ["item", "status", "rows", "message"], [(i.item, i.status, i.rows, i.message) for i in res.items]
            )
        if extra is not None:
            extra()
        echo(
            f"{outcome.agent}: {res.status} - {res.message or 'done'} "
            f"(rows written: {res.rows_written}, {outcome.duration_s:.2f}s, run {outcome.run_id[:8]})"
        )
    exit_with(outcome.exit_code)


def debug_enabled() -> bool:
    return options().debug or os.environ.get("MUSE_DEBUG", "") in ("1", "true", "yes")
