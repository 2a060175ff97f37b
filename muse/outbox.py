"""The alert outbox: every alert and resolve is written here before it is sent.

``<state dir>/outbox/outbox.jsonl`` is append-only: an ``add`` line per message and sink
(written and fsynced before the first delivery attempt) and a ``done`` line when the sink
accepted it (``delivered``), refused it for good (``rejected``: HTTP 400, the message itself
is wrong) or it grew older than its expiry (``expired``). A message without a ``done`` line
is pending. A crash at any point leaves at worst a torn last line, which readers skip; a
message is then sent again (at-least-once), never lost.

``drain`` delivers pending messages oldest first, per sink in order (a PagerDuty resolve
never overtakes its trigger): the first one a sink does not accept stops that sink until
the next drain. Every muse run drains the outbox when it flushes its telemetry, so what one
run could not deliver the next run of any agent does. Expired messages are also copied to
``expired.jsonl`` for ``muse health``. When nothing more is pending the file is compacted.

Secrets (webhook URL, routing key, API key) are never written here: the sender adds them
from the configuration at delivery time.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from muse import retry
from muse.fsutil import atomic_write_text
from muse.locks import FileLock, LockHeld

log = logging.getLogger(__name__)

OUTBOX = "outbox"
FILE = "outbox.jsonl"
EXPIRED = "expired.jsonl"


class Rejected(Exception):
    """The sink refused this message for good (e.g. HTTP 400): do not retry it."""


class NotConfigured(Exception):
    """The sink is not configured in this run: keep the message for a run where it is."""


@dataclass
class Message:
    id: str
    sink: str
    created: float  # epoch seconds
    expires: float
    body: dict[str, Any]
    severity: str = "info"
    kind: str = ""
    action: str = "trigger"
    dedup_key: str = ""
    title: str = ""
    clears: str = ""  # a page marker (relative to the state dir) to remove once delivered

    def as_line(self) -> dict[str, Any]:
        return {"op": "add", **vars(self)}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Outbox:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / OUTBOX
        self.path = self.dir / FILE
        self._write_lock = FileLock(self.dir / "write.lock", what="the alert outbox")
        self._drain_lock = FileLock(self.dir / "drain.lock", what="the alert outbox delivery")

    # -- writing ----------------------------------------------------------------------
    def _ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _append(self, lines: list[dict[str, Any]]) -> None:
        self._ensure()
        data = "".join(json.dumps(line, separators=(",", ":"), default=str) + "\n" for line in lines)
        self._write_lock.acquire(timeout=30)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = "\n" + data  # a crash tore the last line: never glue onto it
                os.write(fd, data.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            self._write_lock.release()

    def add(self, sink: str, body: dict[str, Any], *, expiry_seconds: float, **meta: Any) -> Message:
        now = time.time()
        msg = Message(id=uuid.uuid4().hex, sink=sink, created=now, expires=now + expiry_seconds, body=body, **meta)
        self._append([msg.as_line()])
        return msg

    def _done(self, msg: Message, result: str, note: str = "") -> None:
        self._append([{"op": "done", "id": msg.id, "result": result, "ts": time.time(), "note": note[:300]}])

    # -- reading ----------------------------------------------------------------------
    def _read(self) -> tuple[list[Message], dict[str, dict[str, Any]]]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], {}
        adds: list[Message] = []
        done: dict[str, dict[str, Any]] = {}
        for n, line in enumerate(raw.splitlines(), 1):
            try:
                rec = json.loads(line)
                if rec.get("op") == "add":
                    fields = {k: v for k, v in rec.items() if k != "op" and k in Message.__dataclass_fields__}
                    adds.append(Message(**fields))
                elif rec.get("op") == "done":
                    done[rec["id"]] = rec
            except (ValueError, TypeError, KeyError):
                log.warning("alert outbox %s line %d is torn or malformed; skipped", self.path, n)
        return adds, done

    def pending(self) -> list[Message]:
        adds, done = self._read()
        return sorted((m for m in adds if m.id not in done), key=lambda m: m.created)

    def depth(self) -> dict[str, dict[str, Any]]:
        """Pending messages per sink: count and the age of the oldest (seconds)."""
        now = time.time()
        out: dict[str, dict[str, Any]] = {}
        for m in self.pending():
            d = out.setdefault(m.sink, {"pending": 0, "oldest_age_s": 0.0, "critical": 0})
            d["pending"] += 1
            d["oldest_age_s"] = max(d["oldest_age_s"], now - m.created)
            d["critical"] += m.severity == "critical"
        return out

    def expired(self, *, since: float = 0.0) -> list[dict[str, Any]]:
        out = []
        try:
            lines = (self.dir / EXPIRED).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if float(rec.get("expired_at") or 0) >= since:
                out.append(rec)
        return out

    def has_pending(self, *, sink: str, dedup_key: str, action: str) -> bool:
        return any(m.sink == sink and m.dedup_key == dedup_key and m.action == action for m in self.pending())

    # -- delivering -------------------------------------------------------------------
    def drain(
        self,
        send: Callable[[Message], None],
        *,
        deadline: float,
        attempts: int = 3,
        backoff: float = 0.5,
        lock_wait: float = 5.0,
    ) -> dict[str, list[str]]:
        """Deliver what is pending, oldest first; returns message ids by outcome."""
        outcome: dict[str, list[str]] = {"delivered": [], "rejected": [], "expired": [], "pending": []}
        if not self.path.exists():
            return outcome
        try:
            self._drain_lock.acquire(timeout=max(0.0, min(lock_wait, deadline - time.monotonic())))
        except LockHeld:
            log.info("another muse process is delivering the alert outbox; leaving it to that one")
            return outcome
        except Exception as exc:  # noqa: BLE001 - the lock's own timeout error
            log.info("alert outbox busy (%s); the next run delivers what is pending", exc)
            return outcome
        try:
            blocked: set[str] = set()
            tried: set[str] = set()
            while True:
                batch = [m for m in self.pending() if m.id not in tried]
                if not batch:
                    break
                for msg in batch:
                    tried.add(msg.id)
                    if time.time() >= msg.expires:
                        self._expire(msg)
                        outcome["expired"].append(msg.id)
                        continue
                    if msg.sink in blocked or time.monotonic() >= deadline:
                        outcome["pending"].append(msg.id)
                        continue
                    result = self._deliver(msg, send, deadline=deadline, attempts=attempts, backoff=backoff)
                    outcome[result].append(msg.id)
                    if result == "pending":
                        blocked.add(msg.sink)
            if not outcome["pending"] and not self.pending():
                self._compact()
        finally:
            self._drain_lock.release()
        return outcome

    def _deliver(
        self, msg: Message, send: Callable[[Message], None], *, deadline: float, attempts: int, backoff: float
    ) -> str:
        what = f"{msg.sink} {msg.action} {msg.title[:60]!r}"
        try:
            retry.call(lambda: send(msg), what=what, attempts=attempts, backoff=backoff, deadline=deadline)
        except NotConfigured as exc:
            log.warning("%s not delivered: %s; kept in the outbox until that is fixed or it expires", what, exc)
            return "pending"
        except Rejected as exc:
            log.error("%s rejected by the sink, not retried: %s", what, exc)
            self._done(msg, "rejected", str(exc))
            return "rejected"
        except Exception as exc:  # noqa: BLE001 - whatever it was, the message stays queued
            age = time.time() - msg.created
            log.warning(
                "%s not delivered yet (%s); kept in the outbox (queued %.0fs, expires in %.0fs)",
                what,
                exc if isinstance(exc, retry.TransientHTTPError) else type(exc).__name__,
                age,
                msg.expires - time.time(),
            )
            return "pending"
        self._done(msg, "delivered")
        if msg.clears:
            self._clear_marker(msg)
        return "delivered"

    def _clear_marker(self, msg: Message) -> None:
        marker = self.state_dir / msg.clears
        try:
            # A page opened again after this resolve was queued stays open.
            if marker.stat().st_mtime <= msg.created:
                marker.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not clear page marker %s: %s", marker, exc)

    def _expire(self, msg: Message) -> None:
        log.error(
            "alert outbox: %s %s %r (%s) expired undelivered after %.1f h",
            msg.sink,
            msg.action,
            msg.title,
            msg.severity,
            (msg.expires - msg.created) / 3600,
        )
        self._ensure()
        rec = {
            "expired_at": time.time(),
            "created": _iso(msg.created),
            "sink": msg.sink,
            "action": msg.action,
            "severity": msg.severity,
            "title": msg.title,
            "dedup_key": msg.dedup_key,
            "kind": msg.kind,
        }
        try:
            with open(self.dir / EXPIRED, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
        except OSError as exc:
            log.warning("could not record the expired alert: %s", exc)
        self._done(msg, "expired")

    def _compact(self) -> None:
        """Nothing pending: start the file afresh (under the write lock, re-checked)."""
        try:
            self._write_lock.acquire(timeout=5)
        except Exception:  # noqa: BLE001
            return
        try:
            adds, done = self._read()
            keep = [m for m in adds if m.id not in done]
            if keep:
                return
            atomic_write_text(self.path, "", mode=0o600)
        except OSError as exc:
            log.warning("could not compact the alert outbox: %s", exc)
        finally:
            self._write_lock.release()
