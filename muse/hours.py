"""Time helpers, all UTC: now, the store's text form, the one timestamp parser, the one
duration humanizer, command-line times, hour windows, and hours carried in file names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from muse.errors import UsageError

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# A file name may carry the hour (2026-05-01T13, 2026-05-01_13, 2026050113) or the day
# (2026-05-01, 20260501) its events belong to. Digits on either side rule a match out, so
# "build-123456789012" is not mistaken for a date.
_NAME_TIME = re.compile(r"(?<!\d)(?P<y>20\d\d)-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)(?:[T_ -]?(?P<h>[0-2]\d))?(?!\d)")


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def ts_str(value: datetime, digits: int = 3) -> str:
    """The one text form of a time, ClickHouse's: '2026-05-01 13:00:00.000' for a
    DateTime64(3) value bound as a query parameter, inserted or shown (UTC; fixed width, so the
    text sorts in time order); ``digits`` fractional digits, 0 for a DateTime:
    '2026-05-01 13:00:00'."""
    value = value.astimezone(timezone.utc)
    if digits == 3:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if digits <= 0:
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[: 20 + min(digits, 6)] + "0" * max(0, digits - 6)


def parse_ts(value: Any, *, zero_is_none: bool = False) -> datetime | None:
    """The one timestamp parser: an aware UTC datetime from a datetime (naive = UTC) or ISO
    8601 text ('2026-05-01 13:00:00.123', '2026-05-01T13:00Z', '2026-05-01 13:00'); None
    for nothing (None, '', ClickHouse's \\N). ``zero_is_none``: ClickHouse's zero DateTime
    (1970-01-01, what max() of no rows gives) means "never" too. Raises ValueError for text
    that is no time at all."""
    if value is None or isinstance(value, str) and value.strip() in ("", "\\N", "None"):
        return None
    if isinstance(value, datetime):
        out = utc(value)
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        out = utc(datetime.fromisoformat(text))
    if zero_is_none and out.year == 1970 and out.month == 1 and out.day == 1:
        return None
    return out


def require_ts(value: Any) -> datetime:
    """:func:`parse_ts` for a value that must be a time (a stored row's ``ts``, a manifest's
    start): ValueError names what was there instead of a time."""
    out = parse_ts(value)
    if out is None:
        raise ValueError(f"expected a timestamp, got {value!r}")
    return out


def humanize(duration: float | timedelta) -> str:
    """The one duration humanizer, for messages read at 3 a.m.: '45 s', '12 min', '2 h 5 min',
    '3 d 4 h' (the sign is dropped: callers say "ago" or "in")."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    s = int(round(abs(seconds)))
    if s < 90:
        return f"{s} s"
    m = s // 60
    if m < 120:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def floor_hour(value: datetime) -> datetime:
    return utc(value).replace(minute=0, second=0, microsecond=0)


def ceil_hour(value: datetime) -> datetime:
    floored = floor_hour(value)
    return floored if floored == utc(value) else floored + HOUR


def parse_when(text: str, *, option: str) -> datetime:
    """Parse an ISO 8601 time from the command line; no zone means UTC."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-05-01T13:00Z)") from None
    return utc(parsed)


@dataclass(frozen=True)
class Window:
    """Whole UTC hours [since, until)."""

    since: datetime
    until: datetime

    @property
    def hours(self) -> list[datetime]:
        out, cur = [], self.since
        while cur < self.until:
            out.append(cur)
            cur += HOUR
        return out

    def days(self, n: int = 1) -> list["Window"]:
        """The window cut at UTC midnights, into sub-windows of up to ``n`` calendar days."""
        out, cur = [], self.since
        while cur < self.until:
            midnight = cur.replace(hour=0, minute=0, second=0, microsecond=0) + n * DAY
            nxt = min(midnight, self.until)
            out.append(Window(cur, nxt))
            cur = nxt
        return out

    def __str__(self) -> str:
        return f"{iso_hour(self.since)} .. {iso_hour(self.until)}"


# The longest window one packs run takes: 8 years of 366 days. Every table is partitioned by
# month, and ClickHouse refuses an insert block that touches more than 100 partitions
# (max_partitions_per_insert_block): 8 years span at most 98 months. `--hours 1000000` was a
# store error after 40 s (exit 5); now it is a usage error before anything runs.
MAX_WINDOW_HOURS = 8 * 366 * 24
# ClickHouse's DateTime (the hour columns) starts at the Unix epoch.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_hour(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%MZ")


def resolve_window(
    *, hours: int | None, since: datetime | str | None, until: datetime | str | None, now: datetime
) -> Window:
    """The window a packs run covers.

    ``--hours N`` (default 1): the last N complete hours before ``now``. ``--since``/``--until``:
    an explicit window, rounded out to whole hours; ``--until`` defaults to the current hour.
    """
    if isinstance(since, str):
        since = parse_when(since, option="--since")
    if isinstance(until, str):
        until = parse_when(until, option="--until")
    current = floor_hour(now)
    if since is None and until is None:
        n = 1 if hours is None else hours
        if n < 1:
            raise UsageError(f"--hours must be at least 1, got {n}")
        if n > MAX_WINDOW_HOURS:
            raise UsageError(
                f"--hours {n} is too large: at most {MAX_WINDOW_HOURS} (8 years); "
                "backfill longer spans in several runs with --since/--until"
            )
        if current - n * HOUR < EARLIEST:
            raise UsageError(f"--hours {n} reaches back before {iso_hour(EARLIEST)}, the earliest hour the store holds")
        return Window(current - n * HOUR, current)
    if hours is not None:
        raise UsageError("use either --hours or --since/--until, not both")
    if since is None:
        raise UsageError("--until needs --since")
    start = floor_hour(since)
    end = ceil_hour(until) if until is not None else current
    if end <= start:
        raise UsageError(f"--until ({iso_hour(end)}) must be after --since ({iso_hour(start)})")
    if start < EARLIEST:
        raise UsageError(f"--since {iso_hour(start)} is before {iso_hour(EARLIEST)}, the earliest hour the store holds")
    if end - start > MAX_WINDOW_HOURS * HOUR:
        raise UsageError(
            f"--since {iso_hour(start)} --until {iso_hour(end)} spans "
            f"{int((end - start) / HOUR)} hours: at most {MAX_WINDOW_HOURS} (8 years) per run; "
            "backfill longer spans in several runs"
        )
    return Window(start, end)


def span_in_name(name: str) -> tuple[datetime, datetime] | None:
    """The hour or day a file name says its events belong to, or None."""
    found = None
    for m in _NAME_TIME.finditer(name):
        found = m  # the last date-like part wins: "export-2026-05-01T13.jsonl"
    if found is None:
        return None
    try:
        day = datetime(int(found["y"]), int(found["m"]), int(found["d"]), tzinfo=timezone.utc)
    except ValueError:
        return None
    if found["h"] is None:
        return day, day + DAY
    hour = int(found["h"])
    if hour > 23:
        return None
    start = day + timedelta(hours=hour)
    return start, start + HOUR
