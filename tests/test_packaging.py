"""The wheel works outside the checkout and `muse --help` stays light."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer

from helpers import ROOT

HEAVY = ("chdb", "clickhouse_driver", "git", "deepl", "datadog", "httpx", "jinja2")


@pytest.mark.slow
def test_wheel_file_list_and_resources_outside_checkout(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True)
    wheel = next(out.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "muse/agents/__init__.py" in names
    assert "muse/sql/migrations/001_initial_schema.sql" in names
    assert "muse/sql/queries/agent_last_runs.sql" in names
    assert "muse/config/muse.yaml" in names
    assert any(n.startswith("muse/templates/") for n in names)
    tops = {n.split("/", 1)[0] for n in names}
    assert tops <= {"muse", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}, tops
    # Import from the unpacked wheel, from a directory that is not the checkout.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import muse, muse.agents, muse.resources as r; "
            "p = r.resource_path('sql'); assert str(p).startswith(%r), p; "
            "from muse import migrations; print(len(migrations.available()))" % str(site))
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.strip()) >= 1


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys\nsys.argv = ['muse', '--help']\nfrom muse.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "Usage: muse" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "HEAVY="



def test_every_command_has_help_with_an_example() -> None:
    from muse.cli import app

    root = typer.main.get_command(app)
    missing = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            if "Example" not in (cmd.help or ""):
                missing.append(path or "muse")
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())
        elif "Example:" not in (cmd.help or ""):
            missing.append(path)

    walk(root, "")
    assert not missing, f"commands without an Example in their help: {missing}"
