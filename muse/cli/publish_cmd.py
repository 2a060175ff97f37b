"""`muse publish`: put an episode on the blog (drafts branch or main + Vercel), or roll it back.

Both `muse publish 12` and `muse publish rollback 12` must work, but a group whose
callback takes a positional EPISODE would swallow the word `rollback`. So the group routes
anything that is not one of its subcommands to a hidden `run` subcommand:
`muse publish`, `muse publish latest`, `muse publish 12 --approve` all mean `muse publish run ...`.
"""

from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from muse.cli import common

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


class PublishGroup(TyperGroup):
    """Routes `muse publish [EPISODE|latest] [options]` to the hidden `run` subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        help_names = set(ctx.help_option_names)
        if not args or (args[0] not in self.commands and args[0] not in help_names):
            args = ["run", *args]
        return super().parse_args(ctx, args)


class _RoutedContext(typer.Context):
    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else super().command_path


class _RoutedCommand(TyperCommand):
    """The hidden `run` command, shown to people as `muse publish` itself (usage, errors)."""

    context_class = _RoutedContext


app = typer.Typer(
    cls=PublishGroup,
    help="Publish an episode to the blog repo and Vercel, or roll one back.\n\n"
    "muse publish [EPISODE|latest] [--approve] [--by NAME] [--json]: validate, then commit a "
    "low-confidence episode to the drafts branch for review, or commit it to main, tag "
    "episode-N, push and deploy; a failed deploy is reverted and rolled back.\n\n"
    "muse publish rollback EPISODE: withdraw a published episode.\n\n"
    "Example: muse publish 12 --approve --by ana",
    subcommand_metavar="[EPISODE|latest] [--approve] [--by NAME] | rollback EPISODE",
    no_args_is_help=False,
)


@app.command("run", hidden=True, cls=_RoutedCommand)
def run_cmd(
    episode: Annotated[
        str, typer.Argument(metavar="[EPISODE|latest]", help="Episode number, or 'latest' (the newest episode).")
    ] = "latest",
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            help="Publish a reviewed low-confidence draft to main; "
            "records the approver in the front-matter and the episodes row.",
        ),
    ] = False,
    by: Annotated[
        Optional[str], typer.Option("--by", metavar="NAME", help="Who approved it (default: the current user).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish EPISODE (default: latest): validate, drafts branch or main + tag + deploy.

    Exit 0 when published, committed as a draft, or already published; 1 when invalid or
    the push or deploy failed (after reverting and alerting); 2 for bad arguments.

    Example: muse publish latest
    """
    from muse.agents import publisher
    from muse.runs import run_agent

    if by is not None and not approve:
        raise typer.BadParameter("--by only makes sense with --approve", param_hint="--by")
    outcome = run_agent(
        common.settings(), "publish", publisher.run, on_wait=common.on_wait, episode=episode, approve=approve, by=by
    )
    common.render_outcome(outcome, as_json=as_json)


@app.command("rollback")
def rollback_cmd(
    episode: Annotated[
        str, typer.Argument(metavar="EPISODE", help="The published episode to withdraw (a number, or 'latest').")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a published episode: revert its commit on main, roll production back.

    Marks the episode rolled_back, records a deployments row and sends an info alert.
    Publishing it again later needs `muse publish EPISODE --approve`.

    Example: muse publish rollback 12
    """
    from muse.agents import publisher
    from muse.runs import run_agent

    outcome = run_agent(common.settings(), "publish", publisher.rollback, on_wait=common.on_wait, episode=episode)
    common.render_outcome(outcome, as_json=as_json)
