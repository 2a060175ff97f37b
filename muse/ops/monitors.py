"""Datadog monitors as code: load ``config/monitors.yaml`` and sync it by monitor name.

``sync`` reads the monitors muse manages (tag ``managed-by:muse``) through Datadog's v1
monitor API, compares them field by field with the file, validates what it is about to
write (``POST /api/v1/monitor/validate``), then creates or updates. It never changes or
deletes a monitor without the managed tag: a hand-made monitor with a wanted name is a
conflict (``adopt=True`` takes it over), and managed monitors no longer in the file are
only deleted with ``prune=True``. A dry run makes the same reads and validations and
writes nothing.

Retries: 5xx, 429, timeouts and connection errors are retried (``http.retries`` attempts,
exponential backoff, or as long as Datadog's ``X-RateLimit-Reset`` / ``Retry-After`` says;
the one policy of ``muse.retry``); a create whose answer was lost is looked up by name before it is
sent again, so a retry never makes a duplicate.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from muse.errors import ConfigError, IntegrationError
from muse.resources import resource_path

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

MANAGED_TAG = "managed-by:muse"
# Monitor types this file may use (Datadog v1 MonitorType); metric monitors are "query alert".
TYPES = (
    "query alert",
    "metric alert",
    "service check",
    "event alert",
    "event-v2 alert",
    "log alert",
    "composite",
    "process alert",
    "rum alert",
    "trace-analytics alert",
    "slo alert",
    "audit alert",
)
METRIC_TYPES = ("query alert", "metric alert")
# Fields muse owns on a monitor; anything else on it (state, creator, ...) is Datadog's.
FIELDS = ("name", "type", "query", "message", "tags", "priority", "options")
_QUERY = re.compile(r"^(?P<lhs>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>-?\d+(?:\.\d+)?)\s*$", re.S)
_TRANSIENT = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class MonitorDef:
    name: str
    type: str
    query: str
    message: str
    tags: tuple[str, ...]
    priority: int | None
    options: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "query": self.query,
            "message": self.message,
            "tags": list(self.tags),
            "priority": self.priority,
            "options": self.options,
        }


@dataclass
class FieldDiff:
    field: str
    before: Any
    after: Any


@dataclass
class Change:
    name: str
    action: str  # create | update | unchanged | conflict | orphan | duplicate | delete
    monitor_id: int | None = None
    diffs: list[FieldDiff] = field(default_factory=list)
    note: str = ""


@dataclass
class SyncReport:
    dry_run: bool
    source: str
    api_url: str
    changes: list[Change]

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        return not any(c.action == "conflict" for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "source": self.source,
            "api_url": self.api_url,
            "ok": self.ok,
            "counts": self.counts,
            "changes": [
                {
                    "name": c.name,
                    "action": c.action,
                    "id": c.monitor_id,
                    "note": c.note,
                    "diffs": [vars(d) for d in c.diffs],
                }
                for c in self.changes
            ],
        }


# -- definitions ----------------------------------------------------------------------
def definitions_path(settings: Settings | None = None) -> Path:
    configured = settings.monitors.file if settings is not None else ""
    return Path(configured).expanduser() if configured else resource_path("config") / "monitors.yaml"


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def load_definitions(path: Path) -> list[MonitorDef]:
    """Parse and check the monitors file; one ConfigError naming file, monitor and field."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"monitors file {path} does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"monitors file {path}:{where}: malformed YAML: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("monitors"), list):
        raise ConfigError(f"monitors file {path}: needs a top-level `monitors:` list")
    handles = doc.get("handles") or {}
    common_tags = doc.get("tags") or []
    if not isinstance(handles, dict) or not all(isinstance(v, str) for v in handles.values()):
        raise ConfigError(f"monitors file {path}: `handles` must map names to strings such as '@slack-channel'")
    if not isinstance(common_tags, list):
        raise ConfigError(f"monitors file {path}: `tags` must be a list")
    out: list[MonitorDef] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["monitors"], 1):
        label = f"monitors file {path}: monitor #{i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{label}: must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{label}: field name: required, a non-empty string")
        label = f"monitors file {path}: monitor {name!r}"
        if name in seen:
            raise ConfigError(f"{label}: field name: used twice (monitors are matched by name)")
        seen.add(name)
        unknown = set(raw) - set(FIELDS)
        if unknown:
            raise ConfigError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
        mtype, query = raw.get("type"), raw.get("query")
        if mtype not in TYPES:
            raise ConfigError(f"{label}: field type: {mtype!r} is not a Datadog monitor type")
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{label}: field query: required, a string")
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{label}: field options: must be a mapping")
        if mtype in METRIC_TYPES:
            _check_threshold(label, query, options)
        try:
            message = string.Template(str(raw.get("message") or "")).substitute(handles).strip()
        except KeyError as exc:
            raise ConfigError(
                f"{label}: field message: uses ${{{exc.args[0]}}}, which `handles` does not define"
            ) from None
        except ValueError as exc:
            raise ConfigError(f"{label}: field message: {exc}") from None
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ConfigError(f"{label}: field tags: must be a list of strings")
        priority = raw.get("priority")
        if priority is not None and (
            isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5
        ):
            raise ConfigError(f"{label}: field priority: must be 1-5, got {priority!r}")
        all_tags = tuple(sorted({*map(str, common_tags), *tags, MANAGED_TAG}))
        out.append(MonitorDef(name, mtype, " ".join(query.split()), message, all_tags, priority, options))
    return out


def _check_threshold(label: str, query: str, options: dict[str, Any]) -> None:
    m = _QUERY.match(query.strip())
    if not m:
        raise ConfigError(f"{label}: field query: must end with a comparison such as '> 600'")
    thresholds = options.get("thresholds")
    critical = _num(thresholds.get("critical")) if isinstance(thresholds, dict) else None
    if critical is None:
        raise ConfigError(f"{label}: field options.thresholds.critical: required, a number")
    if float(m.group("value")) != critical:
        raise ConfigError(
            f"{label}: field options.thresholds.critical: {critical:g} differs from the "
            f"query's threshold {m.group('value')}"
        )


# -- comparison -----------------------------------------------------------------------
def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _option_diffs(want: dict[str, Any], have: dict[str, Any], prefix: str = "options") -> list[FieldDiff]:
    """Only the option keys the file sets: Datadog fills in defaults for the rest."""
    diffs = []
    for key, value in want.items():
        path = f"{prefix}.{key}"
        current = have.get(key) if isinstance(have, dict) else None
        if isinstance(value, dict) and isinstance(current, dict):
            diffs.extend(_option_diffs(value, current, path))
        elif _norm(value) != _norm(current):
            diffs.append(FieldDiff(path, current, value))
    return diffs


def diff(want: MonitorDef, have: dict[str, Any]) -> list[FieldDiff]:
    diffs = []
    if want.name != have.get("name"):
        diffs.append(FieldDiff("name", have.get("name"), want.name))
    if want.type != have.get("type"):
        diffs.append(FieldDiff("type", have.get("type"), want.type))
    if want.query != " ".join(str(have.get("query") or "").split()):
        diffs.append(FieldDiff("query", have.get("query"), want.query))
    if want.message.strip() != str(have.get("message") or "").strip():
        diffs.append(FieldDiff("message", have.get("message"), want.message))
    if sorted(want.tags) != sorted(have.get("tags") or []):
        diffs.append(FieldDiff("tags", sorted(have.get("tags") or []), list(want.tags)))
    if want.priority != have.get("priority"):
        diffs.append(FieldDiff("priority", have.get("priority"), want.priority))
    diffs.extend(_option_diffs(want.options, have.get("options") or {}))
    return diffs


# -- the API --------------------------------------------------------------------------
class DatadogMonitorsAPI:
    """The few v1 monitor endpoints sync needs, with retries on transient failures."""

    def __init__(
        self, api_url: str, api_key: str, app_key: str, *, timeout: float = 10.0, retries: int = 3, backoff: float = 0.5
    ) -> None:
        import httpx

        self.base = api_url.rstrip("/")
        self.retries = max(1, retries)
        self.backoff = backoff
        self._client = httpx.Client(
            timeout=timeout,
            headers={
                "DD-API-KEY": api_key,
                "DD-APPLICATION-KEY": app_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "DatadogMonitorsAPI":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        before_retry: Callable[[], Any] | None = None,
    ) -> Any:
        """One API call; returns the decoded body, or ``before_retry()``'s answer if truthy.
        Retried under ``muse.retry`` (a 429 waits what X-RateLimit-Reset / Retry-After say)."""
        import httpx

        from muse import retry

        what = f"Datadog {method} {path}"

        def attempt() -> Any:
            resp = self._client.request(method, self.base + path, params=params, json=json)
            if resp.status_code < 300:
                return resp.json() if resp.content else {}
            errors = _errors(resp)
            if resp.status_code == 403:
                raise IntegrationError(
                    f"{what}: Datadog rejected the API or application key (HTTP 403{': ' + errors if errors else ''})",
                    hint="check DD_API_KEY / DD_APP_KEY (datadog.api_key, datadog.app_key) and that the "
                    "application key may read and write monitors",
                )
            if resp.status_code in _TRANSIENT:
                raise retry.TransientHTTPError(
                    what, resp.status_code, detail=errors, retry_after=retry.retry_after_seconds(resp.headers)
                )
            raise IntegrationError(f"{what}: HTTP {resp.status_code}{': ' + errors if errors else ''}")

        try:
            return retry.call(
                attempt, what=what, attempts=self.retries, backoff=self.backoff, before_retry=before_retry
            )
        except retry.TransientHTTPError as exc:
            raise IntegrationError(
                f"{what} failed after {self.retries} attempts: HTTP {exc.status}"
                f"{': ' + exc.detail if exc.detail else ''}"
            ) from None
        except httpx.TimeoutException:
            raise IntegrationError(f"{what} failed after {self.retries} attempts: timed out") from None
        except httpx.TransportError as exc:
            raise IntegrationError(
                f"{what} failed after {self.retries} attempts: unreachable ({type(exc).__name__})"
            ) from None

    def list(
        self, *, monitor_tags: str | None = None, name: str | None = None, page_size: int = 100
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 0
        while True:
            params: dict[str, Any] = {"page": page, "page_size": page_size}
            if monitor_tags:
                params["monitor_tags"] = monitor_tags
            if name:
                params["name"] = name
            batch = self.request("GET", "/api/v1/monitor", params=params)
            if not isinstance(batch, list):
                raise IntegrationError("Datadog GET /api/v1/monitor: expected a list of monitors")
            out.extend(batch)
            if len(batch) < page_size:
                return out
            page += 1

    def validate(self, body: dict[str, Any]) -> None:
        self.request("POST", "/api/v1/monitor/validate", json=body)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        def already_there() -> dict[str, Any] | None:
            # The create may have succeeded before its answer was lost.
            for m in self.list(monitor_tags=MANAGED_TAG, name=body["name"]):
                if m.get("name") == body["name"]:
                    log.info("monitor %r was created by the failed attempt (id %s)", body["name"], m.get("id"))
                    return m
            return None

        return self.request("POST", "/api/v1/monitor", json=body, before_retry=already_there)

    def update(self, monitor_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"/api/v1/monitor/{int(monitor_id)}", json=body)

    def delete(self, monitor_id: int) -> None:
        self.request("DELETE", f"/api/v1/monitor/{int(monitor_id)}")


def _errors(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:200]
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "; ".join(str(e) for e in body["errors"])[:500]
    return ""


# -- planning and applying -------------------------------------------------------------
def plan(
    defs: Iterable[MonitorDef],
    managed: list[dict[str, Any]],
    same_name: dict[str, list[dict[str, Any]]],
    *,
    adopt: bool = False,
    prune: bool = False,
) -> list[Change]:
    """What sync would do, per wanted monitor, then per managed monitor the file no longer has."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for m in sorted(managed, key=lambda m: m.get("id") or 0):
        by_name.setdefault(m.get("name", ""), []).append(m)
    changes: list[Change] = []
    wanted = set()
    for d in defs:
        wanted.add(d.name)
        mine = by_name.get(d.name, [])
        if mine:
            target = mine[0]
            diffs = diff(d, target)
            changes.append(Change(d.name, "update" if diffs else "unchanged", target.get("id"), diffs))
            for dup in mine[1:]:
                changes.append(
                    Change(
                        d.name,
                        "delete" if prune else "duplicate",
                        dup.get("id"),
                        note="a second managed monitor with this name",
                    )
                )
            continue
        foreign = [m for m in same_name.get(d.name, []) if m.get("name") == d.name]
        if foreign:
            target = foreign[0]
            if adopt:
                changes.append(
                    Change(
                        d.name,
                        "update",
                        target.get("id"),
                        diff(d, target),
                        note="adopted: was not tagged managed-by:muse",
                    )
                )
            else:
                changes.append(
                    Change(
                        d.name,
                        "conflict",
                        target.get("id"),
                        note="a monitor with this name exists but is not tagged managed-by:muse; "
                        "rename one of them, or pass --adopt to take it over",
                    )
                )
            continue
        changes.append(Change(d.name, "create", None, [FieldDiff(f, None, d.body()[f]) for f in FIELDS]))
    for name, monitors in sorted(by_name.items()):
        if name in wanted:
            continue
        for m in monitors:
            changes.append(
                Change(
                    name,
                    "delete" if prune else "orphan",
                    m.get("id"),
                    note="managed by muse but no longer in the monitors file"
                    + ("" if prune else "; --prune deletes it"),
                )
            )
    return changes


def sync(
    settings: Settings, *, dry_run: bool = False, adopt: bool = False, prune: bool = False, path: Path | None = None
) -> SyncReport:
    """Create or update the monitors of the file by name; see the module docstring."""
    source = path or definitions_path(settings)
    defs = load_definitions(source)
    api_key, app_key = settings.datadog.api_key, settings.datadog.app_key
    missing = [
        name
        for name, value in (("datadog.api_key (DD_API_KEY)", api_key), ("datadog.app_key (DD_APP_KEY)", app_key))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"muse monitors sync needs {' and '.join(missing)}",
            hint="set them in the environment (preferred for secrets) or the config file",
        )
    api_url = settings.datadog.api_url
    with DatadogMonitorsAPI(
        api_url,
        api_key,
        app_key,
        timeout=settings.http.timeout_seconds,
        retries=settings.http.retries,
        backoff=settings.http.retry_backoff_seconds,
    ) as api:
        managed = api.list(monitor_tags=MANAGED_TAG)
        managed_names = {m.get("name") for m in managed}
        same_name = {d.name: api.list(name=d.name) for d in defs if d.name not in managed_names}
        changes = plan(defs, managed, same_name, adopt=adopt, prune=prune)
        by_name = {d.name: d for d in defs}
        # Validate everything that would be written before writing anything.
        for c in changes:
            if c.action in ("create", "update"):
                try:
                    api.validate(by_name[c.name].body())
                except IntegrationError as exc:
                    raise IntegrationError(f"monitor {c.name!r} is invalid: {exc.message}", hint=exc.hint) from None
        if not dry_run:
            for c in changes:
                body = by_name[c.name].body() if c.name in by_name else {}
                if c.action == "create":
                    created = api.create(body)
                    c.monitor_id = created.get("id")
                    log.info("created monitor %r (id %s)", c.name, c.monitor_id)
                elif c.action == "update":
                    assert c.monitor_id is not None
                    api.update(c.monitor_id, body)
                    log.info(
                        "updated monitor %r (id %s): %s",
                        c.name,
                        c.monitor_id,
                        ", ".join(d.field for d in c.diffs) or "tags",
                    )
                elif c.action == "delete":
                    assert c.monitor_id is not None
                    api.delete(c.monitor_id)
                    log.info("deleted monitor %r (id %s)", c.name, c.monitor_id)
    return SyncReport(dry_run, str(source), api_url, changes)
