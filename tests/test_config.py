from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml

from muse.config import KEYS, KEYS_BY_PATH, load_settings
from muse.errors import ConfigError
from muse.resources import resource_path


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text("watcher:\n  hearts_threshold_minutes: 7\n  packs_threshold_minutes: 60\n"
                   "council:\n  window_days: 3\n")
    env = {"XDG_DATA_HOME": str(tmp_path), "MUSE_WATCHER_PACKS_THRESHOLD_MINUTES": "45",
           "MUSE_COUNCIL_WINDOW_DAYS": "4"}
    s = load_settings(config_file=str(cfg), env=env, overrides={"council.window_days": 5})
    assert s["watcher.status_max_age_minutes"] == 30.0  # default
    assert s["watcher.hearts_threshold_minutes"] == 7.0  # file
    assert s["watcher.packs_threshold_minutes"] == 45.0  # env beats file
    assert s["council.window_days"] == 5  # flag beats env
    assert s.sources["watcher.packs_threshold_minutes"] == "env MUSE_WATCHER_PACKS_THRESHOLD_MINUTES"


def test_vendor_env_names(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path), "DD_AGENT_HOST": "10.1.1.1", "DD_DOGSTATSD_PORT": "9125",
           "DEEPL_AUTH_KEY": "k-123", "MUSE_CLICKHOUSE_URL": "clickhouse://u:p@h:9000/db"}
    s = load_settings(env=env)
    assert s["datadog.agent_host"] == "10.1.1.1"
    assert s["datadog.dogstatsd_port"] == 9125
    assert s["deepl.auth_key"] == "k-123"
    assert s.store_url == "clickhouse://u:p@h:9000/db"


def test_state_dir_defaults_to_xdg_and_is_private(tmp_path: Path) -> None:
    s = load_settings(env={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert s.state_dir == tmp_path / "xdg" / "muse"
    s.ensure_state_dir()
    assert stat.S_IMODE(s.state_dir.stat().st_mode) == 0o700


def test_malformed_yaml_is_one_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("store:\n  url: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(config_file=str(cfg), env={})
    assert str(cfg) in exc.value.message and "malformed YAML" in exc.value.message
    assert "\n" not in exc.value.message


def test_malformed_yaml_through_cli(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("a: b: c\n")
    r = cli("--config", str(cfg), "config", "show")
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: config file") and "Traceback" not in r.output


def test_validate_lists_every_invalid_key(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text("watcher:\n  hearts_threshold_minutes: soon\n  page_after_failures: 0\n"
                   "council:\n  confidence_threshold: 1.5\nbogus: 1\n")
    r = cli("--config", str(cfg), "config", "validate")
    assert r.exit_code == 2
    lines = r.stdout.strip().splitlines()
    assert any("watcher.hearts_threshold_minutes" in l and "expected float" in l for l in lines)
    assert any("watcher.page_after_failures" in l and ">= 1" in l for l in lines)
    assert any("council.confidence_threshold" in l and "<= 1" in l for l in lines)
    assert any(l.startswith("invalid bogus: unknown key") for l in lines)
    assert len(lines) == 4
    ok = cli("config", "validate")
    assert ok.exit_code == 0 and "config valid" in ok.stdout


def test_documented_yaml_matches_declared_keys() -> None:
    """config/muse.yaml documents every key, with the same default, and nothing else."""
    path = resource_path("config") / "muse.yaml"
    doc = yaml.safe_load(path.read_text())

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and f"{prefix}{k}" not in KEYS_BY_PATH:  # a mapping-valued key stays whole
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    documented = dict(flat(doc))
    assert set(documented) == {k.path for k in KEYS}
    for key in KEYS:
        assert key.type(documented[key.path]) == key.default, key.path
    commented = _commented_keys(path.read_text())
    undocumented = [key.path for key in KEYS if not commented.get(key.path)]
    assert not undocumented, f"keys in config/muse.yaml without a comment explaining them: {undocumented}"


def _commented_keys(text: str) -> dict[str, bool]:
    """Each key's full dotted path (from the indentation) -> whether a comment explains it: on
    the line right above (no blank line between) or at the end of its own line."""
    out: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in text.splitlines():
        m = re.match(r"^(\s*)([A-Za-z_][\w-]*):(\s|$)", line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            path = ".".join(name for _, name in stack)
            out[path] = previous.lstrip().startswith("#") or " #" in line.split(":", 1)[1]
        previous = line
    return out


def test_the_comment_check_sees_each_key_by_its_path() -> None:
    """Same leaf name in two sections: only the commented one counts (the old check passed on
    any `branch:` under any comment)."""
    text = "a:\n  # the a branch\n  branch: main\nb:\n  path: x\n  branch: main\n\n  # c\n\n  other: 1\n"
    assert _commented_keys(text) == {"a": False, "a.branch": True, "b": False, "b.path": False,
                                     "b.branch": False, "b.other": False}


def test_config_show_masks_secrets(cli) -> None:
    env = {"DEEPL_AUTH_KEY": "deepl-secret-9f8e7d", "MUSE_CLICKHOUSE_URL": "clickhouse://u:pw-77aa@h:9/db"}
    r = cli("config", "show", "--json", env=env)
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["settings"]["deepl.auth_key"] == "********"
    assert "deepl-secret-9f8e7d" not in r.output and "pw-77aa" not in r.output
