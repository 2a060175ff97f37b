"""A progress bar for long agent runs: Rich on a TTY (stderr), nothing under cron or a pipe."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[str, int, int], None]


@contextmanager
def progress_bar(*, enabled: bool | None = None) -> Iterator[Progress | None]:
    """Yield a ``progress(label, done, total)`` callback, or None when stderr is not a TTY."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress as RichProgress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update
