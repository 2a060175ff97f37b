"""Metrics and alerts.

Metrics go to DogStatsD over UDP when ``DD_AGENT_HOST`` is set, otherwise to the Datadog
HTTP API when ``DD_API_KEY`` is set, and always to a local record in the state dir
(``metrics.json``: last value per metric and tag set) so ``muse health`` can show them
without Datadog. Metric names and tags are those of the source design.

Alerts route by severity: info -> Datadog event; warning -> + Slack; critical -> + PagerDuty
(Events API v2, stable dedup_key). Every alert is also appended to ``alerts.jsonl``.
A sink that fails is logged and never hides the error being reported.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

from muse.fsutil import atomic_write_text

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
MetricKind = Literal["count", "gauge", "histogram"]


def _tag_list(tags: dict[str, Any] | None) -> list[str]:
    return [f"{k}:{v}" for k, v in sorted((tags or {}).items())]


@dataclass
class Sample:
    name: str
    kind: MetricKind
    value: float
    tags: dict[str, Any]
    ts: float


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
    samples: list[Sample] = field(default_factory=list)
    alerts_sent: list[dict[str, Any]] = field(default_factory=list)
    _statsd: Any = None

    @classmethod
    def from_settings(cls, settings: Any) -> "Telemetry":
        tags = [t.strip() for t in settings["datadog.tags"].split(",") if t.strip()]
        return cls(
            state_dir=settings.state_dir,
            agent_host=settings["datadog.agent_host"],
            agent_port=settings["datadog.dogstatsd_port"],
            api_key=settings["datadog.api_key"],
            app_key=settings["datadog.app_key"],
            api_url=settings["datadog.api_url"],
            constant_tags=tags,
            slack_webhook_url=settings["slack.webhook_url"],
            pagerduty_routing_key=settings["pagerduty.routing_key"],
            pagerduty_events_url=settings["pagerduty.events_url"],
            http_timeout=settings["http.timeout_seconds"],
        )

    @property
    def metrics_sink(self) -> str:
        if self.agent_host:
            return f"dogstatsd {self.agent_host}:{self.agent_port}"
        if self.api_key:
            return f"datadog api {self.api_url}"
        return "local only"

    # -- metrics ------------------------------------------------------------------
    def _send_statsd(self, sample: Sample) -> None:
        if not self.agent_host:
            return
        try:
            if self._statsd is None:
                from datadog.dogstatsd import DogStatsd

                self._statsd = DogStatsd(host=self.agent_host, port=self.agent_port,
                                         constant_tags=self.constant_tags, disable_telemetry=True)
            send = {"count": self._statsd.increment, "gauge": self._statsd.gauge,
                    "histogram": self._statsd.histogram}[sample.kind]
            value = int(sample.value) if sample.value.is_integer() else sample.value
            send(sample.name, value, tags=_tag_list(sample.tags))
        except Exception as exc:  # noqa: BLE001 - telemetry must never break a run
            log.warning("dogstatsd send failed for %s: %s", sample.name, exc)

    def count(self, name: str, value: float = 1, **tags: Any) -> None:
        self._record(name, "count", value, tags)

    def gauge(self, name: str, value: float, **tags: Any) -> None:
        self._record(name, "gauge", value, tags)

    def histogram(self, name: str, value: float, **tags: Any) -> None:
        self._record(name, "histogram", value, tags)

    def _record(self, name: str, kind: MetricKind, value: float, tags: dict[str, Any]) -> None:
        sample = Sample(name, kind, float(value), tags, time.time())
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
        if not pending:
            return
        if not self.agent_host and self.api_key:
            self._send_api(pending)
        self._record_locally(pending)
        for s in pending:
            s._flushed = True  # type: ignore[attr-defined]

    def _send_api(self, samples: list[Sample]) -> None:
        import httpx

        series = [{
            "metric": s.name,
            "points": [[int(s.ts), s.value]],
            "type": {"count": "count", "gauge": "gauge", "histogram": "gauge"}[s.kind],
            "tags": self.constant_tags + _tag_list(s.tags),
        } for s in samples]
        try:
            resp = httpx.post(f"{self.api_url.rstrip('/')}/api/v1/series", json={"series": series},
                              headers={"DD-API-KEY": self.api_key}, timeout=self.http_timeout)
            if resp.status_code >= 300:
                log.warning("datadog api rejected %d metrics: HTTP %d", len(series), resp.status_code)
        except httpx.HTTPError as exc:
            log.warning("datadog api unreachable, %d metrics kept locally only: %s", len(series), exc)

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
            current[key] = {"value": s.value, "kind": s.kind,
                            "ts": datetime.fromtimestamp(s.ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        try:
            atomic_write_text(path, json.dumps(current, indent=1, sort_keys=True), mode=0o600)
        except OSError as exc:
            log.warning("could not record metrics locally: %s", exc)

    # -- alerts -------------------------------------------------------------------
    def alert(self, severity: Severity, title: str, text: str, *, dedup_key: str,
              source: str = "muse", tags: dict[str, Any] | None = None) -> list[str]:
        """Send an alert to the sinks its severity routes to; returns the sinks reached."""
        reached: list[str] = []
        record = {"ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "severity": severity,
                  "title": title, "text": text, "dedup_key": dedup_key, "action": "trigger"}
        log.log(logging.ERROR if severity == "critical" else logging.WARNING if severity == "warning"
                else logging.INFO, "alert [%s] %s: %s", severity, title, text)
        if self._datadog_event(severity, title, text, tags):
            reached.append("datadog")
        if severity in ("warning", "critical") and self._slack(f":rotating_light: *{title}*\n{text}"
                                                                if severity == "critical" else f"*{title}*\n{text}"):
            reached.append("slack")
        if severity == "critical" and self._pagerduty("trigger", dedup_key, summary=f"{title}: {text}"[:1024],
                                                      source=source, severity="critical"):
            reached.append("pagerduty")
        record["sinks"] = reached
        self._append_alert(record)
        return reached

    def resolve(self, *, dedup_key: str, title: str) -> list[str]:
        """Resolve a page opened with the same dedup_key."""
        reached = []
        if self._pagerduty("resolve", dedup_key):
            reached.append("pagerduty")
        self._append_alert({"ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "severity": "info",
                            "title": title, "text": "resolved", "dedup_key": dedup_key, "action": "resolve",
                            "sinks": reached})
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

    def _post(self, sink: str, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> bool:
        import httpx

        try:
            resp = httpx.post(url, json=payload, headers=headers or {}, timeout=self.http_timeout)
        except httpx.HTTPError as exc:
            log.warning("%s alert not delivered: %s", sink, type(exc).__name__)
            return False
        if resp.status_code >= 300:
            log.warning("%s alert not delivered: HTTP %d %s", sink, resp.status_code, resp.text[:200])
            return False
        return True

    def _slack(self, text: str) -> bool:
        if not self.slack_webhook_url:
            return False
        return self._post("slack", self.slack_webhook_url, {"text": text})

    def _pagerduty(self, action: str, dedup_key: str, *, summary: str = "", source: str = "muse",
                   severity: str = "critical") -> bool:
        if not self.pagerduty_routing_key:
            return False
        body: dict[str, Any] = {"routing_key": self.pagerduty_routing_key, "event_action": action,
                                "dedup_key": dedup_key}
        if action == "trigger":
            body["payload"] = {"summary": summary or dedup_key, "source": source, "severity": severity}
        return self._post("pagerduty", self.pagerduty_events_url, body)

    def _datadog_event(self, severity: Severity, title: str, text: str, tags: dict[str, Any] | None) -> bool:
        if not self.api_key:
            return False
        alert_type = {"info": "info", "warning": "warning", "critical": "error"}[severity]
        return self._post("datadog event", f"{self.api_url.rstrip('/')}/api/v1/events",
                          {"title": title, "text": text, "alert_type": alert_type,
                           "tags": self.constant_tags + _tag_list(tags)},
                          headers={"DD-API-KEY": self.api_key})


def read_local_metrics(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
