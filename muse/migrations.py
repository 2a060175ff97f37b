"""Numbered schema migrations in sql/migrations/, recorded in schema_migrations.

Migration files are idempotent DDL (IF NOT EXISTS), so a run that died half way through
a file is finished by the next `muse db migrate`. Engine and cluster clauses are filled in
here and only here, so the same files can later run ON CLUSTER with Replicated engines.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from muse.errors import SchemaOutdatedError, StoreError
from muse.resources import resource_path
from muse.store import Store

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_SPLIT = re.compile(r";\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MigrationStatus:
    migration: Migration
    applied: bool
    applied_at: str | None
    checksum_matches: bool


def available() -> list[Migration]:
    out = []
    for path in sorted((resource_path("sql") / "migrations").glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise StoreError(f"migration file name {path.name} does not match NNN_name.sql")
        out.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise StoreError("two migration files share a version number")
    return out


def render(sql: str, *, cluster: str = "") -> str:
    """Fill the engine/cluster placeholders. The one place engine clauses are decided."""
    on_cluster = f"ON CLUSTER `{cluster}`" if cluster else ""
    engine = "ReplicatedReplacingMergeTree" if cluster else "ReplacingMergeTree"
    return sql.replace("{on_cluster}", on_cluster).replace("{replacing}", engine)


def statements(sql: str) -> list[str]:
    out = []
    for chunk in _SPLIT.split(sql):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def _ensure_ledger(store: Store, cluster: str) -> None:
    ledger = (resource_path("sql") / "schema_migrations.sql").read_text(encoding="utf-8")
    store.execute(render(ledger, cluster=cluster))


def status(store: Store, *, cluster: str = "") -> list[MigrationStatus]:
    if not store.readonly:
        _ensure_ledger(store, cluster)
    try:
        applied = {
            r["version"]: r
            for r in store.query(
                "SELECT version, checksum, toString(applied_at) AS applied_at FROM schema_migrations FINAL"
            ).dicts()
        }
    except StoreError:
        applied = {}
    return [
        MigrationStatus(
            m,
            m.version in applied,
            applied.get(m.version, {}).get("applied_at"),
            applied.get(m.version, {}).get("checksum", m.checksum) == m.checksum,
        )
        for m in available()
    ]


def pending(store: Store, *, cluster: str = "") -> list[Migration]:
    return [s.migration for s in status(store, cluster=cluster) if not s.applied]


def migrate(store: Store, *, cluster: str = "") -> list[Migration]:
    """Apply pending migrations in order; return the ones applied (empty when current)."""
    done = []
    for migration in pending(store, cluster=cluster):
        for stmt in statements(render(migration.text, cluster=cluster)):
            store.execute(stmt)
        store.insert(
            "schema_migrations",
            [{"version": migration.version, "name": migration.name, "checksum": migration.checksum}],
        )
        done.append(migration)
    return done


def require_current(store: Store, *, cluster: str = "") -> None:
    """Refuse to run agents against an out-of-date schema."""
    missing = pending(store, cluster=cluster)
    if missing:
        names = ", ".join(f"{m.version:03d}_{m.name}" for m in missing)
        raise SchemaOutdatedError(
            f"the store schema is out of date ({len(missing)} pending migration(s): {names})",
            hint="run `muse db migrate`",
        )
