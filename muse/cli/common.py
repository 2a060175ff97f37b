"""State shared by the command groups: global options, settings, and result rendering."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import typer

from muse.errors import ExitCode
from muse.cli.output import echo, print_json, print_table


@dataclass
class GlobalOptions:
    config: str | None = None
    state_dir: str | None = None
    store_url: str | None = None
    debug: bool = False
    quiet: bool = False
    log_format: str | None = None
    _settings: Any = field(default=None, repr=False)


OPTIONS = GlobalOptions()


def settings(strict: bool = True) -> Any:
    """Effective settings (loaded once per invocation, on first use)."""
    from muse.config import load_settings
    from muse.logs import register_secrets

    if OPTIONS._settings is None or not strict:
        loaded = load_settings(config_file=OPTIONS.config, strict=strict,
                               overrides={"state_dir": OPTIONS.state_dir, "store.url": OPTIONS.store_url})
        register_secrets(loaded.secrets())
        if not strict:
            return loaded
        OPTIONS._settings = loaded
        _honour_log_format(loaded)
    return OPTIONS._settings


def _honour_log_format(loaded: Any) -> None:
    """log.format from the config file (the flag and MUSE_LOG_FORMAT were applied at start)."""
    from muse.logs import configure, current_format

    if OPTIONS.log_format or os.environ.get("MUSE_LOG_FORMAT"):
        return
    fmt = loaded["log.format"]
    if fmt != "auto" and fmt != current_format():
        configure(fmt, debug=debug_enabled(), quiet=OPTIONS.quiet)


def on_wait(message: str) -> None:
    import logging

    logging.getLogger("muse.store").warning(message)


def exit_with(code: int | ExitCode) -> None:
    raise typer.Exit(int(code))


def render_outcome(outcome: Any, *, as_json: bool = False, extra: Callable[[], None] | None = None) -> None:
    """Print an agent run's result and exit with its code."""
    res = outcome.result
    from muse.logs import json_mode

    if json_mode():
        # One result line: the run's outcome (what --json prints), at error level for a
        # run that failed, could not reach the store, or was interrupted.
        level = "error" if res.status in ("failed", "unavailable", "interrupted") else \
            "warning" if res.status == "blocked" else "info"
        print_json({"agent": outcome.agent, "run_id": outcome.run_id, "status": res.status,
                    "exit_code": int(outcome.exit_code), "message": res.message, "rows_written": res.rows_written,
                    "duration_s": round(outcome.duration_s, 3), "forced": res.forced,
                    "items": [vars(i) for i in res.items], "details": res.details},
                   level=level, message=f"{outcome.agent}: {res.status} - {res.message or 'done'}")
        exit_with(outcome.exit_code)
    if as_json:
        print_json({"agent": outcome.agent, "run_id": outcome.run_id, "status": res.status,
                    "exit_code": int(outcome.exit_code), "message": res.message, "rows_written": res.rows_written,
                    "duration_s": round(outcome.duration_s, 3), "forced": res.forced,
                    "items": [vars(i) for i in res.items], "details": res.details})
    else:
        if res.items:
            print_table(["item", "status", "rows", "message"],
                        [(i.item, i.status, i.rows, i.message) for i in res.items])
        if extra is not None:
            extra()
        echo(f"{outcome.agent}: {res.status} - {res.message or 'done'} "
             f"(rows written: {res.rows_written}, {outcome.duration_s:.2f}s, run {outcome.run_id[:8]})")
    exit_with(outcome.exit_code)


def debug_enabled() -> bool:
    return OPTIONS.debug or os.environ.get("MUSE_DEBUG", "") in ("1", "true", "yes")
