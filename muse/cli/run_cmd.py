"""`muse run`: the ordered pipeline."""

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from muse.cli import common
from muse.cli.output import echo, err, print_json, print_table

if TYPE_CHECKING:  # imported lazily by the command itself: `muse --help` stays fast
    from muse.pipeline import PipelineResult


def render_pipeline(result: "PipelineResult", *, as_json: bool) -> None:
    rows = [
        (o.agent, o.status, o.result.rows_written, f"{o.duration_s:.2f}s", o.result.message) for o in result.outcomes
    ]
    if as_json:
        print_json(
            {
                "exit_code": int(result.exit_code),
                "stopped_at": result.stopped_at,
                "reason": result.reason,
                "steps": [
                    {
                        "agent": o.agent,
                        "status": o.status,
                        "exit_code": int(o.exit_code),
                        "rows_written": o.result.rows_written,
                        "duration_s": round(o.duration_s, 3),
                        "message": o.result.message,
                        "run_id": o.run_id,
                    }
                    for o in result.outcomes
                ],
            }
        )
        return
    print_table(["step", "status", "rows", "duration", "message"], rows, title="muse run")
    if result.stopped_at == "council" and result.outcomes[-1].status == "blocked":
        err(f"Stopped at the circuit breaker: {result.reason}")
    elif result.stopped_at:
        echo(f"stopped after {result.stopped_at}: {result.reason}")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        until: Annotated[
            Optional[str],
            typer.Option(
                "--until",
                help="Stop after this agent: ingest-hearts, ingest-packs, watcher, analytics, council, publish, i18n.",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Run the agents in order: ingest hearts, ingest packs, watcher, analytics, council, publish, i18n.

        Stops at the circuit breaker when the watcher has not vouched for the data. Prints one
        row per step and exits with the worst step's code.

        Example: muse run --until watcher
        """
        from muse.errors import UsageError
        from muse.pipeline import AGENTS, run_pipeline

        if until is not None and until not in AGENTS:
            raise UsageError(f"--until must be one of {', '.join(AGENTS)}, not {until!r}")
        result = run_pipeline(common.settings(), until=until, on_wait=common.on_wait)
        render_pipeline(result, as_json=as_json)
        raise typer.Exit(int(result.exit_code))
