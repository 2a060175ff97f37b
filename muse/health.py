"""Health checks: store, schema, state dir, integrations, last agent runs, last metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from muse import migrations
from muse.config import Settings
from muse.errors import MuseError
from muse.store import open_store
from muse.telemetry import read_local_metrics

Level = Literal["ok", "warn", "fail", "info"]


@dataclass
class Check:
    name: str
    level: Level
    detail: str


INTEGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("datadog metrics", ("datadog.agent_host", "datadog.api_key")),
    ("slack", ("slack.webhook_url",)),
    ("pagerduty", ("pagerduty.routing_key",)),
    ("vercel", ("vercel.token", "vercel.deploy_hook_url")),
    ("deepl", ("deepl.auth_key",)),
)


def run_checks(settings: Settings) -> tuple[list[Check], dict[str, Any]]:
    checks: list[Check] = []
    extra: dict[str, Any] = {"agents": [], "metrics": {}}
    # State dir: exists, private, writable.
    try:
        state = settings.ensure_state_dir()
        probe = state / f".health.{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
        mode = state.stat().st_mode & 0o777
        checks.append(Check("state dir", "ok" if mode & 0o077 == 0 else "warn",
                            f"{state} (mode {mode:o}{'' if mode & 0o077 == 0 else ', should be 700'})"))
    except OSError as exc:
        checks.append(Check("state dir", "fail", f"{settings.state_dir}: {exc.strerror}"))
    # Store and schema.
    try:
        with open_store(settings) as store:
            checks.append(Check("store", "ok", store.describe()))
            pending = migrations.pending(store, cluster=settings["store.cluster"])
            if pending:
                checks.append(Check("schema", "fail", f"{len(pending)} pending migration(s); run `muse db migrate`"))
            else:
                checks.append(Check("schema", "ok", f"current ({len(migrations.available())} migrations)"))
                extra["agents"] = store.named("agent_last_runs").dicts()
    except MuseError as exc:
        checks.append(Check("store", "fail", exc.message))
    for name, keys in INTEGRATIONS:
        present = [k for k in keys if settings[k]]
        checks.append(Check(name, "ok" if present else "info",
                            f"configured ({', '.join(present)})" if present else "not configured"))
    for repo in ("banterhearts", "banterpacks", "banterblogs"):
        path = settings.path_of(f"repos.{repo}.path")
        if path is None:
            checks.append(Check(f"repo {repo}", "info", "not configured"))
        else:
            ok = (path / ".git").exists() or (path / "HEAD").exists()
            checks.append(Check(f"repo {repo}", "ok" if ok else "fail", f"{path}{'' if ok else ' is not a git repo'}"))
    for run in extra["agents"]:
        status = run["last_status"]
        level: Level = "ok" if status == "ok" else "warn" if status in ("blocked", "skipped", "running") else "fail"
        checks.append(Check(f"agent {run['agent']}", level,
                            f"last run {status} at {run['last_started']}: {run['last_message'][:120]}"))
    extra["metrics"] = read_local_metrics(settings.state_dir)
    return checks, extra
