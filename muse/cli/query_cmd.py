"""`muse query`: ad-hoc SQL, read-only unless --write."""

from enum import Enum
from typing import Annotated, Optional

import typer

from muse.cli import common
from muse.cli.output import print_csv, print_json, print_table
from muse.errors import StoreError, UsageError
from muse.sandbox import QueryLimitError

# ClickHouse error codes that mean the caller's SQL is wrong, not the store: a syntax error,
# an unknown table, column, function or database, wrong arguments or types, a misplaced
# aggregate, or a {name:Type} placeholder without its --param. These exit 2 (usage).
SQL_MISTAKE_CODES = {16, 36, 42, 43, 46, 47, 53, 60, 62, 81, 184, 215, 352, 456, 457}


def _short(message: str) -> str:
    """ClickHouse's syntax errors list every token it expected; the position is what helps."""
    return message.split(" Expected one of:")[0].rstrip(". ")[:300]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def register(app: typer.Typer) -> None:
    @app.command("query")
    def query_cmd(
        sql: Annotated[str, typer.Argument(help="One SQL statement. Bind values with {name:Type} and --param.")],
        fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
        write: Annotated[
            bool,
            typer.Option(
                "--write",
                help="Allow statements that write (INSERT, ALTER, ...) to the "
                "store's tables. Without it the query may only read the store's tables, "
                "bounded by the query.* settings (docs/security.md).",
            ),
        ] = False,
        param: Annotated[
            Optional[list[str]],
            typer.Option("--param", "-p", help="Query parameter name=value, bound by ClickHouse (repeatable)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    ) -> None:
        """Run an ad-hoc query against the store (read-only by default).

        Example: muse query "SELECT model, avg(latency_p95_ms) FROM bench_runs FINAL GROUP BY model"

        Example: muse query "SELECT count() FROM ui_events WHERE commit_sha = {sha:String}" -p sha=abc...

        SQL that starts with a `--` comment (the files in sql/queries/ do) goes after `--`:

        Example: muse query -- "$(cat sql/queries/analytics_insight_precision.sql)"
        """
        from muse.store import open_store

        params = {}
        for item in param or []:
            name, sep, value = item.partition("=")
            if not sep or not name.isidentifier():
                raise UsageError(f"--param {item!r} must look like name=value")
            params[name] = value
        s = common.settings()
        with open_store(s, readonly=not write, on_wait=common.on_wait, bounded=True) as store:
            try:
                result = store.sandboxed_query(sql, params, write=write)
            except QueryLimitError:
                raise
            except StoreError as exc:
                code = exc.code
                if code in SQL_MISTAKE_CODES:
                    hint = (
                        "bind each {name:Type} with --param name=value"
                        if code in (456, 457)
                        else 'muse query "SHOW TABLES" lists the tables'
                        if code in (60, 81)
                        else None
                    )
                    raise UsageError(_short(exc.message), hint=hint) from exc
                raise
        if as_json or fmt is Format.json:
            print_json(result.text_dicts())
        elif fmt is Format.csv:
            print_csv(result.columns, result.text_rows())
        elif result.columns:
            print_table(result.columns, result.text_rows())
