"""Agent schedules: the cron evaluator, punctuality, and crontab.example kept in step."""

from __future__ import annotations

import random
import re
import shlex
from datetime import datetime, timedelta, timezone

import pytest
import typer
from typer._click.exceptions import UsageError

from helpers import ROOT
from muse.schedule import SCHEDULES, SCHEDULES_BY_AGENT, Cron, CronError, check_punctuality, zone

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("expr, after, expected", [
    ("*/15 * * * *", "2026-03-01 10:07", "2026-03-01 10:15"),
    ("*/15 * * * *", "2026-03-01 10:45", "2026-03-01 11:00"),
    ("*/5 * * * *", "2026-03-01 23:59", "2026-03-02 00:00"),
    ("5 * * * *", "2026-03-01 10:05", "2026-03-01 11:05"),
    ("0 2 * * *", "2026-03-01 02:00", "2026-03-02 02:00"),
    ("0 2 * * *", "2026-02-28 03:00", "2026-03-01 02:00"),
    ("0 4 * * 1", "2026-03-01 05:00", "2026-03-02 04:00"),  # 2026-03-02 is a Monday
    ("30 6 1 * *", "2026-03-01 07:00", "2026-04-01 06:30"),
    ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),  # leap day
    ("0 9 1 * 1", "2026-03-03 10:00", "2026-03-09 09:00"),  # day-of-month OR day-of-week
])
def test_next_after(expr: str, after: str, expected: str) -> None:
    assert Cron.parse(expr).next_after(t(after)) == t(expected)


def _brute_next(cron: Cron, after: datetime) -> datetime:
    m = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        if (m.minute in cron.minutes and m.hour in cron.hours and cron._day_matches(m)):
            return m
        m += timedelta(minutes=1)


def test_next_and_previous_agree_with_a_minute_by_minute_search() -> None:
    rng = random.Random(7)
    exprs = [s.cron for s in SCHEDULES] + ["10-40/10 */3 * * 1-5", "0 12 15 * 0"]
    for expr in exprs:
        cron = Cron.parse(expr)
        for _ in range(25):
            start = t("2026-01-01 00:00") + timedelta(minutes=rng.randrange(60 * 24 * 60), seconds=rng.randrange(60))
            nxt = cron.next_after(start)
            assert nxt == _brute_next(cron, start), (expr, start)
            assert cron.previous_at_or_before(nxt) == nxt
            assert cron.previous_at_or_before(nxt - timedelta(minutes=1)) < nxt


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"])
def test_bad_cron_expressions_are_rejected(expr: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(expr)


def test_punctuality_like_healthchecks() -> None:
    watcher = SCHEDULES_BY_AGENT["watcher"]
    now = t("2026-03-01 12:00")
    assert check_punctuality(watcher, now - timedelta(minutes=5), now).state == "ok"
    # Last run 11:30 -> due 11:45 -> late after 11:55.
    assert check_punctuality(watcher, t("2026-03-01 11:30"), t("2026-03-01 11:55")).state == "ok"
    late = check_punctuality(watcher, now - timedelta(hours=3), now)
    assert late.state == "late"
    assert late.detail.startswith("late: last run 3 h ago, expected every 15m")
    assert check_punctuality(watcher, None, now).state == "never"

    council = SCHEDULES_BY_AGENT["council"]
    yesterday = t("2026-03-01 02:00:03")
    assert check_punctuality(council, yesterday, t("2026-03-02 02:59")).state == "ok"  # within the 1h grace
    assert check_punctuality(council, yesterday, t("2026-03-02 03:01")).state == "late"


def test_publish_waits_for_a_successful_council() -> None:
    publish = SCHEDULES_BY_AGENT["publish"]
    last_publish = t("2026-03-01 02:01")
    now = t("2026-03-02 04:00")
    blocked = check_punctuality(publish, last_publish, now, predecessor=("blocked", t("2026-03-02 02:00:01")))
    assert blocked.state == "waiting" and "council run was blocked" in blocked.detail
    no_council = check_punctuality(publish, last_publish, now, predecessor=("ok", t("2026-03-01 02:00:01")))
    assert no_council.state == "waiting"
    # The council succeeded today and publish did not follow: that is publish's problem.
    assert check_punctuality(publish, last_publish, now,
                             predecessor=("ok", t("2026-03-02 02:00:01"))).state == "late"


# -- crontab.example ---------------------------------------------------------------
def _crontab() -> tuple[dict[str, str], list[tuple[str, str]]]:
    env: dict[str, str] = {}
    jobs: list[tuple[str, str]] = []
    for line in (ROOT / "crontab.example").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Z_]+)\s*=\s*(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a cron line: {line}"
        jobs.append((" ".join(fields[:5]), fields[5]))
    return env, jobs


def _muse_invocations(command: str) -> list[list[str]]:
    """Each `muse ...` in a cron command, as argv after `muse`, redirections removed."""
    out = []
    for part in re.split(r"&&|;", command):
        words = shlex.split(part)
        if words and words[0] == "muse":
            out.append([w for w in words[1:] if not w.startswith(">") and not w.startswith("2>")
                        and not w.startswith("/var/log/")])
    return out


def test_crontab_matches_the_schedules() -> None:
    env, jobs = _crontab()
    assert env.get("CRON_TZ") == "UTC"
    assert env.get("MAILTO") == '""'
    found: dict[str, str] = {}
    for cron, command in jobs:
        Cron.parse(cron)
        assert command.startswith(". /etc/muse/env && "), command
        for argv in _muse_invocations(command):
            assert not any(a.startswith("--log-format") for a in argv), "log.format in the config decides"
            sub = " ".join(argv)
            agent = next((s.agent for s in SCHEDULES if sub == s.command), None)
            assert agent, f"crontab runs `muse {sub}`, which no schedule in muse/schedule.py describes"
            assert f">> /var/log/muse/{agent}.log 2>&1" in command
            found[agent] = cron
    assert set(found) == set(SCHEDULES_BY_AGENT), "every scheduled agent has a cron line"
    for s in SCHEDULES:
        assert found[s.agent] == s.cron, f"{s.agent}: crontab says {found[s.agent]!r}, schedule.py {s.cron!r}"
    # publish runs in the council's line, only after it succeeded.
    council_line = next(c for _, c in jobs if "council generate" in c)
    assert re.search(r"council generate .*&& muse publish latest", council_line)


def test_crontab_commands_parse_with_the_cli() -> None:
    """Each cron command is a valid `muse` invocation: an existing command, accepted flags."""
    from muse.cli import app

    root = typer.main.get_command(app)
    _, jobs = _crontab()
    unbuilt = []
    for _, command in jobs:
        for argv in _muse_invocations(command):
            args = argv
            group = root.commands.get(args[0])  # type: ignore[attr-defined]
            if group is None:
                unbuilt.append(args[0])
                continue
            cmd, rest = group, args[1:]
            while getattr(cmd, "commands", None) and rest and rest[0] in cmd.commands:
                cmd, rest = cmd.commands[rest[0]], rest[1:]
            try:
                cmd.make_context(" ".join(args), list(rest))
            except UsageError as exc:
                pytest.fail(f"crontab runs `muse {' '.join(args)}`: {exc}")
    assert not unbuilt, f"crontab runs `muse` commands the CLI does not have: {', '.join(sorted(set(unbuilt)))}"


def test_crontab_example_is_what_cron_print_writes_for_the_defaults(cli) -> None:
    result = cli("cron", "print")
    assert result.exit_code == 0, result
    def jobs(text: str) -> list[str]:
        return [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
    assert jobs(result.stdout) == jobs((ROOT / "crontab.example").read_text())


def test_cron_print_follows_the_configured_schedule(cli, tmp_path) -> None:
    cfg = tmp_path / "muse.yaml"
    cfg.write_text('schedule:\n  timezone: Europe/Berlin\n  watcher: "*/30 * * * *"\n  council: "30 1 * * *"\n')
    result = cli("--config", str(cfg), "cron", "print", "--log-dir", "/srv/logs")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert "CRON_TZ=Europe/Berlin" in lines
    assert any(l.startswith("*/30 * * * * ") and "watcher check >> /srv/logs/watcher.log 2>&1" in l for l in lines)
    council = next(l for l in lines if "council generate" in l)
    assert council.startswith("30 1 * * * ") and "&& muse publish latest" in council


@pytest.mark.parametrize("yaml_text, where", [
    ('schedule:\n  watcher: "*/15 * * *"\n', "schedule.watcher"),
    ('schedule:\n  timezone: Mars/Olympus\n', "schedule.timezone"),
])
def test_a_bad_schedule_is_one_clear_line_exit_2(cli, tmp_path, yaml_text, where) -> None:
    cfg = tmp_path / "muse.yaml"
    cfg.write_text(yaml_text)
    result = cli("--config", str(cfg), "cron", "print")
    assert result.exit_code == 2 and where in result.stderr and "Traceback" not in result.output, result


def test_a_zone_evaluates_cron_on_its_wall_clock() -> None:
    berlin = Cron.parse("0 2 * * *", zone("Europe/Berlin"))
    # Winter (UTC+1): 02:00 Berlin is 01:00 UTC; summer (UTC+2): 00:00 UTC.
    assert berlin.next_after(t("2026-01-10 12:00")) == t("2026-01-11 01:00")
    assert berlin.next_after(t("2026-07-10 12:00")) == t("2026-07-11 00:00")
    # 2026-03-29 02:00 does not exist in Berlin (spring forward): cron does not fire that day.
    assert berlin.next_after(t("2026-03-28 12:00")) == t("2026-03-30 00:00")
    assert berlin.previous_at_or_before(t("2026-07-11 00:30")) == t("2026-07-11 00:00")
