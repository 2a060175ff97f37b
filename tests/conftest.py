"""Shared fixtures: an isolated environment, a real chDB store in a temp dir, the CLI."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from fake_datadog import FakeDatadog


# Variables that would let the developer's own setup leak into a test.
_ISOLATE = re.compile(r"^(MUSE_|DD_|DEEPL_|VERCEL_|SLACK_|PAGERDUTY_|XDG_|OPENAI_)")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if _ISOLATE.match(name):
            monkeypatch.delenv(name)
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "MUSE_STORE_RETRY_BACKOFF_SECONDS": "0.01",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "muse"


@pytest.fixture
def settings(isolated_env: dict[str, str]) -> Any:
    from muse.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated embedded store per test process (per xdist worker), made once and closed;
    `store` and `migrated` copy it instead of migrating a fresh store for every test."""
    from muse import migrations
    from muse.config import load_settings
    from muse.store import open_store

    base = tmp_path_factory.mktemp("store-template")
    settings = load_settings(env={"XDG_DATA_HOME": str(base / "data"), "XDG_CONFIG_HOME": str(base / "config")})
    with open_store(settings) as st:
        migrations.migrate(st)
    return settings.embedded_store_path


def _from_template(settings: Any, template: Path) -> bool:
    """Copy the migrated template where these settings keep their embedded store; False (and
    nothing copied) for a server store or a store that is already there: those get migrated."""
    if settings.store_url or settings.embedded_store_path.exists():
        return False
    settings.ensure_state_dir()
    shutil.copytree(template, settings.embedded_store_path, symlinks=True)  # relative links into store/
    return True


@pytest.fixture
def store(settings: Any, store_template: Path) -> Iterator[Any]:
    """A migrated embedded store, closed at teardown (chDB holds one path per process)."""
    from muse import migrations
    from muse.store import open_store

    _from_template(settings, store_template)
    st = open_store(settings)
    migrations.migrate(st)
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def migrated(settings: Any, store_template: Path) -> Any:
    """A migrated default store, closed, for tests that run the CLI."""
    from muse import migrations
    from muse.store import open_store

    if not _from_template(settings, store_template):
        with open_store(settings) as st:
            migrations.migrate(st)
    return settings


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:
        return f"CliResult(exit={self.exit_code}, stdout={self.stdout[-800:]!r}, stderr={self.stderr[-800:]!r})"


@pytest.fixture
def cli() -> Any:
    """Invoke `muse` in-process with Typer's CliRunner; ANSI stripped."""
    from typer.testing import CliRunner

    from muse.cli import app

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=False)
        return CliResult(result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr))

    return invoke


@pytest.fixture
def dd() -> Iterator[FakeDatadog]:
    """A loopback fake of the Datadog HTTP API (tests/fake_datadog.py), closed after the test."""
    fake = FakeDatadog()
    yield fake
    fake.close()
