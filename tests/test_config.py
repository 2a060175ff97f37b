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


def _typed_leaves(cls: type, prefix: str) -> dict[str, type]:
    """{dotted.path: type} of a typed settings section, nested sections flattened."""
    import dataclasses
    import typing

    from muse import config

    out: dict[str, type] = {}
    for name, typ in typing.get_type_hints(cls, vars(config)).items():
        if dataclasses.is_dataclass(typ):
            out.update(_typed_leaves(typ, f"{prefix}{name}."))
        else:
            out[prefix + name] = typ
    return out


def test_typed_sections_declare_exactly_the_keys_with_their_types(tmp_path: Path) -> None:
    from muse.config import Settings

    typed: dict[str, type] = {"state_dir": str, "telemetry_dir": str}
    sections = {name for name, attr in vars(Settings).items()
                if isinstance(attr, property) and name not in ("state_dir", "store_url", "embedded_store_path",
                                                                 "telemetry_dir")}
    import typing

    for name in sections:
        typed.update(_typed_leaves(typing.get_type_hints(getattr(Settings, name).fget)["return"], f"{name}."))
    assert typed == {k.path: k.type for k in KEYS}
    # Every section reads the effective value of its key, with the key's type.
    cfg = tmp_path / "m.yaml"
    cfg.write_text("ingest:\n  clock_skew_tolerance_seconds: 90\nrepos:\n  banterblogs:\n    posts_dir: blog\n"
                   "narrator:\n  enabled: yes\n")
    s = load_settings(config_file=str(cfg), env={"XDG_DATA_HOME": str(tmp_path), "VERCEL_TOKEN": "t-1"})
    for path in typed:
        if "." in path:
            section, *rest = path.split(".")
            value = getattr(s, section)
            for part in rest:
                value = getattr(value, part)
            assert value == s[path] and isinstance(value, KEYS_BY_PATH[path].type), path
    assert s.ingest.clock_skew_tolerance_seconds == 90.0 and s.repos.banterblogs.posts_dir == "blog"
    assert s.narrator.enabled is True and s.vercel.token == "t-1"
    # A value set on the mapping (as the demo does) is what the attribute returns.
    s.values["ingest.stream_batch_lines"] = 100
    assert s.ingest.stream_batch_lines == 100


def test_a_state_dir_that_cannot_be_made_private_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings(env={"XDG_DATA_HOME": str(tmp_path / "xdg")})

    def refuse(self: Path, mode: int) -> None:  # what a FAT or root-squashed NFS mount answers
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "chmod", refuse)
    with caplog.at_level("WARNING"):
        assert s.ensure_state_dir() == s.state_dir
    assert s.state_dir.is_dir()
    assert "cannot make it private" in caplog.text and "Operation not permitted" in caplog.text


def _muse(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> "subprocess.CompletedProcess[str]":
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "muse"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "muse"]
    base = {k: v for k, v in os.environ.items() if k != "MUSE_LOG_FORMAT"}
    return subprocess.run([*argv, "--state-dir", str(tmp_path / "state"), *args], capture_output=True, text=True,
                          env={**base, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **(env or {})}, timeout=120)


def test_log_format_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    """log.format in the config file holds from the first line, even for an argument error
    before any setting is read; MUSE_LOG_FORMAT beats it and --log-format beats both."""
    cfg = tmp_path / "muse.yaml"
    cfg.write_text("log:\n  format: json\n")
    bad_arg = _muse(tmp_path, "--config", str(cfg), "ingest", "hearts", "--no-such-flag")
    assert bad_arg.returncode == 2
    [line] = bad_arg.stderr.splitlines()
    assert json.loads(line)["kind"] == "error" and "--no-such-flag" in json.loads(line)["message"]
    printed = _muse(tmp_path, "--config", str(cfg), "cron", "print")
    assert printed.returncode == 0, printed.stderr
    assert all(json.loads(line)["kind"] == "result" for line in printed.stdout.splitlines())
    # The environment beats the file, the flag beats the environment.
    env_plain = _muse(tmp_path, "--config", str(cfg), "cron", "print", env={"MUSE_LOG_FORMAT": "plain"})
    assert env_plain.stdout.startswith("# Chimera Muse: written by `muse cron print`")
    flag_json = _muse(tmp_path, "--config", str(cfg), "--log-format", "json", "cron", "print",
                      env={"MUSE_LOG_FORMAT": "plain"})
    assert json.loads(flag_json.stdout.splitlines()[0])["kind"] == "result"
    # No file: the default (auto, plain without a terminal).
    default = _muse(tmp_path, "cron", "print")
    assert default.stdout.startswith("# Chimera Muse: written by `muse cron print`")
    # A config file that cannot be parsed is still one clear error, in the default format.
    cfg.write_text("log: [json\n")
    broken = _muse(tmp_path, "--config", str(cfg), "cron", "print")
    assert broken.returncode == 2 and broken.stderr.startswith("Error: config file"), broken.stderr
