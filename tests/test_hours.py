"""The core's time helpers (muse.hours): the one timestamp parser and the one duration humanizer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from muse.hours import humanize, parse_ts, ts_str

UTC = timezone.utc


@pytest.mark.parametrize("value", ["2026-05-01 13:04:05.678", "2026-05-01T13:04:05.678Z", "2026-05-01T15:04:05.678+02:00",
                                   datetime(2026, 5, 1, 13, 4, 5, 678000), datetime(2026, 5, 1, 13, 4, 5, 678000, UTC)])
def test_every_form_a_time_arrives_in_is_one_aware_utc_datetime(value) -> None:
    assert parse_ts(value) == datetime(2026, 5, 1, 13, 4, 5, 678000, UTC)


def test_nothing_is_none_and_garbage_is_an_error() -> None:
    assert [parse_ts(v) for v in (None, "", "\\N")] == [None, None, None]
    assert parse_ts("1970-01-01 00:00:00.000") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_ts("1970-01-01 00:00:00.000", zero_is_none=True) is None  # max() of no rows
    with pytest.raises(ValueError):
        parse_ts("yesterday")


def test_ts_str_round_trips_and_sorts_as_text() -> None:
    a, b = datetime(2026, 5, 1, 9, 0, tzinfo=UTC), datetime(2026, 5, 1, 10, 0, 0, 5000, tzinfo=UTC)
    assert ts_str(a) == "2026-05-01 09:00:00.000" and parse_ts(ts_str(b)) == b
    assert sorted([ts_str(b), ts_str(a)]) == [ts_str(a), ts_str(b)]


def test_one_way_to_say_how_long() -> None:
    seconds = (5, 89, 90, 720, 7199, 7200, 7260, 3 * 86400 + 3600)
    assert [humanize(s) for s in seconds] == ["5 s", "89 s", "1 min", "12 min", "119 min", "2 h", "2 h 1 min",
                                              "3 d 1 h"]
    assert humanize(timedelta(minutes=12)) == "12 min" and humanize(-720) == "12 min"
    # Hours up to two days, then days: the boundaries a 3 a.m. reader sees.
    assert humanize(timedelta(hours=47, minutes=59)) == "47 h 59 min"
    assert humanize(timedelta(hours=48)) == "2 d" and humanize(timedelta(hours=49)) == "2 d 1 h"
