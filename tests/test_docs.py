"""The docs are tested against the code, as sqlite-utils does.

- every command and subcommand of the CLI has a heading in docs/cli.md, and every long
  option of a command appears in that command's own section (not just somewhere);
- the README's exit-code table is muse.errors.ExitCode: the same codes, in the same order;
- every config key (muse.config.KEYS) is in docs/configuration.md and in config/muse.yaml
  (as a real nested key of the YAML, not a word in a comment);
- every shell block in docs/ and the README whose info string is ``sh runnable`` is run
  with ``sh`` against a demo store built once per session, and must exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CLI_MD = DOCS / "cli.md"

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
COMMAND_HEADING = re.compile(r"^`(muse(?: [a-z0-9-]+)*)`")


def _walk() -> Iterator[tuple[str, Any, Any]]:
    """(command path, click command, parent) for every command of the app, hidden ones too."""
    import typer

    from muse.cli import app

    root = typer.main.get_command(app)

    def walk(cmd: Any, path: str, parent: Any) -> Iterator[tuple[str, Any, Any]]:
        yield path, cmd, parent
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, f"{path} {name}", cmd)

    yield from walk(root, "muse", None)


def _long_flags(cmd: Any) -> list[str]:
    flags = []
    for p in cmd.params:
        if type(p).__name__.endswith("Argument"):
            continue
        flags += [o for o in [*p.opts, *(getattr(p, "secondary_opts", None) or [])] if o.startswith("--")]
    return flags


def _sections(text: str) -> dict[str, str]:
    """Command path -> the text under its heading, up to the next heading of any level."""
    out: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        h = HEADING.match(line)
        if h:
            m = COMMAND_HEADING.match(h.group(2))
            current = m.group(1) if m else None
            if current is not None:
                out.setdefault(current, "")
            continue
        if current is not None:
            out[current] += line + "\n"
    return out


def test_every_command_and_option_is_in_cli_md() -> None:
    sections = _sections(CLI_MD.read_text(encoding="utf-8"))
    missing = []
    for path, cmd, parent in _walk():
        if cmd.hidden:
            # `muse publish EPISODE` is the hidden `publish run`: documented under `muse publish`.
            owner = path.rsplit(" ", 1)[0]
        else:
            owner = path
            if owner not in sections:
                missing.append(f"no heading `{path}` in docs/cli.md")
                continue
        body = sections.get(owner, "")
        for flag in _long_flags(cmd):
            if not re.search(rf"`{re.escape(flag)}`", body):
                missing.append(f"`{path}`: option {flag} not in its section of docs/cli.md")
        if not cmd.hidden and not (cmd.help or "").strip():
            missing.append(f"`{path}` has no --help text")
        for p in cmd.params:
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"`{path}`: {p.opts[0]} has no help text")
    assert not missing, "\n".join(missing)


def test_cli_md_documents_no_command_that_does_not_exist() -> None:
    known = {path for path, _, _ in _walk()}
    stale = sorted(set(_sections(CLI_MD.read_text(encoding="utf-8"))) - known)
    assert not stale, f"docs/cli.md documents commands the CLI does not have: {stale}"


def test_readme_exit_code_table_is_exitcode() -> None:
    from muse.errors import ExitCode

    text = README.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$", section, flags=re.M)
    documented = [int(code) for code, _ in rows]
    assert documented == [int(c) for c in ExitCode], (
        f"README exit codes {documented} differ from muse.errors.ExitCode {[int(c) for c in ExitCode]} "
        "(the same codes, in numeric order)")
    assert all(meaning for _, meaning in rows)


def _yaml_has(tree: Any, path: str) -> bool:
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_config_key_is_documented() -> None:
    from muse.config import KEYS

    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    shipped = yaml.safe_load((ROOT / "config" / "muse.yaml").read_text(encoding="utf-8"))
    missing = []
    for key in KEYS:
        if f"`{key.path}`" not in reference:
            missing.append(f"{key.path}: not in docs/configuration.md")
        if not _yaml_has(shipped, key.path):
            missing.append(f"{key.path}: not a key of config/muse.yaml")
    assert not missing, "\n".join(missing)


def test_documented_config_keys_exist() -> None:
    """A key the reference table lists that muse does not know is a stale doc."""
    from muse.config import KEYS_BY_PATH

    reference = (DOCS / "configuration.md").read_text(encoding="utf-8")
    table = reference.split("## Every key", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.M)
    assert listed, "docs/configuration.md has no key table"
    assert [k for k in listed if k not in KEYS_BY_PATH] == []


# --- runnable examples -------------------------------------------------------------------

RUNNABLE = re.compile(r"^```sh runnable\n(.*?)^```", re.M | re.S)


def _runnable_blocks() -> list[tuple[str, str]]:
    out = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for i, m in enumerate(RUNNABLE.finditer(page.read_text(encoding="utf-8"))):
            for line in m.group(1).splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    out.append((f"{page.relative_to(ROOT)}#{i + 1}: {line.strip()}", line))
    return out


def test_runnable_examples_are_marked() -> None:
    """The marker is in use: dropping every `sh runnable` block would make the next test vacuous."""
    commands = [line for _, line in _runnable_blocks()]
    assert len(commands) >= 5, commands


_ISOLATE = re.compile(r"^(MUSE_|DD_|DEEPL_|VERCEL_|SLACK_|PAGERDUTY_|XDG_)")


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """`muse demo` once per session in its own state dir; the environment to run examples in."""
    base = tmp_path_factory.mktemp("docs-demo")
    env = {k: v for k, v in os.environ.items() if not _ISOLATE.match(k)}
    bindir = str(Path(sys.executable).parent)
    env.update({
        "HOME": str(base / "home"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_DATA_HOME": str(base / "data"),
        "MUSE_STATE_DIR": str(base / "state"),
        "PATH": bindir + os.pathsep + env.get("PATH", ""),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    })
    (base / "home").mkdir()
    assert shutil.which("muse", path=env["PATH"]), "the muse console script is not installed"
    done = subprocess.run(["muse", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return env


@pytest.mark.slow
@pytest.mark.parametrize("where,command", _runnable_blocks(), ids=[w for w, _ in _runnable_blocks()])
def test_runnable_example_exits_0(demo_env: dict[str, str], where: str, command: str) -> None:
    done = subprocess.run(["sh", "-c", command], cwd=ROOT, env=demo_env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
    assert done.stdout.strip(), f"{where} printed nothing"
