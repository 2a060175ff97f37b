"""`muse council`: generate, preview and trace episodes."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, err, print_json, print_markdown, print_table
from muse.errors import InputError, UsageError

if TYPE_CHECKING:
    from muse.analysis.evidence import TraceLine

app = typer.Typer(
    help="The episode generator: every number traceable to a query and its rows.\n\nExample: muse council generate",
    no_args_is_help=True,
)


@app.command("generate")
def generate_cmd(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Emergency override of the watcher's circuit breaker. Warns loudly and records forced: true.",
        ),
    ] = False,
    window_days: Annotated[
        Optional[int],
        typer.Option(
            "--window-days", min=1, max=90, help="Days of data the episode covers (default: council.window_days)."
        ),
    ] = None,
    narrate: Annotated[
        bool,
        typer.Option(
            "--narrate",
            help="Let the LLM narrator write the prose sections (docs/narrator.md); default: narrator.enabled.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write the episode for the latest commits of banterhearts and banterpacks.

    Runs only when the watcher's status file is valid (exit 3 otherwise) unless --force.
    Re-running for the same pair of commits re-renders the same episode number.

    Example: muse council generate --window-days 7
    """
    from muse.agents import council
    from muse.runs import run_agent

    if force:
        err("WARNING: --force overrides the circuit breaker; the episode will say it was forced.")
    extra: dict[str, Any] = {"narrate": True} if narrate else {}
    outcome = run_agent(
        common.settings(), "council", council.run, on_wait=common.on_wait, force=force, window_days=window_days, **extra
    )
    common.render_outcome(outcome, as_json=as_json)


def _episode_path(episode: str) -> tuple[int, "Path"]:
    from muse.store import open_store

    s = common.settings()
    with open_store(s, readonly=True, on_wait=common.on_wait) as store:
        if episode == "latest":
            number = store.query("SELECT max(episode) FROM episodes FINAL WHERE lang = 'en'").scalar()
            if not number:
                raise InputError("no episodes yet; run `muse council generate` first")
        else:
            if not episode.isdigit():
                raise UsageError(f"EPISODE must be a number or 'latest', not {episode!r}")
            number = int(episode)
        row = store.named("council_episode", {"episode": number, "lang": "en"}).first()
    if row is None:
        raise InputError(f"episode {number} does not exist")
    blog = s.repos.banterblogs.dir
    path = (blog / row["path"]) if blog else None
    if path is None or not path.is_file():
        raise InputError(f"episode {number}: file {row['path']} is missing from the blog repo {blog}")
    return number, path


def _episode_text(episode: str) -> tuple[int, str]:
    number, path = _episode_path(episode)
    return number, path.read_text(encoding="utf-8")


@app.command("preview")
def preview_cmd(episode: Annotated[str, typer.Argument(help="Episode number, or 'latest'.")] = "latest") -> None:
    """Render an episode in the terminal (Rich Markdown) without writing anything.

    Example: muse council preview latest
    """
    from muse import episode as epfmt

    _, text = _episode_text(episode)
    doc = epfmt.parse(text)
    fm = doc.front_matter
    echo(f"{fm.get('title')}  [status {fm.get('status')}, confidence {fm.get('confidence')}]")
    print_markdown(doc.body)


@app.command("trace")
def trace_cmd(
    episode: Annotated[str, typer.Argument(help="Episode number, or 'latest'.")] = "latest",
    fact: Annotated[
        Optional[str], typer.Option("--fact", help="Show one fact (e.g. E12) and where it is printed.")
    ] = None,
    run: Annotated[
        bool,
        typer.Option(
            "--run",
            help="With --fact: re-execute the fact's query and rule and "
            "compare the value with the recorded one (exit 1 if it differs).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Map every number in an episode to the fact printed there (evidence sidecar ep-N.evidence.json).

    Exits 1 if any number in the text was not produced by a fact (typed in, or moved by an
    edit), or if --run does not reproduce the recorded value.

    Example: muse council trace 12 --fact E7 --run
    """
    if run and not fact:
        raise UsageError("--run needs --fact ID (re-executes one fact's query)")
    number, facts, lines = _traced(episode)
    if fact:
        _trace_one(number, facts, lines, fact, run=run, as_json=as_json)
        return
    untraced = [t for t in lines if not t.traced]
    if as_json:
        print_json(
            {
                "episode": number,
                "numbers": len(lines),
                "untraced": [t.number for t in untraced],
                "trace": [{"number": t.number, "line": t.line, "fact": t.fact} for t in lines],
            }
        )
    else:
        _print_trace(number, lines, untraced)
    if untraced:
        raise typer.Exit(1)


def _traced(episode: str) -> tuple[int, dict[str, dict[str, Any]], list["TraceLine"]]:
    """The episode's number, its facts by id, and every number of its body traced to its fact."""
    from muse import episode as epfmt
    from muse.analysis.evidence import EvidenceError, load_sidecar, trace

    number, path = _episode_path(episode)
    body = epfmt.parse(path.read_text(encoding="utf-8")).body
    try:
        doc = load_sidecar(path.with_name(epfmt.evidence_name(number)))
    except EvidenceError as exc:
        raise InputError(f"episode {number}: {exc}") from None
    facts = {f["id"]: f for f in doc["facts"]}
    return number, facts, trace(body, doc)


def _trace_one(
    number: int, facts: dict[str, dict[str, Any]], lines: list["TraceLine"], fact: str, *, run: bool, as_json: bool
) -> None:
    """One fact and the lines it is printed on; with ``run`` its value re-computed (exit 1 if it differs)."""
    one = facts.get(fact)
    if one is None:
        raise InputError(f"episode {number} has no fact {fact!r} (it has {len(facts)}: E1..E{len(facts)})")
    where = [t.line for t in lines if t.fact is not None and t.fact["id"] == fact]
    out: dict[str, Any] = {"episode": number, "fact": one, "lines": sorted(set(where))}
    if run:
        from muse.analysis.factrules import check
        from muse.store import open_store

        s = common.settings()
        with open_store(s, readonly=True, on_wait=common.on_wait) as store:
            value, display, same = check(one, store=store, settings=s, facts=facts)
        out["run"] = {"value": value, "display": display, "reproduced": same}
    if as_json:
        print_json(out)
    else:
        rows = [
            (k, str(one.get(k)))
            for k in ("id", "label", "display", "value", "unit", "kind", "query", "params", "rule", "row_keys")
        ]
        rows.append(("printed on lines", ", ".join(map(str, out["lines"])) or "-"))
        if run:
            rows.append(("re-run value", out["run"]["display"]))
            rows.append(
                (
                    "reproduced",
                    "yes"
                    if out["run"]["reproduced"]
                    else f"NO: recorded {one.get('display')}, now {out['run']['display']}",
                )
            )
        print_table(["field", "value"], rows, title=f"episode {number}, fact {fact}")
    if run and not out["run"]["reproduced"]:
        raise typer.Exit(1)


def _print_trace(number: int, lines: list["TraceLine"], untraced: list["TraceLine"]) -> None:
    """Every number with its fact as a table; the untraced ones again on stderr."""
    table: list[tuple[Any, ...]] = []
    for t in lines:
        f = t.fact or {}
        table.append(
            (
                t.line,
                t.number,
                f.get("id", "UNTRACED"),
                f.get("label", ""),
                f.get("query", ""),
                str(f.get("params", ""))[:100],
            )
        )
    print_table(["line", "number", "fact", "what", "query", "parameters"], table, title=f"episode {number}")
    echo(f"{len(lines)} numbers, {len(untraced)} without a fact")
    for t in untraced:
        err(f"untraced: {t.number!r} on line {t.line} of the body was not produced by any fact")


@app.command("narrate")
def narrate_cmd(
    episode: Annotated[str, typer.Argument(help="Episode number, or 'latest'.")] = "latest",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the narrated markdown and every claim kept or dropped, without writing the episode.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: one JSON object {markdown, claims, calls}.")
    ] = False,
) -> None:
    """Narrate an existing episode from its evidence facts with the LLM narrator (docs/narrator.md).

    Every number the models write must be the display of a fact they cite; what fails stays
    templated. Without --dry-run the unpublished episode is re-rendered (same number, new row
    version); a published episode is refused (exit 1).

    Example: muse council narrate 12 --dry-run
    """
    from muse.analysis import narrator
    from muse.runs import run_agent

    number, _ = _episode_path(episode)
    s = common.settings()
    # Its own agent name: a narration must not count as the scheduled council run in `muse health`.
    outcome = run_agent(s, "narrator", narrator.run_narrate, on_wait=common.on_wait, episode=number, dry_run=dry_run)
    res = outcome.result
    d = res.details
    if res.status != "ok" or "markdown" not in d:
        common.render_outcome(outcome, as_json=as_json)
        return
    if as_json:
        print_json(
            {
                "markdown": d["markdown"],
                "claims": [
                    {k: c[k] for k in ("section", "text", "facts", "kept", "reason", "model")} for c in d["claims"]
                ],
                "calls": d["calls"],
                "narration": d["narration"],
            }
        )
        return
    if dry_run:
        echo(d["markdown"])
    rows = [
        (c["section"], "kept" if c["kept"] else "DROPPED", c["model"], ", ".join(c["facts"]), c["text"], c["reason"])
        for c in d["claims"]
    ]
    print_table(["section", "claim", "model", "facts", "text", "reason"], rows, title=f"episode {number}: claims")
    how = d["narration"]["sections"]
    echo("sections: " + "; ".join(f"{k}: {v}" for k, v in how.items()))
    common.render_outcome(outcome, as_json=False)
