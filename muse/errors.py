"""Typed errors for expected failures, and the one table of exit codes.

The CLI turns a MuseError into ``Error: <message>`` and the exit code it carries; a
traceback is shown only with ``--debug`` / ``MUSE_DEBUG=1``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable process exit codes, documented in the README."""

    OK = 0
    FAILED = 1  # the run failed; an alert was sent
    USAGE = 2  # bad flags, bad config, or a schema that needs `muse db migrate`
    BLOCKED = 3  # the circuit breaker (watcher) blocks this run
    SKIPPED = 4  # another run of the same agent holds its lock
    STORE_UNAVAILABLE = 5  # store locked by another process past the timeout, or unreachable
    INTERRUPTED = 130  # SIGINT (Ctrl-C): the run was stopped and recorded as interrupted
    TERMINATED = 143  # SIGTERM (kill, systemd, a cron timeout): likewise


class MuseError(Exception):
    """An expected failure with a message for the operator."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(MuseError):
    exit_code = ExitCode.USAGE


class UsageError(MuseError):
    exit_code = ExitCode.USAGE


class SchemaOutdatedError(MuseError):
    exit_code = ExitCode.USAGE


class StoreError(MuseError):
    """A query failed for a reason that retrying will not fix (bad SQL, bad data).

    ``code`` is ClickHouse's error code when the engine gave one (62 is a syntax error).
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class ReadOnlyError(StoreError):
    exit_code = ExitCode.USAGE


class StoreUnavailableError(MuseError):
    """The store could not be reached, or its lock was not released in time."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class StoreLockTimeout(StoreUnavailableError):
    """The embedded store stayed locked. ``holder_role`` is "agent" or "interactive" (from the
    holder's lock file): an agent that outwaited an interactive command does not page."""

    def __init__(
        self, message: str, *, hint: str | None = None, holder_role: str = "", holder_command: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.holder_role = holder_role
        self.holder_command = holder_command


class StateDirError(MuseError):
    """The state dir (store lock, agent locks, status files) cannot be written: read-only or full."""

    exit_code = ExitCode.FAILED


class BlockedError(MuseError):
    exit_code = ExitCode.BLOCKED


class InputError(MuseError):
    """Bad input: names what was wrong and where."""

    exit_code = ExitCode.FAILED


class IntegrationError(MuseError):
    """An external API (Datadog, DeepL, Vercel, ...) refused a call or stayed unreachable."""

    exit_code = ExitCode.FAILED
