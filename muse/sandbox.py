"""The `muse query` sandbox: what an ad-hoc statement may touch, decided from ClickHouse's parse.

A statement is checked in three steps, all done by the engine itself, never by patterns over
the text:

1. ``formatQuery({q:String})`` (the text travels as a bound parameter) parses it as exactly
   one statement and returns ClickHouse's canonical text; a second statement (``; ...``) is
   a syntax error. The canonical text is what is checked and what runs.
2. ``EXPLAIN AST <canonical>`` gives the engine's syntax tree, which :func:`parse_tree`
   rebuilds and verifies (every node's declared child count must match, one root), so a
   name with a line break cannot smuggle lines into the dump.
3. :func:`check` walks the tree: an allow-list of statement kinds (reads only, unless
   ``--write``), an allow-list of table functions (generators that read nothing), a
   deny-list of scalar functions that reach files, dictionaries or other tables, tables
   of the store's own database or a few harmless ``system`` catalogues only, no
   ``INTO OUTFILE``, no ``FORMAT`` clause, no ``SETTINGS``/``SET`` in a read-only query,
   and with ``--write`` only the engines that keep data inside the store.

A read-only query also runs bounded (:class:`QueryLimits`): ClickHouse's
``max_execution_time``, ``max_result_rows``/``max_result_bytes`` (``result_overflow_mode =
'throw'``) and ``max_memory_usage``. On the embedded store the session is then switched to
``readonly = 1``, so the engine itself refuses any attempt to change a setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from muse.errors import StoreError, UsageError

if TYPE_CHECKING:
    from muse.config import Settings

# Table functions that generate or parse data given in the query and read nothing else.
# Everything else (file, url, s3, hdfs, azure*, remote*, cluster*, mysql, postgresql, jdbc,
# odbc, mongodb, redis, sqlite, executable, python, eval, input, dictionary, merge, loop,
# filesystem, iceberg*, deltaLake*, ...) is refused: an allow-list fails safe when a new
# ClickHouse version adds one.
TABLE_FUNCTION_NAMES = (
    "numbers",
    "numbers_mt",
    "zeros",
    "zeros_mt",
    "values",
    "generateRandom",
    "generate_series",
    "generateSeries",
    "format",
    "view",
    "primes",
)
TABLE_FUNCTIONS = frozenset(n.lower() for n in TABLE_FUNCTION_NAMES)

# Scalar functions that read a file, a dictionary (whose source may be a file, a URL or a
# process), another table by name, or the server's configuration.
SCALAR_DENY = frozenset(
    {
        "file",
        "joinget",
        "joingetornull",
        "hascolumnintable",
        "catboostevaluate",
        "modelevaluate",
        "getserversetting",
        "getmacro",
        "generateserialid",
        "currentrequesturl",
        "getclienthttpheader",
    }
)
SCALAR_DENY_PREFIXES = ("dict",)

# `system` tables a read-only query may read: engine catalogues and the store's own
# metadata. Not settings, server_settings, disks, users, grants, query_log, processes,
# macros, clusters, named_collections, ... (configuration, other people's queries, secrets).
SYSTEM_TABLES = frozenset(
    {
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "tables",
        "columns",
        "parts",
        "databases",
        "functions",
        "table_functions",
        "data_type_families",
        "formats",
        "time_zones",
    }
)

# Statement kinds (the root node of EXPLAIN AST).
READ_KINDS = frozenset(
    {
        "SelectWithUnionQuery",
        "SelectIntersectExceptQuery",
        "ShowTables",
        "DescribeQuery",
        "ShowCreateTableQuery",
        "ExistsTableQuery",
        "Explain",
    }
)
WRITE_KINDS = frozenset(
    {
        "InsertQuery",
        "AlterQuery",
        "OptimizeQuery",
        "DeleteQuery",
        "UpdateQuery",
        "TruncateQuery",
        "DropQuery",
        "CreateQuery",
        "Rename",
    }
)
# Engines a --write CREATE may use: data stays in the store's own directory.
ENGINES = frozenset({"memory", "null", "log", "tinylog", "stripelog", "set", "join"})
# ALTER commands that move data between tables or out of the store.
ALTER_DENY = ("MOVE", "REPLACE", "FETCH", "ATTACH", "FREEZE", "UNFREEZE", "EXPORT")
IN_FUNCTIONS = frozenset(
    {"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin", "globalnotnullin"}
)

# ClickHouse error codes for a bound that stopped a query.
LIMIT_CODES = {159: "time", 396: "result", 158: "result", 307: "result", 241: "memory"}

_CHILDREN = re.compile(r"^(?P<body>.*?) ?\(children (?P<n>\d+)\)$")
_TABLE_NAME = re.compile(r"^(?P<name>[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)(?: \(alias [^\n]*\))?$")


class SandboxRefused(UsageError):
    """A statement the sandbox does not run: names what was refused and why."""


class QueryLimitError(StoreError):
    """A bound (time, result size, memory) stopped the query."""


@dataclass(frozen=True)
class QueryLimits:
    """Bounds for one read-only query (config keys under ``query.``)."""

    timeout_seconds: float = 60.0
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 * 1024 * 1024
    max_memory_bytes: int = 2 * 1024 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> "QueryLimits":
        return cls(
            timeout_seconds=settings.query.timeout_seconds,
            max_result_rows=settings.query.max_result_rows,
            max_result_bytes=int(settings.query.max_result_mb * 1024 * 1024),
            max_memory_bytes=int(settings.query.max_memory_mb * 1024 * 1024),
        )

    def engine_settings(self) -> dict[str, Any]:
        """ClickHouse settings that enforce the bounds (0 means no bound to ClickHouse)."""
        return {
            "max_execution_time": self.timeout_seconds,
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_bytes,
        }

    def message(self, code: int) -> str:
        """The one line printed when a bound stops a query."""
        kind = LIMIT_CODES.get(code)
        if kind == "time":
            return (
                f"query stopped: it ran longer than query.timeout_seconds ({self.timeout_seconds:g} s); "
                f"narrow it (WHERE, LIMIT) or raise the bound"
            )
        if kind == "memory":
            return (
                f"query stopped: it needed more memory than query.max_memory_mb "
                f"({self.max_memory_bytes / 1048576:g} MB); narrow it or raise the bound"
            )
        return (
            f"query stopped: its result exceeds query.max_result_rows ({self.max_result_rows}) or "
            f"query.max_result_mb ({self.max_result_bytes / 1048576:g} MB); add a LIMIT or raise the bound"
        )


@dataclass
class Node:
    kind: str
    arg: str
    children: list["Node"] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The argument without its alias: a function's or table's name."""
        return self.arg.split(" (alias ", 1)[0].strip()


def parse_tree(lines: list[str]) -> Node:
    """Rebuild the tree EXPLAIN AST printed (one space of indent per level) and verify it.

    ClickHouse prints identifiers and aliases unescaped: a name holding a line break would
    add lines. Every node declares its child count, so injected lines break the count (or
    add a second root) and the statement is refused rather than misread.
    """
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise SandboxRefused("query refused: ClickHouse returned no syntax tree for it")
    stack: list[tuple[int, Node, int]] = []  # (depth, node, declared children)
    roots: list[Node] = []
    declared: list[tuple[Node, int]] = []
    for line in lines:
        depth = len(line) - len(line.lstrip(" "))
        text = line.strip()
        m = _CHILDREN.match(text)
        body, n = (m["body"], int(m["n"])) if m else (text, 0)
        kind, _, arg = body.partition(" ")
        node = Node(kind, arg.strip())
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            if depth != stack[-1][0] + 1:
                raise _ambiguous()
            stack[-1][1].children.append(node)
        else:
            if depth != 0:
                raise _ambiguous()
            roots.append(node)
        stack.append((depth, node, n))
        declared.append((node, n))
    if len(roots) != 1 or any(len(node.children) != n for node, n in declared):
        raise _ambiguous()
    return roots[0]


def _ambiguous() -> SandboxRefused:
    return SandboxRefused(
        "query refused: a name in it holds a line break or other text ClickHouse prints "
        "ambiguously; rename it (plain letters, digits and _)"
    )


@dataclass
class _Walk:
    database: str
    write: bool

    def refuse(self, what: str, hint: str | None = None) -> SandboxRefused:
        mode = "with --write" if self.write else "in a read-only query"
        return SandboxRefused(f"query refused: {what} is not allowed {mode}", hint=hint)

    def table(self, raw: str, where: str) -> None:
        m = _TABLE_NAME.match(raw)
        if not m:
            raise self.refuse(
                f"the table name {raw!r} in {where}",
                hint="name tables plainly (letters, digits, _), with at most a database prefix",
            )
        db, _, name = m["name"].rpartition(".")
        self.qualified(db, name, where)

    def qualified(self, db: str, name: str, where: str) -> None:
        if not db or db == self.database:
            return
        if db == "system" and name.lower() in SYSTEM_TABLES and not self.write:
            return
        allowed = ", ".join(f"system.{t}" for t in sorted(SYSTEM_TABLES))
        raise SandboxRefused(
            f"query refused: {db}.{name} ({where}) is outside the store's database {self.database}",
            hint=f"a query reads and writes only the store's tables; a read-only one may also read {allowed}",
        )

    def function(self, node: Node, parent: Node | None, grand: Node | None) -> None:
        name = node.name
        low = name.lower()
        ptype = parent.kind if parent else ""
        if ptype in ("TableExpression", "InsertQuery", "CreateQuery", "BackupQuery", "DescribeQuery"):
            if low not in TABLE_FUNCTIONS:
                raise self.refuse(
                    f"the table function {name}()",
                    hint="table functions that read files, processes or the network are refused; "
                    "allowed: " + ", ".join(TABLE_FUNCTION_NAMES),
                )
            return
        if ptype == "Storage" and parent is not None and parent.children and parent.children[0] is node:
            if not (low.endswith("mergetree") or low in ENGINES):
                raise self.refuse(
                    f"the table engine {name}",
                    hint="use a MergeTree-family engine, Memory, Null or Log: they keep data in the store",
                )
            return
        if low in SCALAR_DENY or low.startswith(SCALAR_DENY_PREFIXES):
            raise self.refuse(
                f"the function {name}()",
                hint="it reads files, dictionaries, other tables or the server's configuration",
            )
        if low in IN_FUNCTIONS and node.children and len(node.children[0].children) == 2:
            right = node.children[0].children[1]
            if right.kind in ("Identifier", "TableIdentifier"):
                self.table(right.arg, f"the right side of {name}")

    def walk(self, node: Node, parent: Node | None = None, grand: Node | None = None) -> None:
        kind = node.kind
        if kind == "Function":
            self.function(node, parent, grand)
        elif kind == "FunctionWithKeyValueArguments":
            raise self.refuse(f"a dictionary source {node.name}()")
        elif kind == "TableIdentifier":
            self.table(node.arg, "FROM")
        elif kind == "Set" and not self.write:
            raise self.refuse(
                "changing settings (SETTINGS or SET)",
                hint="the bounds are query.timeout_seconds, query.max_result_rows, query.max_result_mb "
                "and query.max_memory_mb in the config",
            )
        elif kind == "AlterCommand" and node.name.split("_")[0] in ALTER_DENY:
            raise self.refuse(
                f"ALTER ... {node.name.replace('_', ' ')}", hint="it moves data between tables or out of the store"
            )
        elif kind == "Dictionary":
            raise self.refuse("a dictionary")
        if kind == "SelectWithUnionQuery":
            for extra in node.children[1:]:
                if extra.kind == "Literal":
                    raise self.refuse("INTO OUTFILE", hint="redirect muse's output instead: muse query ... > file")
                if extra.kind == "Identifier":
                    raise self.refuse(f"a FORMAT clause (FORMAT {extra.arg})", hint="use --format table|json|csv")
        for child in node.children:
            self.walk(child, node, parent)


def check(root: Node, *, canonical: str, database: str, write: bool) -> None:
    """Refuse (SandboxRefused) a statement that reaches outside the store's tables."""
    walk = _Walk(database=database, write=write)
    kind = root.kind
    head = " ".join(canonical.split()[:3]).upper()
    if kind in WRITE_KINDS and not write:
        raise SandboxRefused(
            f"the store is read-only for this command: {head.split(' ')[0]} writes",
            hint="pass --write to allow writes to the store's tables",
        )
    if kind not in READ_KINDS | WRITE_KINDS:
        raise walk.refuse(
            f"the statement {head!r}",
            hint="muse query runs SELECT, SHOW TABLES, DESCRIBE, "
            "SHOW CREATE, EXISTS and EXPLAIN; with --write also INSERT, ALTER, OPTIMIZE, DELETE, "
            "UPDATE, TRUNCATE, DROP TABLE, CREATE TABLE/VIEW and RENAME on the store's tables",
        )
    if kind in ("CreateQuery", "DropQuery") and re.match(
        r"^(CREATE|DROP|ATTACH|DETACH)\s+(OR\s+REPLACE\s+)?"
        r"(DATABASE|DICTIONARY|NAMED)",
        canonical,
        re.I,
    ):
        raise walk.refuse(f"the statement {head!r}", hint="only tables and views of the store's database")
    if kind == "Rename":
        if len([c for c in root.children if c.kind == "Identifier"]) != 2:
            raise walk.refuse(
                "RENAME/EXCHANGE across databases",
                hint="rename tables within the store's database, without a database prefix",
            )
    elif kind in (
        "ShowTables",
        "ShowCreateTableQuery",
        "ExistsTableQuery",
        "InsertQuery",
        "AlterQuery",
        "OptimizeQuery",
        "DeleteQuery",
        "UpdateQuery",
        "TruncateQuery",
        "DropQuery",
        "CreateQuery",
    ):
        ids = [c for c in root.children if c.kind == "Identifier"]
        if kind == "ShowTables" and ids:
            walk.qualified(ids[0].arg, "*", "SHOW TABLES FROM")
        elif len(ids) >= 2 and kind != "ShowTables":
            walk.qualified(ids[0].arg, ids[1].arg, head)
    walk.walk(root)


@dataclass(frozen=True)
class Prepared:
    """A checked statement: the canonical text to run and its syntax tree."""

    canonical: str
    tree: Node


def prepare(
    run: Callable[[str, Mapping[str, Any]], Any], sql: str, params: Mapping[str, Any], *, write: bool
) -> Prepared:
    """Parse and check ``sql`` with the engine behind ``run`` (a store's ``query``)."""
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    first = run("SELECT formatQuery({q:String}) AS q, currentDatabase() AS db", {"q": text}).first() or {}
    canonical, database = str(first.get("q") or ""), str(first.get("db") or "default")
    dump = run("EXPLAIN AST " + canonical, params)
    tree = parse_tree([str(r[0]) for r in dump.rows])
    check(tree, canonical=canonical, database=database, write=write)
    if tree.kind == "InsertQuery" and _INLINE_DATA.search(canonical):
        # INSERT ... VALUES/FORMAT with inline data: the data is not part of the syntax tree
        # (formatQuery drops it), and chDB runs what follows a `;` after the data as another
        # statement. Such an insert runs as written, only when it holds no `;` at all.
        if ";" in text:
            raise SandboxRefused(
                "query refused: an INSERT with inline data may not contain ';' (a second "
                "statement could hide behind the data)",
                hint="insert with INSERT ... SELECT, or without ';' in the values",
            )
        return Prepared(text, tree)
    return Prepared(canonical, tree)


_INLINE_DATA = re.compile(r"\bFORMAT\s+\w+\s*$")


# -- server grants -------------------------------------------------------------------------

# Privileges that reach files, processes, the network or other databases' secrets. A muse
# user needs none of them (docs/security.md lists what it does need).
RISKY_PRIVILEGES = (
    "ALL",
    "SOURCES",
    "FILE",
    "URL",
    "S3",
    "REMOTE",
    "HDFS",
    "AZURE",
    "MYSQL",
    "POSTGRES",
    "SQLITE",
    "ODBC",
    "JDBC",
    "MONGO",
    "REDIS",
    "KAFKA",
    "NATS",
    "RABBITMQ",
    "HIVE",
    "YTSAURUS",
    "SYSTEM",
    "INTROSPECTION",
    "ACCESS MANAGEMENT",
    "CREATE FUNCTION",
    "CREATE DICTIONARY",
    "CREATE USER",
    "CREATE ROLE",
    "CREATE NAMED COLLECTION",
    "NAMED COLLECTION",
    "SHOW NAMED COLLECTIONS SECRETS",
    "displaySecretsInShowAndSelect",
    "BACKUP",
    "KILL QUERY",
    "READ",
    "WRITE",
)
_GRANT = re.compile(r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?P<target>\S+)\s+TO\s+", re.I)


def _split_privileges(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [re.sub(r"\(.*\)$", "", p).strip() for p in out if p.strip()]


def excess_grants(lines: list[str], database: str) -> list[str]:
    """What ``SHOW GRANTS`` lines give a muse user beyond its own database's tables.

    Returns one short description per problem (empty: the user holds only what muse needs):
    source privileges (FILE, URL, S3, REMOTE, ...), ALL, SYSTEM, access management, and data
    privileges on other databases (``*.*`` or ``other.*``). Roles granted to the user are
    named too: their grants are not visible here.
    """
    problems: list[str] = []
    for line in lines:
        text = line.strip()
        m = _GRANT.match(text)
        if not m:
            if text.upper().startswith("GRANT ") and " ON " not in text.upper():
                problems.append(f"role(s) {text[6:].split(' TO ', 1)[0].strip()} (check their grants too)")
            continue
        privs = [p.upper() for p in _split_privileges(m["privs"])]
        target = m["target"].strip("`")
        risky = [p for p in privs if any(p == r.upper() or p.startswith(r.upper() + " ") for r in RISKY_PRIVILEGES)]
        if target.upper() in {r.upper() for r in RISKY_PRIVILEGES}:  # GRANT READ ON FILE (newer syntax)
            risky = privs
        if risky:
            problems.append(f"{', '.join(risky)} ON {target}")
            continue
        db = target.split(".", 1)[0].strip("`")
        if db not in (database, "system", "information_schema", "INFORMATION_SCHEMA"):
            problems.append(f"{', '.join(privs)} ON {target} (beyond database {database})")
    return problems
