"""`muse i18n`: translate published episodes with DeepL, and verify translations."""

from typing import Annotated, Optional

import typer

from muse.cli import common

app = typer.Typer(
    help="Translate published episodes with DeepL (markdown, code, numbers and glossary terms kept), "
    "and verify translations against their English source.\n\nExample: muse i18n sync --langs de,zh,hi",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
LangsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--langs", metavar="LANGS", help="Comma-separated muse language codes (de, zh, hi, ...); default: deepl.langs."
    ),
]


def _langs(value: str | None) -> list[str]:
    from muse.translation.languages import resolve_langs

    s = common.settings()
    return [spec.code for spec in resolve_langs(value if value else s.deepl.langs)]


@app.command("sync")
def sync_cmd(
    langs: LangsOpt = None,
    episode: Annotated[
        Optional[int],
        typer.Option(
            "--episode",
            min=0,
            metavar="N",
            help="Translate this published episode, whatever its age "
            "(default: those published in the last i18n.window_days).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Translate English episodes published recently (or --episode N) into each language.

    Writes posts_i18n/LANG/ep-N.md, commits all new translations in one commit, pushes,
    deploys, records an episodes row per language. Languages already translated are
    skipped. Exit 0 when done, when there is nothing to do, and when skipped without a
    DeepL key (the message says nothing was translated); 1 when a language failed (quota,
    key, checks, deploy; an alert is sent); 2 for bad options; 4 when another i18n run
    holds the lock.

    Example: muse i18n sync --langs de,zh,hi --episode 12
    """
    from muse.agents import i18n
    from muse.runs import run_agent

    codes = _langs(langs)  # unknown languages are a usage error before anything runs
    outcome = run_agent(common.settings(), "i18n", i18n.run, on_wait=common.on_wait, langs=codes, episode=episode)
    common.render_outcome(outcome, as_json=as_json)


@app.command("verify")
def verify_cmd(
    episode: Annotated[int, typer.Argument(metavar="EPISODE", min=0, help="The episode number.")],
    langs: LangsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check each language's translation of EPISODE against the English source.

    Per language: the file exists, the front-matter parses, heading structure and section
    count match, code blocks are byte-identical, every number of the source appears, links
    and image paths are identical, glossary terms are present. Reads the blog checkout only
    (no store, no DeepL). Exit 0 when every check passes, 1 otherwise.

    Example: muse i18n verify 12 --json
    """
    from muse.translation import glossary
    from muse.cli.output import echo, print_json, print_table
    from muse.errors import ConfigError, ExitCode
    from muse.translation.i18n_check import CHECKS, verify_files

    s = common.settings()
    codes = _langs(langs)
    repo = s.repos.banterblogs.dir
    if repo is None:
        raise ConfigError(
            "repos.banterblogs.path is not set (the blog checkout to verify)",
            hint="set it in the config file or MUSE_REPOS_BANTERBLOGS_PATH",
        )
    terms = glossary.from_settings(s).terms
    results = verify_files(repo, s.repos.banterblogs.posts_dir, episode, codes, terms=terms)
    ok = all(c.ok for checks in results.values() for c in checks)
    if as_json:
        print_json(
            {
                "episode": episode,
                "ok": ok,
                "langs": {
                    lang: {"ok": all(c.ok for c in checks), "checks": [vars(c) for c in checks]}
                    for lang, checks in results.items()
                },
            }
        )
    else:
        rows = []
        for lang, checks in results.items():
            by_name = {c.name: c for c in checks}
            for name in CHECKS:
                c = by_name.get(name)
                if c is not None:
                    rows.append((lang, name, "ok" if c.ok else "FAIL", c.detail))
                elif not by_name["file"].ok:
                    rows.append((lang, name, "-", "no file"))
        print_table(["lang", "check", "result", "detail"], rows)
        failed = [lang for lang, checks in results.items() if not all(c.ok for c in checks)]
        echo(
            f"episode {episode}: "
            + (f"{len(results)} translation(s) verified" if ok else f"failed for {', '.join(failed)}")
        )
    if not ok:
        raise typer.Exit(int(ExitCode.FAILED))
