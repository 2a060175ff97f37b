"""The one retry policy muse uses for calls to other services (built on tenacity).

``call(fn, what=..., attempts=..., deadline=...)`` runs ``fn`` and retries it when it
raises a transient fault (``is_transient``): a ``TransientHTTPError`` (HTTP 429 or 5xx,
raised by ``check_response``), a connection or timeout error. Anything else, including
``FileNotFoundError`` and ``PermissionError``, fails at once: retrying will not fix it.

Waits are exponential (``backoff`` * 2^n, at most ``max_backoff``) unless the service said
how long to wait: ``Retry-After`` (seconds or an HTTP date) or Datadog's
``X-RateLimit-Reset`` (seconds until the limit resets) win. A ``deadline`` (a
``time.monotonic()`` value) bounds the whole call: a retry whose wait would end past it is
not made, and the last error is raised instead, so the caller can keep the work for later.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, TypeVar

import tenacity

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Local faults retrying cannot fix (a subclass of OSError like ConnectionError is not).
PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


class TransientHTTPError(Exception):
    """A service answered with a status worth retrying (429, 5xx)."""

    def __init__(
        self, what: str, status: int, *, retry_after: float | None = None, detail: str = "", code: str = ""
    ) -> None:
        super().__init__(f"{what}: HTTP {status}{': ' + detail if detail else ''}")
        self.what = what
        self.status = status
        self.code = code  # the service's own error code, when its body names one
        self.retry_after = retry_after
        self.detail = detail


def retry_after_seconds(
    headers: Mapping[str, str], *, now: datetime | None = None, reset_is_epoch: bool = False
) -> float | None:
    """How long the service asked us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is seconds until the reset for Datadog, and the Unix time of the
    reset for Vercel (``reset_is_epoch``)."""
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=timezone.utc)
                return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    reset = lower.get("x-ratelimit-reset")
    if reset:
        try:
            seconds = float(reset.strip())
        except ValueError:
            return None
        if reset_is_epoch:
            seconds -= (now or datetime.now(timezone.utc)).timestamp()
        return max(0.0, seconds)
    return None


def check_response(resp: Any, what: str) -> Any:
    """Raise ``TransientHTTPError`` for a 429/5xx answer (with the wait it asked for)."""
    if resp.status_code in TRANSIENT_STATUS or resp.status_code >= 500:
        raise TransientHTTPError(
            what,
            resp.status_code,
            retry_after=retry_after_seconds(resp.headers),
            detail=(resp.text or "")[:200].replace("\n", " "),
        )
    return resp


def is_transient(exc: BaseException) -> bool:
    """True for faults that may go away on their own: worth another attempt."""
    if isinstance(exc, TransientHTTPError):
        return True
    if isinstance(exc, PERMANENT_OS_ERRORS):
        return False
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        httpx = None  # type: ignore[assignment]
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


def wait_after(exc: BaseException | None, attempt: int, *, backoff: float = 0.5, max_backoff: float = 30.0) -> float:
    """The wait before the retry that follows failed attempt number ``attempt`` (1-based):
    what the service asked for (``retry_after``), else ``backoff`` * 2^(attempt-1) capped."""
    asked = getattr(exc, "retry_after", None)
    if asked is not None:
        return float(asked)
    return min(max_backoff, backoff * 2 ** (attempt - 1))


def is_rate_limited(exc: BaseException | None) -> bool:
    return isinstance(exc, TransientHTTPError) and exc.status == 429


class _Wait(tenacity.wait.wait_base):
    def __init__(self, backoff: float, max_backoff: float, rate_limit_attempts: int | None) -> None:
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.separate = rate_limit_attempts is not None
        self.faults = 0

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if self.separate and is_rate_limited(exc):
            return wait_after(exc, retry_state.attempt_number, backoff=self.backoff, max_backoff=self.max_backoff)
        # With a separate budget for 429s, the backoff doubles per fault, not per 429.
        self.faults += 1
        n = self.faults if self.separate else retry_state.attempt_number
        return wait_after(exc, n, backoff=self.backoff, max_backoff=self.max_backoff)


class _Budget(tenacity.stop.stop_base):
    """``attempts`` in all; with ``rate_limit_attempts`` a 429 counts against that budget
    instead (a service that asks us to slow down is not failing)."""

    def __init__(self, attempts: int, rate_limit_attempts: int | None) -> None:
        self.attempts = max(1, attempts)
        self.rate_limit_attempts = rate_limit_attempts
        self.faults = 0
        self.limited = 0

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if self.rate_limit_attempts is not None and is_rate_limited(exc):
            self.limited += 1
            return self.limited >= self.rate_limit_attempts
        self.faults += 1
        return self.faults >= self.attempts


class _StopAtDeadline(tenacity.stop.stop_base):
    def __init__(self, deadline: float | None, max_wait: float) -> None:
        self.deadline = deadline
        self.max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.upcoming_sleep > self.max_wait:
            return True
        if self.deadline is None:
            return False
        return time.monotonic() + retry_state.upcoming_sleep > self.deadline


def call(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 3,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    deadline: float | None = None,
    max_wait: float = 120.0,
    transient: Callable[[BaseException], bool] = is_transient,
    before_retry: Callable[[], Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rate_limit_attempts: int | None = None,
    on_retry: Callable[[BaseException | None, int, float], None] | None = None,
) -> T:
    """Run ``fn`` under the policy; raises its last error when it gives up.

    A single wait longer than ``max_wait`` (a service asking for an hour) is not made either.
    ``before_retry`` runs before each retry; a truthy answer is returned instead of
    retrying (e.g. a create whose reply was lost turned out to have happened).
    ``rate_limit_attempts``: 429s get their own budget instead of counting in ``attempts``.
    ``on_retry(exc, attempt, wait)`` replaces the default warning logged before each wait
    (a caller that logs in its own words or counts retries).
    """
    found: list[Any] = []

    def _before_sleep(rs: tenacity.RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        if on_retry is not None:
            on_retry(exc, rs.attempt_number, rs.upcoming_sleep)
            return
        log.warning(
            "%s: %s (attempt %d/%d), retrying in %.1fs",
            what,
            _describe(exc),
            rs.attempt_number,
            attempts,
            rs.upcoming_sleep,
        )

    def _attempt() -> T:
        if found:
            return found[0]
        return fn()

    def _sleep(seconds: float) -> None:
        sleep(seconds)
        if before_retry is not None:
            answer = before_retry()
            if answer:
                found.append(answer)

    retrying = tenacity.Retrying(
        stop=_Budget(attempts, rate_limit_attempts) | _StopAtDeadline(deadline, max_wait),
        wait=_Wait(backoff, max_backoff, rate_limit_attempts),
        retry=tenacity.retry_if_exception(transient),
        before_sleep=_before_sleep,
        sleep=_sleep,
        reraise=True,
    )
    return retrying(_attempt)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "failed"
    if isinstance(exc, TransientHTTPError):
        return f"HTTP {exc.status}"
    return type(exc).__name__
