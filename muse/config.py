"""Settings: defaults < config file < environment < flags.

Every key is declared once here, with its type, default, environment variables and
whether it is a secret. ``config/muse.yaml`` documents the same keys for people; a test
keeps the two in step.

Code reads a setting as a typed attribute, one frozen dataclass per section
(``settings.ingest.clock_skew_tolerance_seconds`` is a float); ``settings["ingest.clock_skew_tolerance_seconds"]``
still works, as a read-only mapping of dotted paths. A test checks that the sections below
declare exactly the keys of ``KEYS`` with their types.

The config file is the first of: ``--config``, ``MUSE_CONFIG``,
``$XDG_CONFIG_HOME/muse/muse.yaml``, and the demo's ``<state dir>/demo/muse.yaml`` (so
that after ``muse demo`` the other commands find the demo store and repos).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from muse import schedule as _sched
from muse.errors import ConfigError

SECRET_MASK = "********"


@dataclass(frozen=True)
class Key:
    """One setting: dotted path, type, default, env vars (first found wins), secret flag."""

    path: str
    type: type
    default: Any
    env: tuple[str, ...] = ()
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[Any], str | None] | None = None  # extra validation: None, or the reason

    @property
    def env_names(self) -> tuple[str, ...]:
        generic = "MUSE_" + self.path.upper().replace(".", "_")
        return (generic, *[e for e in self.env if e != generic])


def _k(path: str, typ: type, default: Any, *env: str, **kw: Any) -> Key:
    return Key(path, typ, default, tuple(env), **kw)


# The one list of settings. Order is the order `muse config show` prints.
KEYS: tuple[Key, ...] = (
    _k("state_dir", str, "", "MUSE_STATE_DIR"),
    _k("store.url", str, "", "MUSE_CLICKHOUSE_URL", secret=True),
    _k("store.lock_timeout_seconds", float, 60.0, minimum=0),
    _k("store.retries", int, 3, minimum=1, maximum=10),
    _k("store.retry_backoff_seconds", float, 0.5, minimum=0),
    _k("store.cluster", str, ""),
    _k("store.cleanup_wait_seconds", float, 5.0, minimum=0),
    # Well below store.lock_timeout_seconds, so a person's query yields to the agents (docs/operations.md).
    _k("query.timeout_seconds", float, 20.0, minimum=0),
    _k("query.max_result_rows", int, 1_000_000, minimum=1),
    _k("query.max_result_mb", float, 256.0, minimum=1),
    _k("query.max_memory_mb", float, 2048.0, minimum=64),
    _k("repos.banterhearts.path", str, ""),
    _k("repos.banterhearts.branch", str, "main"),
    _k("repos.banterpacks.path", str, ""),
    _k("repos.banterpacks.branch", str, "main"),
    _k("repos.banterblogs.path", str, ""),
    _k("repos.banterblogs.branch", str, "main"),
    _k("repos.banterblogs.remote", str, "origin"),
    _k("repos.banterblogs.posts_dir", str, "posts"),
    _k("repos.banterblogs.drafts_branch", str, "drafts"),
    _k("repos.banterblogs.lock_timeout_seconds", float, 120.0, minimum=0),
    _k("telemetry_dir", str, ""),
    _k("ingest.gap_drop_factor", float, 0.2, minimum=0, maximum=1),
    _k("ingest.gap_baseline_days", int, 7, minimum=1),
    _k("ingest.gap_min_baseline_days", int, 3, minimum=1),
    _k("ingest.stream_batch_lines", int, 50000, minimum=100),
    _k("ingest.clock_skew_tolerance_seconds", float, 3600.0, minimum=0),
    _k("watcher.hearts_threshold_minutes", float, 5.0, minimum=0),
    _k("watcher.packs_threshold_minutes", float, 90.0, minimum=0),
    _k("watcher.status_max_age_minutes", float, 30.0, minimum=1),
    _k("watcher.page_after_failures", int, 2, minimum=1),
    _k("analytics.min_baseline_samples", int, 30, minimum=3),
    _k("analytics.bench_min_baseline_runs", int, 30, minimum=3),
    _k("analytics.bench_z_threshold", float, 5.0, minimum=1),
    _k("analytics.fdr_q", float, 0.05, minimum=0.0001, maximum=0.5),
    _k("analytics.level_shift_days", int, 14, minimum=2, maximum=90),
    _k("analytics.level_shift_min_hours", int, 12, minimum=3),
    _k("analytics.level_shift_min_change_pct", float, 10.0, minimum=0),
    _k("analytics.baseline_window_days", int, 30, minimum=1),
    _k("analytics.cost_anomaly_factor", float, 2.0, minimum=1),
    _k("analytics.cost_anomaly_baseline_days", int, 7, minimum=1, maximum=60),
    _k("analytics.cost_anomaly_min_days", int, 5, minimum=1, maximum=60),
    _k("analytics.cost_anomaly_min_excess", float, 1.0, minimum=0),
    _k("analytics.category_tokens", str, "125,500,1500,5000"),
    _k("analytics.outlier_min_rows", int, 3, minimum=1),
    _k("analytics.outlier_min_share", float, 0.2, minimum=0, maximum=1),
    _k("analytics.regression_min_change_pct", float, 10.0, minimum=0),
    _k("analytics.watermark_overlap_seconds", float, 300.0, minimum=0),
    _k("analytics.alert_max_age_hours", float, 24.0, minimum=0),
    _k("council.window_days", int, 7, minimum=1, maximum=90),
    _k("council.confidence_threshold", float, 0.6, minimum=0, maximum=1),
    _k("council.expected_bench_results_per_day", int, 12, minimum=1),
    _k("council.material_change", float, 0.05, minimum=0, maximum=10),
    _k("council.link_span_days", float, 7.0, minimum=0.25, maximum=90),
    _k("council.link_min_calls", int, 20, minimum=2),
    _k("datadog.api_key", str, "", "DD_API_KEY", secret=True),
    _k("datadog.app_key", str, "", "DD_APP_KEY", secret=True),
    _k("datadog.agent_host", str, "", "DD_AGENT_HOST"),
    _k("datadog.dogstatsd_port", int, 8125, "DD_DOGSTATSD_PORT", minimum=1, maximum=65535),
    _k("datadog.api_url", str, "https://api.datadoghq.com", "DD_API_URL"),
    _k("datadog.tags", str, "service:muse"),
    _k("slack.webhook_url", str, "", "SLACK_WEBHOOK_URL", secret=True),
    _k("pagerduty.routing_key", str, "", "PAGERDUTY_ROUTING_KEY", secret=True),
    _k("pagerduty.events_url", str, "https://events.pagerduty.com/v2/enqueue"),
    _k("alerts.expiry_hours", float, 24.0, minimum=0.01),
    _k("alerts.delivery_deadline_seconds", float, 30.0, minimum=0),
    _k("vercel.token", str, "", "VERCEL_TOKEN", secret=True),
    _k("vercel.team_id", str, "", "VERCEL_TEAM_ID"),
    _k("vercel.project", str, "banterblogs", "VERCEL_PROJECT"),
    _k("vercel.api_url", str, "https://api.vercel.com"),
    _k("vercel.deploy_hook_url", str, "", "VERCEL_DEPLOY_HOOK_URL", secret=True),
    _k("vercel.deploy_timeout_seconds", float, 300.0, minimum=1),
    _k("vercel.poll_interval_seconds", float, 5.0, minimum=0.01),
    _k("vercel.retry_backoff_seconds", float, 0.5, minimum=0),
    _k("vercel.git_repo", str, ""),
    _k("deepl.auth_key", str, "", "DEEPL_AUTH_KEY", secret=True),
    _k("deepl.server_url", str, "", "DEEPL_SERVER_URL"),
    _k("deepl.langs", str, "de,zh,hi"),
    _k("deepl.max_retries", int, 5, minimum=0, maximum=10),
    _k("i18n.window_days", int, 2, minimum=1, maximum=90),
    _k("i18n.glossary_file", str, ""),
    _k("http.timeout_seconds", float, 10.0, minimum=0.1),
    _k("http.retries", int, 3, minimum=1, maximum=10),
    _k("http.retry_backoff_seconds", float, 0.5, minimum=0),
    _k("health.probe_timeout_seconds", float, 5.0, minimum=0.1),
    _k("monitors.file", str, ""),
    # Narrator (issue 21, docs/narrator.md): optional LLM prose over the verified facts.
    _k("narrator.enabled", bool, False),
    _k("narrator.base_url", str, ""),
    _k("narrator.api_key", str, "", "MUSE_NARRATOR_API_KEY", "OPENAI_API_KEY", secret=True),
    _k("narrator.analysts", str, ""),
    _k("narrator.judge", str, ""),
    _k("narrator.timeout_seconds", float, 60.0, minimum=0.1),
    _k("narrator.max_retries", int, 2, minimum=0, maximum=10),
    _k("narrator.daily_budget_usd", float, 1.0, minimum=0),
    _k("narrator.daily_budget_tokens", int, 0, minimum=0),
    _k("narrator.prices", dict, {}),
    _k("log.format", str, "auto", choices=("auto", "rich", "plain", "json")),
    # When each agent runs (cron expressions) and the zone cron evaluates them in: health
    # judges against these, `muse cron print` writes the crontab from them (muse/schedule.py).
    _k("schedule.timezone", str, "UTC", check=_sched.check_zone),
    *(
        _k(f"schedule.{name}", str, _sched.SCHEDULES_BY_AGENT[agent].cron, check=_sched.check_cron)
        for name, agent in _sched.SCHEDULE_KEYS.items()
    ),
)
KEYS_BY_PATH: dict[str, Key] = {k.path: k for k in KEYS}


# Typed sections --------------------------------------------------------------------------
# One frozen dataclass per config section; field names are the last part of the dotted path
# and field types the key's type. Built from ``Settings.values`` on access, so a value set in
# ``values`` (the demo does) is what the attribute returns.


@dataclass(frozen=True)
class StoreSettings:
    url: str
    lock_timeout_seconds: float
    retries: int
    retry_backoff_seconds: float
    cluster: str
    cleanup_wait_seconds: float


@dataclass(frozen=True)
class QuerySettings:
    timeout_seconds: float
    max_result_rows: int
    max_result_mb: float
    max_memory_mb: float


@dataclass(frozen=True)
class RepoSettings:
    path: str
    branch: str

    @property
    def dir(self) -> Path | None:
        """The checkout as a path (``~`` expanded), None when unset."""
        return Path(self.path).expanduser() if self.path else None


@dataclass(frozen=True)
class BlogRepoSettings(RepoSettings):
    remote: str
    posts_dir: str
    drafts_branch: str
    lock_timeout_seconds: float


@dataclass(frozen=True)
class ReposSettings:
    banterhearts: RepoSettings
    banterpacks: RepoSettings
    banterblogs: BlogRepoSettings

    def named(self, name: str) -> RepoSettings:
        """A repo section by its config name ("banterhearts"); KeyError for another name."""
        if name not in ("banterhearts", "banterpacks", "banterblogs"):
            raise KeyError(name)
        repo: RepoSettings = getattr(self, name)
        return repo


@dataclass(frozen=True)
class IngestSettings:
    gap_drop_factor: float
    gap_baseline_days: int
    gap_min_baseline_days: int
    stream_batch_lines: int
    clock_skew_tolerance_seconds: float


@dataclass(frozen=True)
class WatcherSettings:
    hearts_threshold_minutes: float
    packs_threshold_minutes: float
    status_max_age_minutes: float
    page_after_failures: int


@dataclass(frozen=True)
class AnalyticsSettings:
    min_baseline_samples: int
    bench_min_baseline_runs: int
    bench_z_threshold: float
    fdr_q: float
    level_shift_days: int
    level_shift_min_hours: int
    level_shift_min_change_pct: float
    baseline_window_days: int
    cost_anomaly_factor: float
    cost_anomaly_baseline_days: int
    cost_anomaly_min_days: int
    cost_anomaly_min_excess: float
    category_tokens: str
    outlier_min_rows: int
    outlier_min_share: float
    regression_min_change_pct: float
    watermark_overlap_seconds: float
    alert_max_age_hours: float


@dataclass(frozen=True)
class CouncilSettings:
    window_days: int
    confidence_threshold: float
    expected_bench_results_per_day: int
    material_change: float
    link_span_days: float
    link_min_calls: int


@dataclass(frozen=True)
class DatadogSettings:
    api_key: str
    app_key: str
    agent_host: str
    dogstatsd_port: int
    api_url: str
    tags: str


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: str


@dataclass(frozen=True)
class PagerDutySettings:
    routing_key: str
    events_url: str


@dataclass(frozen=True)
class AlertsSettings:
    expiry_hours: float
    delivery_deadline_seconds: float


@dataclass(frozen=True)
class VercelSettings:
    token: str
    team_id: str
    project: str
    api_url: str
    deploy_hook_url: str
    deploy_timeout_seconds: float
    poll_interval_seconds: float
    retry_backoff_seconds: float
    git_repo: str


@dataclass(frozen=True)
class DeepLSettings:
    auth_key: str
    server_url: str
    langs: str
    max_retries: int


@dataclass(frozen=True)
class I18nSettings:
    window_days: int
    glossary_file: str


@dataclass(frozen=True)
class HttpSettings:
    timeout_seconds: float
    retries: int
    retry_backoff_seconds: float


@dataclass(frozen=True)
class HealthSettings:
    probe_timeout_seconds: float


@dataclass(frozen=True)
class MonitorsSettings:
    file: str


@dataclass(frozen=True)
class NarratorSettings:
    enabled: bool
    base_url: str
    api_key: str
    analysts: str
    judge: str
    timeout_seconds: float
    max_retries: int
    daily_budget_usd: float
    daily_budget_tokens: int
    prices: dict


@dataclass(frozen=True)
class LogSettings:
    format: str


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str
    ingest_hearts: str
    ingest_packs: str
    watcher: str
    analytics: str
    council: str
    i18n: str
    db_maintain: str

    def cron_of(self, name: str) -> str:
        """The cron expression of a schedule key ("ingest_hearts"); KeyError for another name."""
        if name == "timezone" or name not in {f.name for f in fields(self)}:
            raise KeyError(name)
        cron: str = getattr(self, name)
        return cron


_T = TypeVar("_T")


def _section(cls: type[_T], values: Mapping[str, Any], prefix: str) -> _T:
    """Build section ``cls`` from the dotted ``values`` under ``prefix`` (nested sections too)."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]  # cls is one of the dataclasses above
        typ = f.type if isinstance(f.type, type) else _SECTION_TYPES.get(str(f.type))
        if typ is not None and is_dataclass(typ):
            kwargs[f.name] = _section(typ, values, f"{prefix}{f.name}.")
        else:
            kwargs[f.name] = values[prefix + f.name]
    return cls(**kwargs)


# Annotations are strings here (``from __future__ import annotations``): the nested ones.
_SECTION_TYPES: dict[str, type] = {"RepoSettings": RepoSettings, "BlogRepoSettings": BlogRepoSettings}


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str
    source: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason} (from {self.source})"


@dataclass
class Settings:
    """Effective settings with the source of each value.

    Read a value as a typed attribute of its section (``settings.vercel.token``). The
    read-only mapping of dotted paths (``settings["vercel.token"]``, ``get``, ``in``,
    iteration) is kept for code not converted yet; ``values`` is the dict behind both.
    """

    values: dict[str, Any]
    sources: dict[str, str]
    config_file: Path | None
    problems: list[Problem] = field(default_factory=list)

    def __getitem__(self, path: str) -> Any:
        return self.values[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __contains__(self, path: object) -> bool:
        return path in self.values

    def keys(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def get(self, path: str, default: Any = None) -> Any:
        return self.values.get(path, default)

    # Typed sections -------------------------------------------------------------------
    @property
    def store(self) -> StoreSettings:
        return _section(StoreSettings, self.values, "store.")

    @property
    def query(self) -> QuerySettings:
        return _section(QuerySettings, self.values, "query.")

    @property
    def repos(self) -> ReposSettings:
        return _section(ReposSettings, self.values, "repos.")

    @property
    def ingest(self) -> IngestSettings:
        return _section(IngestSettings, self.values, "ingest.")

    @property
    def watcher(self) -> WatcherSettings:
        return _section(WatcherSettings, self.values, "watcher.")

    @property
    def analytics(self) -> AnalyticsSettings:
        return _section(AnalyticsSettings, self.values, "analytics.")

    @property
    def council(self) -> CouncilSettings:
        return _section(CouncilSettings, self.values, "council.")

    @property
    def datadog(self) -> DatadogSettings:
        return _section(DatadogSettings, self.values, "datadog.")

    @property
    def slack(self) -> SlackSettings:
        return _section(SlackSettings, self.values, "slack.")

    @property
    def pagerduty(self) -> PagerDutySettings:
        return _section(PagerDutySettings, self.values, "pagerduty.")

    @property
    def alerts(self) -> AlertsSettings:
        return _section(AlertsSettings, self.values, "alerts.")

    @property
    def vercel(self) -> VercelSettings:
        return _section(VercelSettings, self.values, "vercel.")

    @property
    def deepl(self) -> DeepLSettings:
        return _section(DeepLSettings, self.values, "deepl.")

    @property
    def i18n(self) -> I18nSettings:
        return _section(I18nSettings, self.values, "i18n.")

    @property
    def http(self) -> HttpSettings:
        return _section(HttpSettings, self.values, "http.")

    @property
    def health(self) -> HealthSettings:
        return _section(HealthSettings, self.values, "health.")

    @property
    def monitors(self) -> MonitorsSettings:
        return _section(MonitorsSettings, self.values, "monitors.")

    @property
    def narrator(self) -> NarratorSettings:
        return _section(NarratorSettings, self.values, "narrator.")

    @property
    def log(self) -> LogSettings:
        return _section(LogSettings, self.values, "log.")

    @property
    def schedule(self) -> ScheduleSettings:
        return _section(ScheduleSettings, self.values, "schedule.")

    @property
    def telemetry_dir(self) -> str:
        return str(self.values["telemetry_dir"])

    # Derived paths used everywhere ------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return Path(self.values["state_dir"]).expanduser()

    @property
    def store_url(self) -> str:
        return str(self.values["store.url"])

    @property
    def embedded_store_path(self) -> Path:
        return self.state_dir / "clickhouse"

    def path_of(self, key: str) -> Path | None:
        raw = self.values[key]
        return Path(raw).expanduser() if raw else None

    def masked(self) -> dict[str, Any]:
        """Every value, with secrets replaced by a mask (or '' when unset)."""
        out: dict[str, Any] = {}
        for key in KEYS:
            value = self.values[key.path]
            out[key.path] = (SECRET_MASK if value else "") if key.secret else value
        return out

    def secrets(self) -> list[str]:
        """The secret values in effect, for scrubbing output."""
        return [str(self.values[k.path]) for k in KEYS if k.secret and self.values[k.path]]

    def ensure_state_dir(self) -> Path:
        """Return the state dir, creating it with mode 0700 when it does not exist yet.

        muse never changes the mode of a directory it did not create (``--state-dir /tmp``
        must not cost /tmp its sticky bit): an existing one that others can read or enter
        gets a warning instead. ``/``, the home dir itself and system directories are refused.
        """
        path = self.state_dir
        check_state_dir(path)
        try:
            path.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            if not path.is_dir():
                raise ConfigError(f"state dir {path} exists and is not a directory") from None
            mode = path.stat().st_mode & 0o777
            if mode & 0o077 and str(path) not in _WARNED:
                _WARNED.add(str(path))
                logging.getLogger(__name__).warning(
                    "state dir %s is accessible to other users (mode %o); muse does not change the mode of a "
                    "directory it did not create: run `chmod 700 %s` if it is yours alone",
                    path,
                    mode,
                    path,
                )
            return path
        # Created now: exactly 0700 whatever the umask (the mode of a dir muse made). A file
        # system that refuses (some network or FAT mounts) costs privacy, not the run: say so.
        try:
            path.chmod(0o700)
        except OSError as exc:
            logging.getLogger(__name__).warning(
                "state dir %s: cannot make it private (chmod 700 failed: %s); other users may read the store "
                "and status files",
                path,
                exc.strerror or exc,
            )
        return path


_WARNED: set[str] = set()

# Directories that are never a state dir, even when writable (as root they all are).
SYSTEM_DIRS = (
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/tmp",
    "/var/run",
    "/var/cache",
    "/private",
    "/System",
    "/Users",
    "/Library",
    "/Applications",
    "/Volumes",
)


def check_state_dir(path: Path) -> None:
    """Refuse a state dir that is ``/``, the home dir itself or a system directory."""
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"state dir {path} cannot be resolved: {exc}") from None
    home = os.path.realpath(os.path.expanduser("~"))
    if str(resolved) == home:
        raise ConfigError(
            f"state dir {path} is your home directory itself; muse keeps private state there",
            hint="use a directory of its own, e.g. ~/.local/share/muse (the default)",
        )
    if str(resolved) in SYSTEM_DIRS or str(resolved) in {os.path.realpath(d) for d in SYSTEM_DIRS}:
        raise ConfigError(
            f"state dir {path} is a system directory; muse refuses to keep its store and locks there",
            hint="use a directory of its own, e.g. ~/.local/share/muse (the default)",
        )


def default_state_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    return Path(base) / "muse"


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "muse" / "muse.yaml"


def _coerce(key: Key, value: Any, source: str) -> tuple[Any, Problem | None]:
    def bad(reason: str) -> tuple[Any, Problem]:
        return key.default, Problem(key.path, reason, source)

    if value is None:
        return key.default, None
    typ = key.type
    try:
        if typ is bool:
            if isinstance(value, bool):
                coerced: Any = value
            elif str(value).lower() in ("1", "true", "yes", "on"):
                coerced = True
            elif str(value).lower() in ("0", "false", "no", "off", ""):
                coerced = False
            else:
                return bad(f"expected true or false, got {value!r}")
        elif typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                return bad(f"expected an integer, got {value!r}")
            coerced = int(value)
        elif typ is float:
            if isinstance(value, bool):
                return bad(f"expected a number, got {value!r}")
            coerced = float(value)
            if not math.isfinite(coerced):
                return bad(f"expected a finite number, got {value!r}")
        elif typ is dict:  # a mapping in the file; JSON in an environment variable
            if isinstance(value, str):
                import json

                try:
                    value = json.loads(value) if value.strip() else {}
                except ValueError:
                    return bad("expected a mapping (JSON in an environment variable)")
            if not isinstance(value, Mapping):
                return bad(f"expected a mapping, got a {type(value).__name__}")
            coerced = dict(value)
        else:
            if isinstance(value, (dict, list)):
                return bad(f"expected a string, got a {type(value).__name__}")
            coerced = str(value)
    except (TypeError, ValueError):
        return bad(f"expected {typ.__name__}, got {value!r}")
    if key.minimum is not None and coerced < key.minimum:
        return bad(f"must be >= {key.minimum:g}, got {coerced!r}")
    if key.maximum is not None and coerced > key.maximum:
        return bad(f"must be <= {key.maximum:g}, got {coerced!r}")
    if key.choices is not None and coerced not in key.choices:
        return bad(f"must be one of {', '.join(key.choices)}, got {coerced!r}")
    if key.check is not None:
        reason = key.check(coerced)
        if reason:
            return bad(reason)
    return coerced, None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in data.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and not any(k.path == path for k in KEYS):
            yield from _flatten(value, prefix=path + ".")
        else:
            yield path, value


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML config file into {dotted.path: value}; one clear error if malformed."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {path}:{where}: malformed YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path}: top level must be a mapping of keys, got {type(data).__name__}")
    return dict(_flatten(data))


def find_config_file(explicit: str | None, env: Mapping[str, str], state_dir: Path) -> Path | None:
    if explicit:
        return Path(explicit).expanduser()
    if env.get("MUSE_CONFIG"):
        return Path(env["MUSE_CONFIG"]).expanduser()
    user = user_config_path(env)
    if user.is_file():
        return user
    demo = state_dir / "demo" / "muse.yaml"
    if demo.is_file():
        return demo
    return None


def load_settings(
    *,
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool = True,
) -> Settings:
    """Build effective settings. ``strict`` raises ConfigError on the first problem."""
    env = dict(os.environ if env is None else env)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {k.path: k.default for k in KEYS}
    sources: dict[str, str] = {k.path: "default" for k in KEYS}
    problems: list[Problem] = []

    def apply(path: str, raw: Any, source: str) -> None:
        key = KEYS_BY_PATH.get(path)
        if key is None:
            problems.append(Problem(path, "unknown key", source))
            return
        value, problem = _coerce(key, raw, source)
        if problem:
            problems.append(problem)
            return
        values[path] = value
        sources[path] = source

    # The state dir decides where the demo config lives, so resolve it before the file.
    pre_state = overrides.get("state_dir") or env.get("MUSE_STATE_DIR") or str(default_state_dir(env))
    path = find_config_file(config_file, env, Path(pre_state).expanduser())
    if path is not None:
        for dotted, raw in read_config_file(path).items():
            apply(dotted, raw, f"file {path}")
    for key in KEYS:
        for name in key.env_names:
            if name in env:
                apply(key.path, env[name], f"env {name}")
                break
    for dotted, raw in overrides.items():
        apply(dotted, raw, "flag")
    if not values["state_dir"]:
        values["state_dir"] = str(default_state_dir(env))
    settings = Settings(values=values, sources=sources, config_file=path, problems=problems)
    if strict and problems:
        raise ConfigError(f"invalid setting {problems[0]}", hint="run `muse config validate` to list every problem")
    return settings
