"""The circuit breaker between the watcher and the council.

The watcher vouches for the data by writing a small status file into the private state
dir after a passing check (atomically: write a temp file, then rename), and removes it
after a failing one. The file alone proves nothing (any process of the user could write
one, defect 7 of the source design), so :func:`check_gate` trusts it only when

* it parses and names a watcher run, its time and the two commits it checked,
* the ``watcher_runs`` row of that run exists, has status ``valid`` and the same commits,
* that row is younger than ``watcher.status_max_age_minutes`` (age taken from the row,
  not from the file), and
* no later watcher check failed.

The council imports this module; the watcher agent writes and clears the file.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muse.errors import MuseError
from muse.hours import humanize, require_ts
from muse.fsutil import atomic_write_text, sync_dir

if TYPE_CHECKING:
    from muse.config import Settings


STATUS_FILE = "watcher_status.json"
FORMAT_VERSION = 1

# Statuses of a watcher check, best first. "valid_pending" is not a failure: the latest
# commit is younger than its threshold and its data may still be on the way.
STATUSES: tuple[str, ...] = ("valid", "valid_pending", "lag_exceeded", "missing_packs", "missing_hearts")
OK_STATUSES: tuple[str, ...] = ("valid", "valid_pending")
FAILED_STATUSES: tuple[str, ...] = ("lag_exceeded", "missing_packs", "missing_hearts")

# Tolerance between the time written in the file and the ts of the row it names
# (the row is stored with millisecond precision).
_CLOCK_TOLERANCE_S = 2.0
_SHA = re.compile(r"^[0-9a-f]{40}$")


def worst(statuses: list[str] | tuple[str, ...]) -> str:
    """The worst of several statuses (the order of STATUSES)."""
    return max(statuses, key=STATUSES.index)


def status_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATUS_FILE


def write_status(state_dir: Path, *, run_id: str, checked_at: datetime, hearts_commit: str, packs_commit: str) -> Path:
    """Write the status file atomically (temp file + rename, mode 0600) and return its path.

    A reader sees the old file or the new one, never half of one.
    """
    if checked_at.tzinfo is None:
        raise ValueError("checked_at must be timezone-aware")
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = status_path(state_dir)
    payload = {
        "version": FORMAT_VERSION,
        "written_by": "muse watcher",
        "run_id": str(uuid.UUID(str(run_id))),
        "checked_at": checked_at.astimezone(timezone.utc).isoformat(timespec="milliseconds"),
        "hearts_commit": hearts_commit,
        "packs_commit": packs_commit,
    }
    return atomic_write_text(path, json.dumps(payload, indent=1) + "\n", mode=0o600, fsync_dir=True)


def clear_status(state_dir: Path) -> None:
    """Remove the status file (closes the gate); a missing file is fine."""
    path = status_path(Path(state_dir))
    try:
        path.unlink()
    except FileNotFoundError:
        return
    sync_dir(path.parent)


SUSPENDED_FILE = ".watcher_status.checking"


def suspend_status(state_dir: Path) -> bool:
    """Close the gate before a check, keeping the file aside for a check that ends valid_pending.

    A check that cannot verify the data (store locked or unreachable, crash, kill) leaves
    the gate closed: the council reads only :data:`STATUS_FILE`. A file left aside by an
    earlier check that never finished is discarded. Returns whether a file was set aside.
    """
    state_dir = Path(state_dir)
    aside = state_dir / SUSPENDED_FILE
    aside.unlink(missing_ok=True)
    try:
        os.replace(status_path(state_dir), aside)
    except FileNotFoundError:
        return False
    except OSError:
        clear_status(state_dir)  # cannot set it aside: close the gate the blunt way
        raise
    sync_dir(state_dir)
    return True


def resume_status(state_dir: Path, *, restore: bool) -> None:
    """End a check: put the set-aside file back (``restore``, a valid_pending check) or drop it."""
    state_dir = Path(state_dir)
    aside = state_dir / SUSPENDED_FILE
    try:
        if restore:
            os.replace(aside, status_path(state_dir))
        else:
            aside.unlink()
    except FileNotFoundError:
        return
    sync_dir(state_dir)


@dataclass(frozen=True)
class StatusFile:
    """The parsed content of a status file."""

    run_id: str
    checked_at: datetime
    hearts_commit: str
    packs_commit: str


def read_status(state_dir: Path) -> tuple[StatusFile | None, str]:
    """Parse the status file. Returns (file, "") or (None, why it is not usable)."""
    path = status_path(Path(state_dir))
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    if not path.is_file():
        return None, "is not a regular file"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None, f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return None, f"can be changed by other users (mode {st.st_mode & 0o777:o})"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({exc})"
    except ValueError:
        return None, "is not valid JSON"
    if not isinstance(doc, dict):
        return None, "is not a JSON object"
    problems = []
    try:
        run_id = str(uuid.UUID(str(doc.get("run_id"))))
    except ValueError:
        run_id = ""
        problems.append("run_id is not a UUID")
    checked_at = None
    try:
        checked_at = datetime.fromisoformat(str(doc.get("checked_at")))
        if checked_at.tzinfo is None:
            problems.append("checked_at has no timezone")
        else:
            checked_at = checked_at.astimezone(timezone.utc)
    except ValueError:
        problems.append("checked_at is not an ISO time")
    except OverflowError:
        # Year 1 at +14:00 or year 9999 at -14:00: no UTC time exists for it.
        checked_at = None
        problems.append("checked_at is out of range")
    for key in ("hearts_commit", "packs_commit"):
        if not isinstance(doc.get(key), str) or not _SHA.match(doc[key]):
            problems.append(f"{key} is not a 40-character commit sha")
    if problems or checked_at is None:
        return None, "is malformed: " + "; ".join(problems)
    return StatusFile(run_id, checked_at.astimezone(timezone.utc), doc["hearts_commit"], doc["packs_commit"]), ""


@dataclass(frozen=True)
class GateVerdict:
    """Whether the council may run, and why, in a sentence a person at 3 a.m. understands."""

    open: bool
    reason: str
    run_id: str | None = None
    age_seconds: float | None = None
    hearts_commit: str | None = None
    packs_commit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_HINT = "See `muse watcher status`; run `muse watcher check` once the data is in."


def check_gate(settings: Settings, store: Any, *, now: datetime | None = None) -> GateVerdict:
    """Decide whether the watcher currently vouches for the data. Never raises: any doubt
    (store error included) keeps the gate closed, with the reason.

    The steps, each of which can close the gate: the file must be usable
    (:func:`read_status`) and name a stored watcher run; that run must vouch for exactly
    this file (:func:`_run_disowns_file`), be neither dated in the future nor too old
    (:func:`_out_of_date`), and no check may have failed since (:func:`_failed_since`).
    """
    now = now or datetime.now(timezone.utc)
    state_dir = Path(settings.state_dir)
    max_age = settings.watcher.status_max_age_minutes * 60.0

    status, problem = read_status(state_dir)
    if status is None:
        return _unusable_file(status_path(state_dir), problem)
    base: dict[str, Any] = {
        "run_id": status.run_id,
        "hearts_commit": status.hearts_commit,
        "packs_commit": status.packs_commit,
    }
    try:
        row = store.named("watcher_gate_run", {"run_id": status.run_id}).first()
        if row is None:
            return GateVerdict(
                False,
                f"Council blocked: the status file names watcher run {status.run_id[:8]}, which is not in "
                f"watcher_runs. The file was not written by a watcher check (hand-made, or "
                f"from another store) and is ignored. {_HINT}",
                **base,
            )
        ran_at = require_ts(row["ts"])
    except MuseError as exc:
        return _unverified(exc, base)
    age = (now - ran_at).total_seconds()
    base["age_seconds"] = age
    closed = (
        _run_disowns_file(row, status, ran_at, base)
        or _out_of_date(store, status, ran_at, age, max_age, base)
        or _failed_since(store, ran_at, now, base)
    )
    if closed is not None:
        return closed
    return open_verdict(
        run_id=status.run_id,
        ran_at=ran_at,
        hearts_commit=status.hearts_commit,
        packs_commit=status.packs_commit,
        max_age_seconds=max_age,
        now=now,
    )


def _unusable_file(path: Path, problem: str) -> GateVerdict:
    """Closed: there is no status file, or one the watcher cannot have written."""
    if problem == "missing":
        return GateVerdict(
            False,
            f"Council blocked: there is no watcher status file ({path}). The last watcher "
            f"check did not pass, or none has run yet. {_HINT}",
        )
    return GateVerdict(
        False,
        f"Council blocked: the watcher status file {path} {problem}, so it was not "
        f"written by the watcher and is ignored. {_HINT}",
    )


def _unverified(exc: MuseError, base: dict[str, Any]) -> GateVerdict:
    """Closed: the store could not answer, so nothing can be verified."""
    return GateVerdict(
        False, f"Council blocked: could not verify the watcher status against the store: {exc.message}", **base
    )


def _run_disowns_file(
    row: dict[str, Any], status: StatusFile, ran_at: datetime, base: dict[str, Any]
) -> GateVerdict | None:
    """Closed when the watcher run the file names did not pass, or checked other commits or
    at another time than the file says (the file was altered or is not that run's)."""
    short = status.run_id[:8]
    if row["status"] != "valid":
        return GateVerdict(
            False,
            f"Council blocked: watcher run {short} found {row['status']}, not valid"
            f"{': ' + row['message'] if row.get('message') else ''}. The status file naming "
            f"it was not written by a passing check and is ignored. {_HINT}",
            **base,
        )
    if (row["hearts_commit"], row["packs_commit"]) != (status.hearts_commit, status.packs_commit):
        return GateVerdict(
            False,
            f"Council blocked: the status file's commits differ from those watcher run {short} "
            f"checked, so the file was altered and is ignored. {_HINT}",
            **base,
        )
    if abs((status.checked_at - ran_at).total_seconds()) > _CLOCK_TOLERANCE_S:
        return GateVerdict(
            False,
            f"Council blocked: the status file's time ({status.checked_at:%Y-%m-%d %H:%M:%S} "
            f"UTC) differs from watcher run {short} ({ran_at:%Y-%m-%d %H:%M:%S} UTC), so the "
            f"file was altered and is ignored. {_HINT}",
            **base,
        )
    return None


def _out_of_date(
    store: Any, status: StatusFile, ran_at: datetime, age: float, max_age: float, base: dict[str, Any]
) -> GateVerdict | None:
    """Closed when the passing run is dated in the future (a clock problem) or older than
    ``max_age`` seconds; a stale verdict says whether the checks since then only wait for
    the data of a new commit (valid_pending) or none ran (is cron running?)."""
    short = status.run_id[:8]
    if age < -60:
        return GateVerdict(
            False,
            f"Council blocked: watcher run {short} is dated {humanize(age)} in the future; check this machine's clock.",
            **base,
        )
    if age > max_age:
        stale = (
            f"Council blocked: the last passing watcher check (run {short}) was {humanize(age)} ago, "
            f"older than the {humanize(max_age)} limit"
        )
        try:
            newest = store.named("watcher_recent", {"limit": 1}).first()
        except MuseError:
            newest = None
        if newest and newest["status"] == "valid_pending" and require_ts(newest["ts"]) > ran_at:
            return GateVerdict(
                False,
                f"{stale}; the checks since then wait for the data of a new commit "
                f"(valid_pending, not a failure): {newest['message']} The council can run "
                f"once that data is in and a check passes.",
                **base,
            )
        return GateVerdict(False, f"{stale}. Is cron still running `muse watcher check`? Run it now.", **base)
    return None


def _failed_since(store: Any, ran_at: datetime, now: datetime, base: dict[str, Any]) -> GateVerdict | None:
    """Closed when a watcher check after the passing run failed (or the store cannot say)."""
    try:
        later = store.named("watcher_failures_after", {"after": ran_at}).first() or {}
    except MuseError as exc:
        return _unverified(exc, base)
    if int(later.get("failures") or 0) > 0:
        return GateVerdict(
            False,
            f"Council blocked: a later watcher check (run {str(later['run_id'])[:8]}, "
            f"{humanize((now - require_ts(later['ts'])).total_seconds())} ago) found "
            f"{later['status']}. {_HINT}",
            **base,
        )
    return None


def open_verdict(
    *, run_id: str, ran_at: datetime, hearts_commit: str, packs_commit: str, max_age_seconds: float, now: datetime
) -> GateVerdict:
    """The open verdict for a valid watcher run with nothing failed after it (what check_gate
    returns once every test passed; the watcher reports it right after its own valid check)."""
    age = (now - ran_at).total_seconds()
    until = ran_at + timedelta(seconds=max_age_seconds)
    return GateVerdict(
        True,
        f"Council unblocked: watcher run {run_id[:8]} found the data of banterhearts "
        f"{hearts_commit[:8]} and banterpacks {packs_commit[:8]} in the store "
        f"{humanize(age)} ago; this holds until {until:%H:%M} UTC unless a later check "
        f"fails.",
        run_id=run_id,
        age_seconds=age,
        hearts_commit=hearts_commit,
        packs_commit=packs_commit,
    )
