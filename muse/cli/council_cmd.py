"""`muse council`: generate, preview and trace episodes."""

from typing import Annotated, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, err, print_json, print_markdown, print_table
from muse.errors import InputError, UsageError

app = typer.Typer(help="The episode generator: every number traceable to a query and its rows.\n\n"
                       "Example: muse council generate", no_args_is_help=True)


@app.command("generate")
def generate_cmd(
    force: Annotated[bool, typer.Option("--force", help="Emergency override of the watcher's circuit breaker. "
                                        "Warns loudly and records forced: true.")] = False,
    window_days: Annotated[Optional[int], typer.Option("--window-days", min=1, max=90,
                                                       help="Days of data the episode covers (default: council.window_days).")] = None,
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
    outcome = run_agent(common.settings(), "council", council.run, on_wait=common.on_wait,
                        force=force, window_days=window_days)
    common.render_outcome(outcome, as_json=as_json)


def _episode_text(episode: str) -> tuple[int, str]:
    from muse import episode as epfmt
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
    blog = s.path_of("repos.banterblogs.path")
    path = (blog / row["path"]) if blog else None
    if path is None or not path.is_file():
        raise InputError(f"episode {number}: file {row['path']} is missing from the blog repo {blog}")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print every number in an episode with its source: query, parameters and row keys.

    Exits 1 if any number has no evidence.

    Example: muse council trace 12
    """
    from muse import episode as epfmt
    from muse.evidence import trace

    number, text = _episode_text(episode)
    lines = trace(epfmt.parse(text).body)
    untraced = [t.number for t in lines if not t.traced]
    if as_json:
        print_json({"episode": number, "numbers": len(lines), "untraced": untraced,
                    "trace": [{"number": t.number, "evidence": t.evidence} for t in lines]})
    else:
        rows = []
        for t in lines:
            e = t.evidence[0] if t.evidence else {}
            rows.append((t.number, e.get("id", "UNTRACED"), e.get("what", ""), e.get("query", ""),
                         e.get("parameters", ""), e.get("row_keys", "")[:120]))
        print_table(["number", "evidence", "what", "query", "parameters", "row keys"], rows,
                    title=f"episode {number}")
        echo(f"{len(lines)} numbers, {len(untraced)} without evidence")
    if untraced:
        raise typer.Exit(1)
