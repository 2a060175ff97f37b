"""`muse digest`: the last N days at a glance."""

from typing import Annotated, Any

import typer

from muse.cli import common
from muse.cli.output import echo, print_json, scrub, stdout_is_tty


def register(app: typer.Typer) -> None:
    @app.command("digest")
    def digest_cmd(
        days: Annotated[
            int, typer.Option("--days", "-d", min=1, max=366, help="UTC days to cover, today included.")
        ] = 7,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Benchmarks, users, watcher, insights, episodes, deploys, failures and LLM cost, per day.

        Rich tables on a TTY, plain text in a pipe, JSON with --json. Writes nothing.

        Example: muse digest --days 14
        """
        from muse.ops.digest import build_digest, render_digest_text
        from muse.runs import read_ledger
        from muse.store import open_store

        settings = common.settings()
        with open_store(settings, readonly=True, on_wait=common.on_wait) as store:
            digest = build_digest(store, days=days, ledger=read_ledger(settings))
        if as_json:
            print_json(digest)
        elif stdout_is_tty():
            _render_rich(digest)
        else:
            echo(render_digest_text(digest).rstrip("\n"))


def _render_rich(d: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    console.print(_trend_table(d))
    console.print(_per_day_table(d))
    console.print(_status_panel(d))
    _detail_tables(console, d)


def _trend_table(d: dict[str, Any]) -> Any:
    """Each figure's sparkline, latest day and total."""
    from rich.table import Table

    from muse.ops.digest import format_money, format_pct

    daily = d["daily"]
    s = d["sparklines"]
    trend = Table(title=f"muse digest {d['since']} .. {d['until']} (UTC)", title_justify="left")
    for col in ("figure", "trend", "latest", "total"):
        trend.add_column(col)
    trend.add_row(
        "benchmark results",
        f"[cyan]{s['bench_results']}[/]",
        str(daily[-1]["bench_results"]),
        str(d["totals"]["bench_results"]),
    )
    trend.add_row(
        "bench avg p95 ms", f"[cyan]{s['bench_avg_p95_ms']}[/]", str(daily[-1]["bench_avg_p95_ms"] or "-"), ""
    )
    trend.add_row(
        "user sessions", f"[cyan]{s['sessions']}[/]", str(daily[-1]["sessions"]), str(d["totals"]["sessions"])
    )
    trend.add_row(
        "user avg latency ms", f"[cyan]{s['user_avg_latency_ms']}[/]", str(daily[-1]["user_avg_latency_ms"] or "-"), ""
    )
    trend.add_row("user error rate", f"[cyan]{s['user_error_rate']}[/]", format_pct(daily[-1]["user_error_rate"]), "")
    trend.add_row(
        "LLM cost USD",
        f"[cyan]{s['llm_cost_usd']}[/]",
        format_money(daily[-1]["llm_cost_usd"]),
        format_money(d["totals"]["llm_cost_usd"]),
    )
    trend.add_row(
        "failing watcher checks",
        f"[red]{s['watcher_failing']}[/]",
        str(daily[-1]["watcher_failing"]),
        str(sum(r["watcher_failing"] for r in daily)),
    )
    return trend


def _per_day_table(d: dict[str, Any]) -> Any:
    from rich.table import Table

    from muse.ops.digest import format_money, format_pct

    per_day = Table(title="per day (watcher: ok/checks)", title_justify="left", pad_edge=False)
    for col in ("day", "bench", "p95 ms", "sessions", "user ms", "errors", "LLM $", "watcher"):
        per_day.add_column(col, justify="right" if col != "day" else "left", no_wrap=col == "day", min_width=len(col))
    for r in d["daily"]:
        bad = r["watcher_failing"]
        per_day.add_row(
            r["day"],
            str(r["bench_results"]),
            str(r["bench_avg_p95_ms"] or "-"),
            str(r["sessions"]),
            str(r["user_avg_latency_ms"] or "-"),
            format_pct(r["user_error_rate"]),
            format_money(r["llm_cost_usd"]),
            f"{'[red]' if bad else ''}{r['watcher_checks'] - bad}/{r['watcher_checks']}{'[/]' if bad else ''}",
        )
    return per_day


def _status_panel(d: dict[str, Any]) -> Any:
    """The watcher's last check and the open insights."""
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel

    from muse.ops.digest import SEVERITY_ORDER

    last = d["watcher"]["last"]
    lines = [
        f"watcher: last check [bold]{escape(last['status'])}[/] at {last['at']} UTC"
        + (f" - {escape(last['message'])}" if last.get("message") else "")
        if last
        else "watcher: no checks yet"
    ]
    ins = d["insights"]
    if not ins["available"]:
        lines.append(f"insights: {escape(ins['note'])}")
    else:
        counts = ", ".join(
            f"{n} {sev}" for sev, n in sorted(ins["counts"].items(), key=lambda kv: SEVERITY_ORDER.get(kv[0], 3))
        )
        lines.append(f"open insights: {counts or 'none'}")
        colour = {"critical": "red", "warning": "yellow"}
        for i in ins["open"][:10]:
            c = colour.get(i["severity"], "white")
            lines.append(f"  [{c}]{escape(i['severity'])}[/] {escape(i['type'])}: {escape(i['title'][:100])}")
    return Panel(Group(*lines), title="status", title_align="left")


def _detail_tables(console: Any, d: dict[str, Any]) -> None:
    """Episodes, deployments, failed runs and LLM cost: small tables of data-derived (escaped) text."""
    from rich.markup import escape
    from rich.table import Table

    from muse.ops.digest import format_money

    def small(title: str, cols: list[str], rows: list[list[Any]]) -> None:
        t = Table(title=title, title_justify="left")
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*[escape(scrub("-" if v is None else str(v))) for v in r])
        console.print(t)

    if d["episodes"]:
        small(
            "episodes",
            ["episode", "lang", "status", "confidence", "title"],
            [
                [e["episode"], e["lang"], e["status"], round(float(e["confidence_score"]), 2), e["title"][:60]]
                for e in d["episodes"][:20]
            ],
        )
    else:
        console.print("episodes: none in this period")
    if d["deployments"]:
        small(
            "deployments",
            ["episode", "deployment", "status", "build ms", "url"],
            [
                [x["episode"], x["vercel_deployment_id"], x["status"], x["build_time_ms"], x["url"]]
                for x in d["deployments"][:20]
            ],
        )
    if d["failed_runs"]:
        small(
            "failed agent runs",
            ["started", "agent", "run", "status", "message"],
            [
                [
                    f["started_at"],
                    f["agent"],
                    f["run_id"][:8],
                    f.get("status", "failed"),
                    (f["message"] or f["error"] or "")[:90],
                ]
                for f in d["failed_runs"][:20]
            ],
        )
    else:
        console.print("failed agent runs: none")
    if d.get("run_outcomes"):
        from muse.ops.digest import run_outcomes_line

        console.print(escape(run_outcomes_line(d["run_outcomes"])))
    if d["llm_cost"]:
        small(
            f"LLM cost by source and model ({format_money(d['totals']['llm_cost_usd'])} USD)",
            ["source", "model", "calls", "tokens in", "tokens out", "USD"],
            [
                [r["source"], r["model"], r["calls"], r["tokens_in"], r["tokens_out"], format_money(r["cost_usd"])]
                for r in d["llm_cost"]
            ],
        )
