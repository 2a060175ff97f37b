"""`muse analytics` (run the worker, show a run's records) and `muse insights` (list, ack)."""

from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, Iterator, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, print_kv, print_table

analytics_app = typer.Typer(
    help="Context-aware baselines, z-scores, regressions and cost anomalies over llm_events and bench_runs."
    "\n\nExample: muse analytics run",
    no_args_is_help=True,
)
insights_app = typer.Typer(
    help="Findings of the analytics worker: list them, acknowledge them with a verdict, see precision per type."
    "\n\nExample: muse insights list --open",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Verdict(str, Enum):
    true_positive = "true-positive"
    false_positive = "false-positive"


class InsightType(str, Enum):
    latency_regression = "latency_regression"
    throughput_regression = "throughput_regression"
    cost_regression = "cost_regression"
    outlier = "outlier"
    cost_anomaly = "cost_anomaly"
    ingestion_gap = "ingestion_gap"


def register(app: typer.Typer) -> None:
    app.add_typer(analytics_app, name="analytics")
    app.add_typer(insights_app, name="insights")


@analytics_app.command("run")
def run_cmd(
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Re-analyse every row (after changing baseline settings); "
            "baselines are recomputed, insights are not duplicated.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Analyse llm_events and bench_runs rows not analysed yet; write records and insights.

    Incremental: a re-run with nothing new does nothing. Alerts: a cost anomaly (Slack) and
    benchmark regressions (warning: Slack, critical: PagerDuty) alert once each.

    Example: muse analytics run
    """
    from muse.agents import analytics
    from muse.runs import run_agent

    outcome = run_agent(common.settings(), "analytics", analytics.run, on_wait=common.on_wait, full=full)

    def extra() -> None:
        for line in outcome.result.details.get("summary", []):
            echo(line)

    common.render_outcome(outcome, as_json=as_json, extra=extra)


@analytics_app.command("show")
def show_cmd(
    run_id: Annotated[str, typer.Argument(help="run_id of llm_events / bench_runs rows (or its first 8+ characters).")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Records to list (the summary covers all).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show the analysed records of one run: input, metrics, baselines, anomaly scores, efficiency, temporal.

    Example: muse analytics show 3f2a9c1e --json
    """
    from muse.analysis.analytics_view import show_run

    with _store(readonly=True) as store:
        view = show_run(store, run_id, limit=limit)
    if as_json:
        print_json(view)
        return
    m, a, e = view["metrics"], view["anomaly_scores"], view["efficiency"]
    print_kv(
        [
            ("run_id", view["run_id"]),
            ("rows", f"{view['rows']} ({', '.join(f'{v} {k}' for k, v in view['kinds'].items())})"),
            ("first / last", f"{view['temporal']['first']} / {view['temporal']['last']}"),
            ("total cost (USD)", _fmt(m["total_cost"])),
            ("total duration (ms)", _fmt(m["total_duration_ms"])),
            ("messages / errors", f"{m['message_count']} / {m['error_count']}"),
            ("input categories", ", ".join(f"{k}: {v}" for k, v in view["input"]["categories"].items()) or "-"),
            ("baselines used", ", ".join(f"{k}: {v}" for k, v in view["baselines"]["levels_used"].items())),
            (
                "max |z| cost / latency / tokens",
                " / ".join(_fmt(a[k]) for k in ("max_abs_cost_z", "max_abs_latency_z", "max_abs_tokens_z")),
            ),
            ("outlier / extreme rows", f"{a['outlier_rows']} / {a['extreme_rows']}"),
            ("cost per token / tokens per s", f"{_fmt(e['cost_per_token'])} / {_fmt(e['tokens_per_sec'])}"),
        ],
        title=f"analytics of run {view['run_id']}",
    )
    rows = []
    for r in view["records"]:
        s = r["anomaly_scores"]
        flags = ",".join(
            n
            for n, on in (
                ("cost", s["is_cost_outlier"]),
                ("latency", s["is_latency_outlier"]),
                ("tokens", s["is_tokens_outlier"]),
            )
            if on
        )
        what = (
            f"{r['model']} {r.get('operation', '')}"
            if r["kind"] == "llm"
            else f"{r['model']} {r['quant']} {r['dataset']}"
        )
        rows.append(
            (
                r["ts"],
                r["kind"],
                what.strip(),
                r["input"]["category"] or "-",
                s["state"],
                r["baselines"]["used"] or "-",
                _fmt(s["cost_z_score"]),
                _fmt(s["latency_z_score"]),
                _fmt(s["tokens_z_score"]),
                ("EXTREME " if s["is_extreme"] else "") + flags,
            )
        )
    print_table(
        ["ts", "kind", "what", "input", "state", "baseline", "cost z", "latency z", "tokens z", "outlier"],
        rows,
        title=f"records ({view['shown']} of {view['rows']})",
    )


@insights_app.command("list")
def list_cmd(
    severity: Annotated[Optional[Severity], typer.Option("--severity", help="Only this severity.")] = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="Only open insights (not acknowledged or resolved).")
    ] = False,
    type_: Annotated[Optional[InsightType], typer.Option("--type", help="Only this type.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List insights (open first, most severe first) and the precision of each insight type.

    Precision = true positives / insights acknowledged with a verdict.

    Example: muse insights list --severity critical --open
    """
    from muse.analysis import insights
    from muse.hours import ts_str

    with _store(readonly=True) as store:
        found = insights.list_insights(
            store,
            severity=severity.value if severity else None,
            type=type_.value if type_ else None,
            open_only=open_only,
            limit=limit,
        )
        precision = insights.precision(store)
    if as_json:
        print_json({"insights": [i.to_json() for i in found], "precision": precision})
        return
    print_table(
        ["id", "severity", "status", "type", "observed", "title"],
        [
            (
                i.insight_id,
                i.severity,
                i.status + (f" ({i.verdict})" if i.verdict else ""),
                i.type,
                ts_str(i.observed_at)[:16],
                i.title,
            )
            for i in found
        ],
        title=f"insights ({len(found)})",
    )
    print_table(
        ["type", "total", "open", "acknowledged", "true+", "false+", "precision"],
        [
            (
                p["type"],
                p["total"],
                p["open"],
                p["acknowledged"],
                p["true_positives"],
                p["false_positives"],
                "-" if p["precision"] is None else f"{p['precision']:.0%}",
            )
            for p in precision
        ],
        title="precision per type",
    )
    if not found:
        echo("no insights match")


@insights_app.command("ack")
def ack_cmd(
    insight_id: Annotated[str, typer.Argument(help="Insight id (or a unique prefix of 4+ characters).")],
    verdict: Annotated[Optional[Verdict], typer.Option("--verdict", help="Was it a real problem?")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="Who acknowledges (default: the login name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an insight, optionally with a verdict that counts towards precision.

    Acknowledging again changes the verdict.

    Example: muse insights ack 3f2a9c1e0b7d4e55 --verdict true-positive --by alice
    """
    import getpass

    from muse.analysis import insights

    who = by if by is not None else _login(getpass)
    with _store(readonly=False) as store:
        ins = insights.acknowledge(store, insight_id, by=who, verdict=verdict.value if verdict else None)
    if as_json:
        print_json(ins.to_json())
        return
    echo(
        f"acknowledged {ins.insight_id} ({ins.type}, {ins.severity}) by {ins.acknowledged_by}"
        + (f", verdict {ins.verdict}" if ins.verdict else ", no verdict")
        + f": {ins.title}"
    )


@contextmanager
def _store(*, readonly: bool) -> Iterator[Any]:
    """The store, refusing a schema without the analytics tables (exit 2, says to migrate)."""
    from muse import migrations
    from muse.store import open_store

    settings = common.settings()
    with open_store(settings, readonly=readonly, on_wait=common.on_wait) as store:
        migrations.require_current(store, cluster=settings.store.cluster)
        yield store


def _login(getpass: Any) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)
