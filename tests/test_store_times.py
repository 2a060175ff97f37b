"""Dates and times from the store: aware UTC datetimes (and dates) decided by each result
column's type, the same from the embedded store and the server store, whatever zone the
column or the process has; their text form is ClickHouse's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from muse.hours import ts_str
from muse.store import EmbeddedStore, QueryResult, convert_server_rows, convert_text_rows, date_type

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent


def test_embedded_store_returns_aware_datetimes_and_dates_by_column_type(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "ch") as store:
        store.execute(
            "CREATE TABLE t (k UInt8, dt DateTime('UTC'), dt64 DateTime64(3, 'UTC'), ndt Nullable(DateTime('UTC')), "
            "d Date, d32 Date32, lc LowCardinality(String)) ENGINE = MergeTree ORDER BY k"
        )
        at = datetime(2026, 12, 5, 20, 0, 0, 123000, tzinfo=UTC)
        store.insert(
            "t",
            [
                {"k": 1, "dt": at, "dt64": at, "ndt": at, "d": "2026-12-05", "d32": "1901-02-03", "lc": "x"},
                {
                    "k": 2,
                    "dt": at,
                    "dt64": at,
                    "ndt": None,
                    "d": "2026-12-05",
                    "d32": "2026-12-05",
                    "lc": "y",
                    "tk": at,
                },
            ],
        )
        r = store.query(
            "SELECT dt, dt64, ndt, d, d32, lc, toTimeZone(dt, 'Asia/Tokyo') AS tk, toString(dt64) AS dt64_text FROM t ORDER BY k"
        )
    first, second = r.rows
    assert first[0] == at.replace(microsecond=0) and first[0].tzinfo is UTC  # DateTime keeps whole seconds
    assert first[1] == at and first[1].tzinfo is UTC
    assert first[2] == at.replace(microsecond=0) and second[2] is None
    assert first[3] == date(2026, 12, 5) and not isinstance(first[3], datetime)
    assert first[4] == date(1901, 2, 3)
    assert first[5] == "x"  # not a date: untouched
    assert first[6] == at.replace(microsecond=0) and first[6].tzinfo is UTC  # the Tokyo column, the same instant
    assert first[7] == "2026-12-05 20:00:00.123"  # a String column that looks like a time stays text


def test_text_rows_are_clickhouse_s_own_text_of_each_type(tmp_path: Path) -> None:
    exprs = {
        "dt": "toDateTime('2026-12-05 20:00:00', 'UTC')",
        "dt64": "toDateTime64('2026-12-05 20:00:00', 3, 'UTC')",
        "dt64_ms": "toDateTime64('2026-12-05 20:00:00.5', 3, 'UTC')",
        "dt64_6": "toDateTime64('2026-12-05 20:00:00.123456', 6, 'UTC')",
        "ndt": "toNullable(toDateTime('2026-01-31 23:59:59', 'UTC'))",
        "nothing": "CAST(NULL AS Nullable(DateTime64(3, 'UTC')))",
        "d": "toDate('2026-02-28')",
        "zero": "toDateTime64(0, 3, 'UTC')",
    }
    select = ", ".join(f"{e} AS {k}, toString({e}) AS {k}_text" for k, e in exprs.items())
    with EmbeddedStore(tmp_path / "ch") as store:
        r = store.query(f"SELECT {select}")
    text = dict(zip(r.columns, r.text_rows()[0]))
    for k in exprs:
        assert text[k] == (None if k == "nothing" else text[f"{k}_text"]), k
    assert r.first()["zero"] == datetime(1970, 1, 1, tzinfo=UTC)


def test_a_process_in_another_time_zone_still_gets_utc_instants(tmp_path: Path) -> None:
    """chDB takes the process's zone (TZ) for a DateTime without one of its own: the store
    reads and writes those in UTC, and a column in another zone comes back as its instant."""
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from muse.store import EmbeddedStore
with EmbeddedStore({str(tmp_path / "ch")!r}) as s:
    r = s.query("SELECT toDateTime('2026-07-01 12:00:00') AS naive, now() AS now, "
                "toDateTime('2026-07-01 21:00:00', 'Asia/Tokyo') AS tokyo, "
                "toDateTime64('2026-03-29 01:30:00', 3, 'Europe/Berlin') AS berlin, "
                "{{p:DateTime}} AS bound", {{"p": "2026-07-01 12:00:00"}})
print(json.dumps({{k: v.isoformat() for k, v in r.first().items()}}))
"""
    env = {**os.environ, "TZ": "America/New_York"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    got = {k: datetime.fromisoformat(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
    noon = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert got["naive"] == noon and got["bound"] == noon and got["tokyo"] == noon
    assert got["berlin"] == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET (+01:00), before the switch
    assert abs(got["now"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert all(v.utcoffset() == timedelta(0) for v in got.values())


@pytest.mark.parametrize(
    "type_name, kind, digits, zone",
    [
        ("DateTime", "datetime", 0, None),
        ("DateTime('UTC')", "datetime", 0, "UTC"),
        ("DateTime64(3)", "datetime", 3, None),
        ("DateTime64(3, 'UTC')", "datetime", 3, "UTC"),
        ("Nullable(DateTime64(6, 'Europe/Berlin'))", "datetime", 6, "Europe/Berlin"),
        ("LowCardinality(Nullable(DateTime('UTC')))", "datetime", 0, "UTC"),
        ("Date", "date", 0, None),
        ("Nullable(Date32)", "date", 0, None),
    ],
)
def test_date_types_are_read_from_the_type_name(type_name: str, kind: str, digits: int, zone: str | None) -> None:
    t = date_type(type_name)
    assert t is not None and (t.kind, t.digits, t.zone) == (kind, digits, zone)


@pytest.mark.parametrize("type_name", ["String", "Array(DateTime('UTC'))", "Tuple(DateTime, UInt8)", "UInt32"])
def test_other_types_are_not_dates(type_name: str) -> None:
    assert date_type(type_name) is None


def test_server_values_get_the_embedded_shape() -> None:
    """clickhouse-driver gives a column with its own zone as an aware datetime and one without
    as naive wall-clock time in the server's zone; both become the same aware UTC instant."""
    berlin = ZoneInfo("Europe/Berlin")
    instant = datetime(2026, 12, 5, 20, 0, 0, 123000, tzinfo=UTC)
    types = ["DateTime64(3, 'UTC')", "DateTime", "Nullable(DateTime('Asia/Tokyo'))", "Date", "UUID", "Decimal(10, 2)"]
    row = (
        instant,
        instant.astimezone(berlin).replace(tzinfo=None),  # naive: the server's zone
        instant.astimezone(ZoneInfo("Asia/Tokyo")),
        date(2026, 12, 5),
        UUID(int=7),
        Decimal("1.25"),
    )
    (got,) = convert_server_rows(types, [row], server_zone=berlin)
    assert got[0] == instant and got[0].tzinfo is UTC
    assert got[1] == instant and got[1].tzinfo is UTC
    assert got[2] == instant and got[2].tzinfo is UTC
    assert got[3] == date(2026, 12, 5)
    assert got[4] == str(UUID(int=7)) and got[5] == 1.25
    (nulls,) = convert_server_rows(types, [(instant, row[1], None, None, None, None)], server_zone=berlin)
    assert nulls[2] is None and nulls[3] is None
    # The embedded store's JSON text of the same values converts to the same row.
    text = [ts_str(instant), ts_str(instant, 0), "2026-12-06 05:00:00", "2026-12-05", str(UUID(int=7)), 1.25]
    (embedded,) = convert_text_rows(
        ["DateTime64(3, 'UTC')", "DateTime('UTC')", "Nullable(DateTime('Asia/Tokyo'))", "Date", "UUID", "Float64"],
        [text],
    )
    assert embedded[0] == got[0] and embedded[3] == got[3] and embedded[4] == got[4]
    assert embedded[1] == got[1].replace(microsecond=0) and embedded[2] == got[2].replace(microsecond=0)


def test_server_store_text_rows_match_the_embedded_store_s() -> None:
    """`muse query` on a server prints a DateTime64(3) with its milliseconds, as the embedded
    store does (the server store used to drop '.000')."""
    instant = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    types = ["DateTime64(3, 'UTC')", "DateTime('UTC')"]
    clickhouse_text = ("2026-12-05 20:00:00.000", "2026-12-05 20:00:00")  # JSONCompact's text of the two types
    r = QueryResult(["a", "b"], types, convert_server_rows(types, [(instant, instant)]))
    e = QueryResult(["a", "b"], types, convert_text_rows(types, [list(clickhouse_text)]))
    assert r.rows == e.rows
    assert r.text_rows() == e.text_rows() == [clickhouse_text]
