"""When each agent is meant to run: the one definition cron and `muse health` share.

``crontab.example`` installs exactly these schedules (a test parses it and compares), and
`muse health` uses them healthchecks-style: an agent whose last run is older than its next
expected run plus a grace period is *late*.

The schedules are configurable (``schedule:`` in the config file, one cron expression per
agent, and ``schedule.timezone``): ``schedules(settings)`` is what health judges against and
what `muse cron print` writes as crontab lines, so a changed schedule is changed in one
place. The defaults below are the source design's, in UTC. Cron expressions are the classic
five fields (minute, hour, day of month, month, day of week) with ``*``, ``a-b``, ``a,b``
and ``*/n`` / ``a-b/n``; that is all the schedules here need, and a small evaluator beats a dependency for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

from muse.hours import humanize


class ScheduleSection(Protocol):
    """The ``schedule`` section of the settings, as the schedules read it."""

    @property
    def timezone(self) -> str: ...

    def cron_of(self, key: str) -> str: ...


class Settings(Protocol):
    """What this module needs of :class:`muse.config.Settings` (which imports this module for
    its defaults, so this module cannot import it back)."""

    @property
    def schedule(self) -> ScheduleSection: ...


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


class CronError(ValueError):
    pass


def _parse_field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
        except ValueError:
            raise CronError(f"{name}: bad step in {part!r}") from None
        if step < 1:
            raise CronError(f"{name}: step must be >= 1 in {part!r}")
        if rng == "*":
            start, end = lo, hi
        else:
            a, _, b = rng.partition("-")
            try:
                start = int(a)
                end = int(b) if b else (hi if step_text else start)
            except ValueError:
                raise CronError(f"{name}: {part!r} is not a number, range or */n") from None
        if not (lo <= start <= end <= hi):
            raise CronError(f"{name}: {part!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression, evaluated in UTC."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is folded into 0)
    days_any: bool
    weekdays_any: bool
    tz: tzinfo = timezone.utc  # the zone cron evaluates the expression in (CRON_TZ or the host's)

    @classmethod
    def parse(cls, expr: str, tz: tzinfo | None = None) -> "Cron":
        parts = expr.split()
        if len(parts) != 5:
            raise CronError(f"cron expression {expr!r} needs 5 fields, has {len(parts)}")
        sets = [_parse_field(p, name, lo, hi) for p, (name, lo, hi) in zip(parts, _FIELDS)]
        weekdays = frozenset(0 if d == 7 else d for d in sets[4])
        return cls(
            " ".join(parts),
            sets[0],
            sets[1],
            sets[2],
            sets[3],
            weekdays,
            parts[2] == "*",
            parts[4] == "*",
            tz or timezone.utc,
        )

    def _day_matches(self, t: datetime) -> bool:
        if t.month not in self.months:
            return False
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        # Classic cron: when both day fields are restricted, either one matching is enough.
        if self.days_any and self.weekdays_any:
            return True
        if self.days_any:
            return dow
        if self.weekdays_any:
            return dom
        return dom or dow

    def next_after(self, t: datetime) -> datetime:
        """The first firing time strictly after ``t`` (returned in UTC, minute resolution).

        Evaluated on the wall clock of ``tz`` like cron does (a time a DST change skips
        does not fire; one it repeats fires at its first occurrence)."""
        if self.tz is not timezone.utc:
            return self._next_local(t)
        t = t.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        raise CronError(f"cron expression {self.expr!r} never fires")

    def _next_local(self, t: datetime) -> datetime:
        utc = t.astimezone(timezone.utc).replace(second=0, microsecond=0)
        local = utc.astimezone(self.tz).replace(tzinfo=None)
        naive = replace(self, tz=timezone.utc)
        for _ in range(1000):
            local = naive.next_after(local.replace(tzinfo=timezone.utc)).replace(tzinfo=None)
            when = local.replace(tzinfo=self.tz)
            # A wall time the zone skips (spring forward) does not exist: cron does not fire.
            if when.astimezone(timezone.utc).astimezone(self.tz).replace(tzinfo=None) != local:
                continue
            fired = when.astimezone(timezone.utc)
            if fired > utc:
                return fired
        raise CronError(f"cron expression {self.expr!r} never fires")

    def previous_at_or_before(self, t: datetime) -> datetime:
        """The last firing time at or before ``t``."""
        if self.tz is not timezone.utc:
            utc = t.astimezone(timezone.utc).replace(second=0, microsecond=0)
            local = utc.astimezone(self.tz).replace(tzinfo=None)
            naive = replace(self, tz=timezone.utc)
            for _ in range(1000):
                hit = naive.previous_at_or_before(local.replace(tzinfo=timezone.utc)).replace(tzinfo=None)
                fired = hit.replace(tzinfo=self.tz).astimezone(timezone.utc)
                if fired <= utc and fired.astimezone(self.tz).replace(tzinfo=None) == hit:
                    return fired
                local = hit - timedelta(minutes=1)
            raise CronError(f"cron expression {self.expr!r} never fires")
        t = t.astimezone(timezone.utc).replace(second=0, microsecond=0)
        limit = t - timedelta(days=366 * 5)
        while t > limit:
            if not self._day_matches(t):
                t = t.replace(hour=23, minute=59) - timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=59) - timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t -= timedelta(minutes=1)
                continue
            return t
        raise CronError(f"cron expression {self.expr!r} never fires")


@dataclass(frozen=True)
class Schedule:
    """One agent's schedule: cron line, the command cron runs, and how late is too late."""

    agent: str
    cron: str
    command: str
    every: str  # for people: "every 15m", "daily 02:00 UTC"
    grace: timedelta
    after: str | None = None  # runs in the same cron line right after this agent succeeds
    tz: str = "UTC"  # the zone cron evaluates the line in
    watched: bool = True  # `muse health` judges it (an agent that records agent_runs)

    @property
    def parsed(self) -> Cron:
        return Cron.parse(self.cron, zone(self.tz))


# The source design's schedule. Minutes are staggered so that the hourly jobs do not all
# start together: packs at :05 (the hour's telemetry files are closed by then), analytics
# at :20 (after packs has landed). The council runs at 02:00 and publish follows it in the
# same cron line; i18n at 04:00 translates what was published.
SCHEDULES: tuple[Schedule, ...] = (
    Schedule("ingest-hearts", "*/5 * * * *", "ingest hearts --pending", "every 5m", timedelta(minutes=10)),
    Schedule("ingest-packs", "5 * * * *", "ingest packs", "hourly at :05", timedelta(minutes=30)),
    Schedule("watcher", "*/15 * * * *", "watcher check", "every 15m", timedelta(minutes=10)),
    Schedule("analytics", "20 * * * *", "analytics run", "hourly at :20", timedelta(minutes=30)),
    Schedule("council", "0 2 * * *", "council generate", "daily 02:00 UTC", timedelta(hours=1)),
    Schedule("publish", "0 2 * * *", "publish latest", "daily after council", timedelta(hours=1), after="council"),
    Schedule("i18n", "0 4 * * *", "i18n sync", "daily 04:00 UTC", timedelta(hours=1)),
    # Not an agent: removes the embedded store's replaced parts (docs/operations.md).
    Schedule("db-maintain", "30 3 * * *", "db maintain", "daily 03:30 UTC", timedelta(hours=1), watched=False),
)
SCHEDULES_BY_AGENT: dict[str, Schedule] = {s.agent: s for s in SCHEDULES}

# Config keys (schedule.<key>) and the schedules they set; publish follows the council.
SCHEDULE_KEYS: dict[str, str] = {
    "ingest_hearts": "ingest-hearts",
    "ingest_packs": "ingest-packs",
    "watcher": "watcher",
    "analytics": "analytics",
    "council": "council",
    "i18n": "i18n",
    "db_maintain": "db-maintain",
}


def zone(name: str) -> tzinfo:
    """A time zone by IANA name ("UTC", "Europe/Berlin"); CronError when unknown."""
    if name in ("UTC", "Etc/UTC", "utc", ""):
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Berlin)") from None


def check_cron(value: Any) -> str | None:
    """Config validation of a schedule.<agent> value: None when fine, else the reason."""
    try:
        Cron.parse(str(value))
    except CronError as exc:
        return str(exc)
    return None


def check_zone(value: Any) -> str | None:
    try:
        zone(str(value))
    except CronError as exc:
        return str(exc)
    return None


def _every(cron: str, tz: str) -> str:
    """A short description for people: 'every 15m', 'hourly at :05', 'daily 02:00 UTC', or the expression."""
    m, h, dom, mon, dow = cron.split()
    rest_any = dom == "*" and mon == "*" and dow == "*"
    if rest_any and h == "*" and m.startswith("*/") and m[2:].isdigit():
        return f"every {m[2:]}m"
    if rest_any and h == "*" and m.isdigit():
        return f"hourly at :{int(m):02d}"
    if rest_any and m.isdigit() and h.isdigit():
        return f"daily {int(h):02d}:{int(m):02d} {tz}"
    return f"cron {cron} {tz}".strip()


def schedules(settings: Settings) -> tuple[Schedule, ...]:
    """The schedules in effect: the config's ``schedule.*`` (defaults = SCHEDULES)."""
    tz = settings.schedule.timezone or "UTC"
    crons = {SCHEDULE_KEYS[k]: settings.schedule.cron_of(k) for k in SCHEDULE_KEYS}
    crons["publish"] = crons["council"]
    out = []
    for sched in SCHEDULES:
        cron = crons.get(sched.agent) or sched.cron
        if cron == sched.cron and tz == "UTC":
            out.append(sched)
            continue
        every = "daily after council" if sched.after else _every(cron, tz)
        out.append(replace(sched, cron=" ".join(cron.split()), every=every, tz=tz))
    return tuple(out)


CRON_LOG_DIR = "/var/log/muse"


def crontab_text(
    settings: Settings,
    *,
    log_dir: str = CRON_LOG_DIR,
    env_file: str = "/etc/muse/env",
    path: str = "/opt/muse/.venv/bin:/usr/local/bin:/usr/bin:/bin",
) -> str:
    """The crontab lines for the schedules in effect (what `muse cron print` prints)."""
    scheds = schedules(settings)
    tz = settings.schedule.timezone or "UTC"
    lines = [
        "# Chimera Muse: written by `muse cron print` from the schedule in the config",
        "# (schedule.* keys; docs/operations.md). Install it for the user that owns the state dir.",
        "# Log lines follow log.format in the config (json for log shippers, plain greppable text).",
        f"CRON_TZ={tz}",
        "SHELL=/bin/sh",
        f"PATH={path}",
        'MAILTO=""',
    ]
    follows = {s.after: s for s in scheds if s.after}
    for s in scheds:
        if s.after:
            continue
        run = f"muse {s.command} >> {log_dir}/{s.agent}.log 2>&1"
        nxt = follows.get(s.agent)
        if nxt is not None:
            run += f" && muse {nxt.command} >> {log_dir}/{nxt.agent}.log 2>&1"
        lines.append(f"{s.cron} . {env_file} && {run}")
    return "\n".join(lines) + "\n"


def host_zone_name() -> str:
    """The host's time zone name as cron daemons without CRON_TZ use it (best effort)."""
    import os
    from pathlib import Path

    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        return Path("/etc/timezone").read_text(encoding="utf-8").strip() or "UTC"
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"
    except OSError:
        return "UTC"


@dataclass(frozen=True)
class Punctuality:
    """Whether an agent ran when its schedule said it should."""

    agent: str
    state: str  # ok | late | never | waiting
    detail: str
    last_started: datetime | None
    due: datetime | None  # the run expected after the last one


def check_punctuality(
    schedule: Schedule,
    last_started: datetime | None,
    now: datetime,
    *,
    predecessor: tuple[str, datetime | None] | None = None,
) -> Punctuality:
    """Healthchecks-style: late when ``now`` is past the next expected run plus the grace.

    ``predecessor`` is (status, started) of the last run of the agent this one runs after;
    when that run did not succeed, cron's ``&&`` did not start this one, so it is not late.
    """
    now = now.astimezone(timezone.utc)
    cron = schedule.parsed
    if last_started is None:
        return Punctuality(schedule.agent, "never", f"never run (expected {schedule.every})", None, None)
    last_started = last_started.astimezone(timezone.utc)
    due = cron.next_after(last_started)
    ago = humanize(now - last_started)
    if now <= due + schedule.grace:
        return Punctuality(schedule.agent, "ok", f"last run {ago} ago (expected {schedule.every})", last_started, due)
    if predecessor is not None:
        # Cron starts this agent only after its predecessor succeeds (`a && b`): if the
        # predecessor has not run since, or did not succeed, the predecessor is what is
        # late or failing, and its own check says so.
        pred_status, pred_started = predecessor
        if pred_started is None or pred_started.astimezone(timezone.utc) < due - timedelta(minutes=1):
            return Punctuality(
                schedule.agent,
                "waiting",
                f"waiting for {schedule.after}: no {schedule.after} run since "
                f"{due:%Y-%m-%d %H:%M} UTC (last run {ago} ago)",
                last_started,
                due,
            )
        if pred_status != "ok":
            return Punctuality(
                schedule.agent,
                "waiting",
                f"not started: the last {schedule.after} run was {pred_status} (last run {ago} ago)",
                last_started,
                due,
            )
    return Punctuality(
        schedule.agent,
        "late",
        f"late: last run {ago} ago, expected {schedule.every} "
        f"(due {due:%Y-%m-%d %H:%M} UTC, grace {humanize(schedule.grace)})",
        last_started,
        due,
    )
