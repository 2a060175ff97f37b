"""Metrics and alerts.

Metrics go to DogStatsD over UDP when ``DD_AGENT_HOST`` is set, otherwise to the Datadog
HTTP API when ``DD_API_KEY`` is set, and always to a local record in the state dir
(``metrics.json``: last value per metric and tag set) so ``muse health`` can show them
without Datadog. Metric names and tags are those of the source design.

Alerts route by severity: info -> Datadog event; warning -> + Slack; critical -> + PagerDuty
(Events API v2, stable dedup_key). With only a DogStatsD agent configured, alerts also go
to it as DogStatsD events. Every alert and resolve is first written to the outbox
(``muse.outbox``) and then delivered with retries (``muse.retry``): what a sink does not
accept is retried by the next muse run until it is accepted or expires
(``alerts.expiry_hours``). Every alert is also appended to ``alerts.jsonl``. A sink that
fails is logged and never hides the error being reported. See docs/alerts.md.

Metrics stamped with their own time (``timestamp=``, a backfill) are not sent over
DogStatsD (which would stamp them now): they go over the HTTP API with their timestamps
when an API key is set and they are less than an hour old (Datadog drops older points),
otherwise they are recorded locally only.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

from muse import retry
from muse.fsutil import atomic_write_text
from muse.outbox import Message, NotConfigured, Outbox, Rejected

if TYPE_CHECKING:
    from muse.config import Settings

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
MetricKind = Literal["count", "gauge", "histogram"]


# Seconds after which a sample stamped with its own time counts as a backfill, and the
# oldest point Datadog's series API ingests (older ones are dropped without error).
# A cron run reports the hour it just ingested; points older than two hours are a backfill.
BACKFILL_AFTER_S = 7200.0
SERIES_MAX_AGE_S = 3600.0
MAX_MODEL_TAGS = 20
# Tags with unbounded values: alerts carry them in their text, never as event tags.
UNBOUNDED_TAGS = frozenset({"run_id", "insight", "episode", "commit_sha"})
PAGERDUTY_SUMMARY_MAX = 1024
DATADOG_TITLE_MAX = 100
DATADOG_TEXT_MAX = 4000
TRUNCATED = " …[truncated]"
# Datadog's v1 events API takes date_happened no older than 18 hours.
DATADOG_EVENT_MAX_AGE_S = 18 * 3600.0


def _tag_list(tags: dict[str, Any] | None) -> list[str]:
    """``k:v`` tags, sorted; a list value gives one tag per item (``repo:a``, ``repo:b``)."""
    out = []
    for k, v in sorted((tags or {}).items()):
        for item in v if isinstance(v, (list, tuple)) else [v]:
            out.append(f"{k}:{item}")
    return out


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying so."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def slack_escape(text: str) -> str:
    """Slack's three control characters (its docs: escape &, <, > in message text)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def datadog_escape(text: str) -> str:
    """A zero-width space after every ``@``: a data-derived ``@pagerduty-...`` in event
    text can never act as a Datadog notification handle (a precaution)."""
    return str(text).replace("@", "@\u200b")


def bounded_models(models: Iterable[str], limit: int = 0) -> dict[str, str]:
    """The ``model`` tag value of each model: the ``limit`` most frequent models by name
    (``MAX_MODEL_TAGS``), every other one ``other``, so the tag's cardinality is bounded."""
    limit = limit or MAX_MODEL_TAGS
    counts: dict[str, int] = {}
    for m in models:
        counts[str(m)] = counts.get(str(m), 0) + 1
    keep = set(sorted(counts, key=lambda m: (-counts[m], m))[:limit])
    return {m: (m if m in keep else "other") for m in counts}


def alert_kind(title: str) -> str:
    """A stable name for the kind of an alert: its title without numbers or punctuation."""
    slug = re.sub(r"[^a-z]+", "-", re.sub(r"\d+", "", title.lower())).strip("-")
    return slug[:100] or "alert"


def _pagerduty_trigger(
    title: str, text: str, dedup_key: str, source: str, kind: str, details: dict[str, Any]
) -> dict[str, Any]:
    """A PagerDuty Events API v2 trigger; the unbounded tags (run id, episode...) go to
    custom_details, which is left out when there are none."""
    payload: dict[str, Any] = {
        "summary": truncate(f"{title}: {text}", PAGERDUTY_SUMMARY_MAX),
        "source": source,
        "severity": "critical",
        "class": kind,
    }
    if details:
        payload["custom_details"] = {k: str(v)[:200] for k, v in details.items()}
    return {"event_action": "trigger", "dedup_key": dedup_key, "payload": payload}


@dataclass
class Sample:
    name: str
    kind: MetricKind
    value: float
    tags: dict[str, Any]
    ts: float
    backfill: bool = False


@dataclass
class Telemetry:
    """Collects metrics for one process and flushes them to every configured sink."""

    state_dir: Path | None = None
    agent_host: str = ""
    agent_port: int = 8125
    api_key: str = ""
    app_key: str = ""
    api_url: str = "https://api.datadoghq.com"
    constant_tags: list[str] = field(default_factory=list)
    slack_webhook_url: str = ""
    pagerduty_routing_key: str = ""
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    http_timeout: float = 10.0
    http_retries: int = 3
    http_backoff: float = 0.5
    alert_expiry_hours: float = 24.0
    # Longest this process spends delivering (retry waits included), over all its flushes.
    delivery_deadline_seconds: float = 30.0
    # An absolute time.monotonic() deadline of the run, if it has one.
    deadline: float | None = None
    samples: list[Sample] = field(default_factory=list)
    alerts_sent: list[dict[str, Any]] = field(default_factory=list)
    _statsd: Any = None
    _delivery_spent: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Telemetry":
        tags = [t.strip() for t in settings.datadog.tags.split(",") if t.strip()]
        return cls(
            state_dir=settings.state_dir,
            agent_host=settings.datadog.agent_host,
            agent_port=settings.datadog.dogstatsd_port,
            api_key=settings.datadog.api_key,
            app_key=settings.datadog.app_key,
            api_url=settings.datadog.api_url,
            constant_tags=tags,
            slack_webhook_url=settings.slack.webhook_url,
            pagerduty_routing_key=settings.pagerduty.routing_key,
            pagerduty_events_url=settings.pagerduty.events_url,
            http_timeout=settings.http.timeout_seconds,
            http_retries=settings.http.retries,
            http_backoff=settings.http.retry_backoff_seconds,
            alert_expiry_hours=settings.alerts.expiry_hours,
            delivery_deadline_seconds=settings.alerts.delivery_deadline_seconds,
        )

    @property
    def metrics_sink(self) -> str:
        if self.agent_host:
            return f"dogstatsd {self.agent_host}:{self.agent_port}"
        if self.api_key:
            return f"datadog api {self.api_url}"
        return "local only"

    # -- metrics ------------------------------------------------------------------
    def _client(self) -> Any:
        if self._statsd is None:
            from datadog.dogstatsd import DogStatsd

            self._statsd = DogStatsd(
                host=self.agent_host, port=self.agent_port, constant_tags=self.constant_tags, disable_telemetry=True
            )
        return self._statsd

    def _send_statsd(self, sample: Sample) -> None:
        if not self.agent_host or sample.backfill:
            return
        try:
            self._client()
            send = {"count": self._statsd.increment, "gauge": self._statsd.gauge, "histogram": self._statsd.histogram}[
                sample.kind
            ]
            value = int(sample.value) if sample.value.is_integer() else sample.value
            send(sample.name, value, tags=_tag_list(sample.tags))
        except Exception as exc:  # noqa: BLE001 - telemetry must never break a run
            log.warning("dogstatsd send failed for %s: %s", sample.name, exc)

    def count(self, name: str, value: float = 1, *, timestamp: float | None = None, **tags: Any) -> None:
        self._record(name, "count", value, tags, timestamp)

    def gauge(self, name: str, value: float, *, timestamp: float | None = None, **tags: Any) -> None:
        self._record(name, "gauge", value, tags, timestamp)

    def histogram(self, name: str, value: float, **tags: Any) -> None:
        self._record(name, "histogram", value, tags, None)

    def _record(self, name: str, kind: MetricKind, value: float, tags: dict[str, Any], timestamp: float | None) -> None:
        now = time.time()
        ts = now if timestamp is None else float(timestamp)
        sample = Sample(name, kind, float(value), tags, ts, backfill=now - ts > BACKFILL_AFTER_S)
        self.samples.append(sample)
        self._send_statsd(sample)

    def flush(self) -> None:
        """Deliver everything recorded so far; called before the process exits."""
        if self._statsd is not None:
            try:
                self._statsd.flush()
            except Exception as exc:  # noqa: BLE001
                log.warning("dogstatsd flush failed: %s", exc)
        pending = [s for s in self.samples if not getattr(s, "_flushed", False)]
        if pending:
            via_api = [s for s in pending if not self.agent_host or s.backfill]
            if via_api:
                self._send_api(via_api)
            self._record_locally(pending)
            for s in pending:
                s._flushed = True  # type: ignore[attr-defined]
        # Whatever earlier runs (or this one) could not deliver.
        self.deliver_pending()

    def _send_api(self, samples: list[Sample]) -> None:
        now = time.time()
        fresh = [s for s in samples if now - s.ts < SERIES_MAX_AGE_S]
        too_old = len(samples) - len(fresh)
        if too_old:
            log.info(
                "%d backfilled metric point(s) older than an hour not sent (Datadog drops them); they are in the store",
                too_old,
            )
        if not fresh or not self.api_key:
            if fresh and self.agent_host:
                log.info(
                    "%d backfilled metric point(s) not sent: DogStatsD would stamp them now and no DD_API_KEY is set",
                    len(fresh),
                )
            return
        series = [
            {
                "metric": s.name,
                "points": [[int(s.ts), s.value]],
                "type": {"count": "count", "gauge": "gauge", "histogram": "gauge"}[s.kind],
                "tags": self.constant_tags + _tag_list(s.tags),
            }
            for s in fresh
        ]
        # Datadog ingests a point up to an hour after its timestamp: that is its expiry.
        expiry = max(1.0, SERIES_MAX_AGE_S - (now - min(s.ts for s in fresh)))
        self._enqueue_and_deliver(
            [("datadog series", {"series": series}, {"title": f"{len(series)} metric points"})], expiry_seconds=expiry
        )

    def _record_locally(self, samples: Iterable[Sample]) -> None:
        if self.state_dir is None:
            return
        path = self.state_dir / "metrics.json"
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except (OSError, ValueError):
            current = {}
        for s in samples:
            key = s.name + ("{" + ",".join(_tag_list(s.tags)) + "}" if s.tags else "")
            current[key] = {
                "value": s.value,
                "kind": s.kind,
                "ts": datetime.fromtimestamp(s.ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        try:
            atomic_write_text(path, json.dumps(current, indent=1, sort_keys=True), mode=0o600)
        except OSError as exc:
            log.warning("could not record metrics locally: %s", exc)

    # -- alerts -------------------------------------------------------------------
    def alert(
        self,
        severity: Severity,
        title: str,
        text: str,
        *,
        dedup_key: str,
        source: str = "muse",
        tags: dict[str, Any] | None = None,
        kind: str | None = None,
    ) -> list[str]:
        """Send an alert to the sinks its severity routes to; returns the sinks that accepted it
        in this call (the others keep it in the outbox for the next run)."""
        kind = kind or alert_kind(title)
        tags = dict(tags or {})
        details = {k: tags.pop(k) for k in sorted(tags) if k in UNBOUNDED_TAGS}
        full_text = text + ("\n\n" + "\n".join(f"{k}: {v}" for k, v in details.items()) if details else "")
        record: dict[str, Any] = {
            "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "severity": severity,
            "title": title,
            "text": text,
            "dedup_key": dedup_key,
            "action": "trigger",
            "kind": kind,
        }
        log.log(
            logging.ERROR if severity == "critical" else logging.WARNING if severity == "warning" else logging.INFO,
            "alert [%s] %s: %s",
            severity,
            title,
            text,
        )
        meta = {"severity": severity, "kind": kind, "action": "trigger", "dedup_key": dedup_key, "title": title}
        alert_type = {"info": "info", "warning": "warning", "critical": "error"}[severity]
        queue: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        reached: list[str] = []
        if self.api_key:
            event = self._datadog_event_body(severity, title, full_text, alert_type, kind, tags)
            queue.append(("datadog event", event, {**meta, "max_age": DATADOG_EVENT_MAX_AGE_S}))
        elif self.agent_host and self._dogstatsd_event(title, full_text, alert_type, kind, tags):
            reached.append("dogstatsd")
        if severity in ("warning", "critical") and self.slack_webhook_url:
            safe = f"*{slack_escape(title)}*\n{slack_escape(full_text)}"
            queue.append(("slack", {"text": f":rotating_light: {safe}" if severity == "critical" else safe}, meta))
        if severity == "critical" and self.pagerduty_routing_key:
            queue.append(("pagerduty", _pagerduty_trigger(title, text, dedup_key, source, kind, details), meta))
        reached += self._enqueue_and_deliver(queue, expiry_seconds=self.alert_expiry_hours * 3600)
        record["sinks"] = reached
        record["queued"] = [q[0] for q in queue if q[0] not in reached]
        self._append_alert(record)
        return reached

    def _datadog_event_body(
        self, severity: Severity, title: str, text: str, alert_type: str, kind: str, tags: dict[str, Any]
    ) -> dict[str, Any]:
        """A Datadog event (POST /api/v1/events): escaped, cut to Datadog's limits, aggregated by kind."""
        return {
            "title": truncate(datadog_escape(title), DATADOG_TITLE_MAX),
            "text": truncate(datadog_escape(text), DATADOG_TEXT_MAX),
            "alert_type": alert_type,
            "aggregation_key": kind,
            "source_type_name": "muse",
            "priority": "normal" if severity != "info" else "low",
            "date_happened": int(time.time()),
            "tags": self.constant_tags + _tag_list(tags),
        }

    def resolve(self, *, dedup_key: str, title: str, clears: Path | None = None) -> list[str]:
        """Resolve a page opened with the same dedup_key. ``clears``: a page marker removed
        only once PagerDuty accepted the resolve (at once when PagerDuty is not configured)."""
        reached: list[str] = []
        queued: list[str] = []
        rel = ""
        if clears is not None and self.state_dir is not None:
            try:
                rel = str(Path(clears).relative_to(self.state_dir))
            except ValueError:
                rel = ""
        if self.pagerduty_routing_key:
            outbox = self._outbox()
            if (
                outbox is not None
                and rel
                and any(m.clears == rel and m.dedup_key == dedup_key for m in outbox.pending())
            ):
                queued.append("pagerduty")  # an earlier run queued it; deliver_pending retries it
                self.deliver_pending()
            else:
                meta = {
                    "severity": "info",
                    "kind": "resolve",
                    "action": "resolve",
                    "dedup_key": dedup_key,
                    "title": title,
                    "clears": rel,
                }
                reached = self._enqueue_and_deliver(
                    [("pagerduty", {"event_action": "resolve", "dedup_key": dedup_key}, meta)],
                    expiry_seconds=self.alert_expiry_hours * 3600,
                )
                queued = [] if reached else ["pagerduty"]
        elif clears is not None:
            Path(clears).unlink(missing_ok=True)
        self._append_alert(
            {
                "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "severity": "info",
                "title": title,
                "text": "resolved",
                "dedup_key": dedup_key,
                "action": "resolve",
                "sinks": reached,
                "queued": queued,
            }
        )
        if queued:
            log.warning(
                "resolve [%s] %s not accepted yet; kept in the outbox, the page stays open until it is",
                dedup_key,
                title,
            )
        else:
            log.info("resolved [%s] %s", dedup_key, title)
        return reached

    def _append_alert(self, record: dict[str, Any]) -> None:
        self.alerts_sent.append(record)
        if self.state_dir is None:
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(self.state_dir / "alerts.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError as exc:
            log.warning("could not record alert locally: %s", exc)

    # -- delivery -------------------------------------------------------------------
    def _outbox(self) -> Outbox | None:
        return Outbox(self.state_dir) if self.state_dir is not None else None

    def _drain_deadline(self) -> float:
        end = time.monotonic() + max(0.0, self.delivery_deadline_seconds - self._delivery_spent)
        return min(end, self.deadline) if self.deadline is not None else end

    def _enqueue_and_deliver(
        self, queue: list[tuple[str, dict[str, Any], dict[str, Any]]], *, expiry_seconds: float
    ) -> list[str]:
        """Write each (sink, body, meta) to the outbox, then deliver; the sinks that accepted."""
        if not queue:
            return []
        outbox = self._outbox()
        msgs: list[Message] = []
        if outbox is not None:
            try:
                msgs = [
                    outbox.add(
                        sink,
                        body,
                        **{k: v for k, v in meta.items() if k != "max_age"},
                        expiry_seconds=min(expiry_seconds, meta.get("max_age", expiry_seconds)),
                    )
                    for sink, body, meta in queue
                ]
            except Exception as exc:  # noqa: BLE001 - an unwritable outbox must not lose the alert
                log.warning("alert outbox unwritable (%s); sending without it", exc)
                outbox, msgs = None, []
        if outbox is None:
            now = time.time()
            reached = []
            t0 = time.monotonic()
            for sink, body, meta in queue:
                meta = {k: v for k, v in meta.items() if k != "max_age"}
                msg = Message(id="", sink=sink, created=now, expires=now + expiry_seconds, body=body, **meta)
                try:
                    retry.call(
                        functools.partial(self._send, msg),
                        what=f"{sink} {meta.get('action', '')}",
                        attempts=self.http_retries,
                        backoff=self.http_backoff,
                        deadline=self._drain_deadline(),
                    )
                    reached.append(sink)
                except Exception as exc:  # noqa: BLE001
                    log.warning("%s alert not delivered: %s", sink, exc)
            self._delivery_spent += time.monotonic() - t0
            return reached
        done = self.deliver_pending()
        return [m.sink for m in msgs if m.id in done.get("delivered", [])]

    def deliver_pending(self) -> dict[str, list[str]]:
        """Deliver the outbox (this run's messages and any earlier run's), oldest first."""
        outbox = self._outbox()
        if outbox is None:
            return {}
        t0 = time.monotonic()
        try:
            return outbox.drain(
                self._send, deadline=self._drain_deadline(), attempts=self.http_retries, backoff=self.http_backoff
            )
        except Exception as exc:  # noqa: BLE001 - delivery must never break a run
            log.warning("alert outbox delivery failed: %s", exc)
            return {}
        finally:
            self._delivery_spent += time.monotonic() - t0

    def _send(self, msg: Message) -> None:
        """One attempt to hand ``msg`` to its sink; raises as ``muse.retry`` and the outbox expect."""
        import httpx

        body = msg.body
        headers: dict[str, str] = {}
        if msg.sink == "slack":
            if not self.slack_webhook_url:
                raise NotConfigured("slack.webhook_url is not set")
            url = self.slack_webhook_url
        elif msg.sink == "pagerduty":
            if not self.pagerduty_routing_key:
                raise NotConfigured("pagerduty.routing_key is not set")
            url = self.pagerduty_events_url
            body = {"routing_key": self.pagerduty_routing_key, **body}
        elif msg.sink in ("datadog event", "datadog series"):
            if not self.api_key:
                raise NotConfigured("datadog.api_key is not set")
            url = self.api_url.rstrip("/") + ("/api/v1/events" if msg.sink == "datadog event" else "/api/v1/series")
            headers = {"DD-API-KEY": self.api_key}
        else:
            raise Rejected(f"unknown sink {msg.sink!r}")
        resp = httpx.post(url, json=body, headers=headers, timeout=self.http_timeout)
        if resp.status_code < 300:
            return
        retry.check_response(resp, msg.sink)
        detail = f"HTTP {resp.status_code} {resp.text[:200]}".strip()
        if resp.status_code in (400, 413, 422):
            raise Rejected(detail)
        # 401/403/404/410: a key, URL or channel to fix; kept until it is fixed or expires.
        raise NotConfigured(detail)

    def _dogstatsd_event(self, title: str, text: str, alert_type: str, kind: str, tags: dict[str, Any]) -> bool:
        try:
            self._client().event(
                truncate(datadog_escape(title), DATADOG_TITLE_MAX),
                truncate(datadog_escape(text), DATADOG_TEXT_MAX),
                alert_type=alert_type,
                aggregation_key=kind,
                source_type_name="muse",
                date_happened=int(time.time()),
                tags=_tag_list(tags),
            )
            return True
        except Exception as exc:  # noqa: BLE001 - telemetry must never break a run
            log.warning("dogstatsd event not sent: %s", exc)
            return False


def read_local_metrics(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
