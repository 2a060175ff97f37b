"""The one retry policy (muse.retry) on its own: what a wait is, what counts as an attempt."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from muse import retry


def _failing(*errors: BaseException):
    queue = list(errors)
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return "done"
    return fn, calls


def test_retry_after_is_seconds_or_an_http_date_and_the_reset_header_seconds_or_epoch() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry.retry_after_seconds({"Retry-After": "7"}, now=now) == 7.0
    assert retry.retry_after_seconds({"retry-after": "Fri, 01 May 2026 12:00:30 GMT"}, now=now) == 30.0
    # Datadog: seconds until the reset; Vercel: the Unix time of the reset.
    assert retry.retry_after_seconds({"X-RateLimit-Reset": "12"}, now=now) == 12.0
    epoch = str(int(now.timestamp()) + 5)
    assert retry.retry_after_seconds({"X-RateLimit-Reset": epoch}, now=now, reset_is_epoch=True) == 5.0
    assert retry.retry_after_seconds({"Retry-After": "soon"}, now=now) is None


def test_429s_can_have_their_own_budget() -> None:
    limited = retry.TransientHTTPError("api", 429, retry_after=2.0)
    broken = retry.TransientHTTPError("api", 503)
    waits: list[float] = []
    fn, calls = _failing(limited, limited, limited, broken, broken)
    assert retry.call(fn, what="api", attempts=3, rate_limit_attempts=5, backoff=0.5, sleep=waits.append) == "done"
    # Three 429s waited what they asked; the two 503s backed off from 0.5 as if they were first.
    assert len(calls) == 6 and waits == [2.0, 2.0, 2.0, 0.5, 1.0]
    fn, calls = _failing(limited, limited, limited)
    with pytest.raises(retry.TransientHTTPError):
        retry.call(fn, what="api", attempts=3, sleep=waits.append)  # shared budget: 3 in all
    assert len(calls) == 3


@pytest.mark.parametrize("exc", [FileNotFoundError("x"), PermissionError("x"), ValueError("x")])
def test_a_fault_no_retry_can_fix_fails_at_once(exc: BaseException) -> None:
    fn, calls = _failing(exc)
    with pytest.raises(type(exc)):
        retry.call(fn, what="thing", sleep=lambda s: None)
    assert len(calls) == 1


def test_a_wait_past_the_deadline_is_not_made() -> None:
    import time

    fn, calls = _failing(retry.TransientHTTPError("api", 429, retry_after=60.0))
    waits: list[float] = []
    with pytest.raises(retry.TransientHTTPError):
        retry.call(fn, what="api", deadline=time.monotonic() + 5, sleep=waits.append)
    assert len(calls) == 1 and waits == []
