"""The ordered pipeline behind `muse run` and `muse demo`.

ingest hearts (pending) -> ingest packs -> watcher check -> analytics -> council generate ->
publish -> i18n sync. Each step is a normal agent run (its own lock, agent_runs row and
metrics). A failing ingest does not stop the pipeline: the watcher exists to catch what it
missed. The council's circuit breaker does: when the council is blocked, the pipeline
stops there and says so. The exit code is the worst step's.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from muse.config import Settings
from muse.errors import ExitCode
from muse.runs import RunOutcome, run_agent
from muse.telemetry import Telemetry


@dataclass(frozen=True)
class Step:
    agent: str  # name in agent_runs and locks
    module: str  # muse.agents.<module>
    options: dict[str, Any] = field(default_factory=dict)


STEPS: tuple[Step, ...] = (
    Step("ingest-hearts", "ingest_hearts", {"pending": True}),
    Step("ingest-packs", "ingest_packs", {}),
    Step("watcher", "watcher", {}),
    Step("analytics", "analytics", {}),
    Step("council", "council", {}),
    Step("publish", "publisher", {"episode": "latest"}),
    Step("i18n", "i18n", {}),
)
AGENTS: tuple[str, ...] = tuple(s.agent for s in STEPS)

# Worst first: the pipeline exits with the code of its worst step.
_SEVERITY = {
    ExitCode.OK: 0,
    ExitCode.SKIPPED: 1,
    ExitCode.BLOCKED: 2,
    ExitCode.USAGE: 3,
    ExitCode.FAILED: 4,
    ExitCode.STORE_UNAVAILABLE: 5,
}


@dataclass
class PipelineResult:
    outcomes: list[RunOutcome]
    stopped_at: str | None
    reason: str

    @property
    def exit_code(self) -> ExitCode:
        if not self.outcomes:
            return ExitCode.OK
        return max((o.exit_code for o in self.outcomes), key=lambda c: _SEVERITY.get(ExitCode(c), 4))


def run_pipeline(
    settings: Settings,
    *,
    until: str | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    on_step: Callable[[RunOutcome], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    telemetry: Telemetry | None = None,
) -> PipelineResult:
    """Run the steps in order up to and including ``until``.

    ``overrides`` adds options per agent (the demo backfills ingest-packs over its whole
    history); ``telemetry`` replaces the configured sinks (the demo keeps metrics local).
    """
    if until is not None and until not in AGENTS:
        raise ValueError(f"unknown agent {until!r}; one of: {', '.join(AGENTS)}")
    outcomes: list[RunOutcome] = []
    for step in STEPS:
        module = importlib.import_module(f"muse.agents.{step.module}")
        options = {**step.options, **(overrides or {}).get(step.agent, {})}
        outcome = run_agent(settings, step.agent, module.run, on_wait=on_wait, telemetry=telemetry, **options)
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
        if outcome.status == "interrupted":
            return PipelineResult(outcomes, step.agent, outcome.result.message)
        if step.agent == "council" and outcome.status in ("blocked", "failed", "skipped", "unavailable"):
            why = "the circuit breaker is open: " if outcome.status == "blocked" else "the council did not run: "
            return PipelineResult(outcomes, step.agent, why + outcome.result.message)
        if step.agent == until:
            return PipelineResult(outcomes, step.agent, f"stopped after {until} as asked (--until)")
    return PipelineResult(outcomes, None, "all steps ran")
