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


def test_a_wait_asked_for_in_the_past_is_no_wait() -> None:
    """A clock ahead of the service's: a Retry-After date or a reset already past, or a
    negative number, means retry now, never a negative or made-up wait. A date without a
    zone (``-0000``) is UTC."""
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry.retry_after_seconds({"Retry-After": "-5"}, now=now) == 0.0
    assert retry.retry_after_seconds({"Retry-After": "Fri, 01 May 2026 11:59:00 GMT"}, now=now) == 0.0
    assert retry.retry_after_seconds({"Retry-After": "Fri, 01 May 2026 12:00:30 -0000"}, now=now) == 30.0
    past = str(int(now.timestamp()) - 60)
    assert retry.retry_after_seconds({"X-RateLimit-Reset": past}, now=now, reset_is_epoch=True) == 0.0
    assert retry.retry_after_seconds({"X-RateLimit-Reset": "-3"}, now=now) == 0.0
    assert retry.retry_after_seconds({"X-RateLimit-Reset": "soon"}, now=now) is None
    assert retry.retry_after_seconds({}, now=now) is None


@pytest.mark.parametrize("status, transient", [(200, False), (404, False), (400, False), (408, True), (429, True),
                                               (499, False), (500, True), (501, True), (503, True), (599, True)])
def test_which_http_answers_are_worth_another_attempt(status: int, transient: bool) -> None:
    """429, 408, 425 and every 5xx are retried (with the wait the service asked for and a
    one-line excerpt of its body); any other answer is the caller's to read."""
    import httpx

    body = "<html>\n" + "x" * 1000 + "\n</html>"
    resp = httpx.Response(status, headers={"Retry-After": "7"}, text=body)
    if not transient:
        assert retry.check_response(resp, "api") is resp
        return
    with pytest.raises(retry.TransientHTTPError) as info:
        retry.check_response(resp, "api")
    err = info.value
    assert err.status == status and err.retry_after == 7.0 and err.what == "api"
    assert err.detail == body[:200].replace("\n", " ") and len(err.detail) == 200


@pytest.mark.parametrize("exc, transient", [
    (retry.TransientHTTPError("api", 503), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (TimeoutError("timed out"), True),
    (FileNotFoundError(2, "No such file"), False),
    (ValueError("bad"), False),
    (RuntimeError("boom"), False),
])
def test_which_faults_are_transient(exc: BaseException, transient: bool) -> None:
    assert retry.is_transient(exc) is transient


def test_a_dropped_http_connection_is_transient_a_bad_url_is_not() -> None:
    import httpx

    assert retry.is_transient(httpx.ConnectError("connection refused")) is True
    assert retry.is_transient(httpx.ReadTimeout("read timed out")) is True
    assert retry.is_transient(httpx.InvalidURL("no scheme")) is False


def test_the_default_policy_three_attempts_doubling_from_half_a_second_capped_at_30s(caplog) -> None:
    broken = retry.TransientHTTPError("api", 503)
    waits: list[float] = []
    fn, calls = _failing(broken, broken, broken)
    with pytest.raises(retry.TransientHTTPError):
        retry.call(fn, what="api", sleep=waits.append)
    assert len(calls) == 3 and waits == [0.5, 1.0]
    # The operator reads each retry in the log: what failed, which attempt, how long the wait.
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "api: HTTP 503 (attempt 1/3), retrying in 0.5s", "api: HTTP 503 (attempt 2/3), retrying in 1.0s"]
    waits.clear()
    fn, calls = _failing(*[broken] * 9)
    assert retry.call(fn, what="api", attempts=10, sleep=waits.append) == "done"
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


@pytest.mark.parametrize("asked, made", [(120.0, True), (120.5, False)])
def test_a_wait_of_more_than_two_minutes_is_not_made(asked: float, made: bool) -> None:
    """A service asking for a long wait (an hour's rate limit) gets its error back at once,
    so the caller can keep the work for its next run; two minutes is still waited."""
    waits: list[float] = []
    fn, calls = _failing(retry.TransientHTTPError("api", 429, retry_after=asked))
    if made:
        assert retry.call(fn, what="api", sleep=waits.append) == "done"
        assert waits == [asked] and len(calls) == 2
    else:
        with pytest.raises(retry.TransientHTTPError):
            retry.call(fn, what="api", sleep=waits.append)
        assert waits == [] and len(calls) == 1


def test_429s_that_go_on_exhaust_their_own_budget() -> None:
    limited = retry.TransientHTTPError("api", 429, retry_after=1.0)
    waits: list[float] = []
    fn, calls = _failing(limited, limited, limited, limited)
    with pytest.raises(retry.TransientHTTPError):
        retry.call(fn, what="api", attempts=5, rate_limit_attempts=2, sleep=waits.append)
    assert len(calls) == 2 and waits == [1.0]


def test_what_the_look_before_a_retry_finds_is_returned_instead_of_retrying() -> None:
    """A create whose reply was lost: before retrying, the caller looks, finds it was made,
    and that is the answer; the create is not sent again."""
    fn, calls = _failing(retry.TransientHTTPError("api", 502), retry.TransientHTTPError("api", 502))
    looks: list[int] = []

    def look() -> dict[str, str] | None:
        looks.append(1)
        return {"id": "dpl_found"}

    assert retry.call(fn, what="create", before_retry=look, sleep=lambda s: None) == {"id": "dpl_found"}
    assert len(calls) == 1 and len(looks) == 1
