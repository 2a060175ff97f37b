"""Secrets set in the environment never appear in any command's output."""

from __future__ import annotations

import json

from muse.errors import ExitCode

SECRETS = {
    "DD_API_KEY": "ddapi-5e1f0a9b",
    "DD_APP_KEY": "ddapp-77c3e2d1",
    "DEEPL_AUTH_KEY": "deepl-0b9c8d7e:fx",
    "VERCEL_TOKEN": "vercel-tok-a1b2c3",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T000/B000/slacksecret42",
    "PAGERDUTY_ROUTING_KEY": "pdroute-3344ffee",
    "MUSE_CLICKHOUSE_URL": "clickhouse://chuser-4471:chpass-9911@127.0.0.1:9/db",
}
# The store URL's credentials are looked for one by one: a message that prints the password
# without the user (or the other way round) leaks as much as one that prints both.
NEEDLES = {**{k: v for k, v in SECRETS.items() if k != "MUSE_CLICKHOUSE_URL"},
           "MUSE_CLICKHOUSE_URL user": "chuser-4471", "MUSE_CLICKHOUSE_URL password": "chpass-9911"}


def test_no_command_prints_a_secret(cli, migrated) -> None:
    embedded = {k: v for k, v in SECRETS.items() if k != "MUSE_CLICKHOUSE_URL"}
    ok, down = ExitCode.OK, ExitCode.STORE_UNAVAILABLE
    runs = [
        (("--help",), SECRETS, ok), (("config", "show"), SECRETS, ok), (("config", "show", "--json"), SECRETS, ok),
        # --offline: the live probes would call the real services; test_health.py covers them.
        (("config", "validate"), SECRETS, ok), (("health", "--offline"), embedded, ok),
        (("health", "--offline", "--json"), embedded, ok), (("digest",), embedded, ok),
        (("monitors", "list"), SECRETS, ok), (("db", "status"), embedded, ok), (("query", "SELECT 1"), embedded, ok),
        # The server URL holds a password; the connection error (and its --debug traceback)
        # must not echo it. Nothing listens on port 9: the store is unavailable.
        (("query", "SELECT 1"), SECRETS, down), (("--debug", "db", "status"), SECRETS, down),
    ]
    for args, env, code in runs:
        r = cli(*args, env=env)
        # A command that fails early prints little, so "no secret in the output" would prove
        # nothing: each one must have done what it was asked (or failed the way it should).
        assert r.exit_code == code, (args, r)
        for name, needle in NEEDLES.items():
            if name == "MUSE_CLICKHOUSE_URL user" and "--debug" in args:
                continue  # clickhouse_driver's own DEBUG line names the user it connects as
            assert needle not in r.output, f"{name} leaked by muse {' '.join(args)}"


def test_secrets_passed_as_logging_arguments_are_masked(monkeypatch, capsys) -> None:
    """A secret reaching a log line as a %-argument (a URL with a key, a headers dict) is
    masked too, in plain and JSON logs; a value too short to be a secret is left alone so
    ordinary words in logs are not blanked."""
    import logging

    from muse import logs

    monkeypatch.setattr(logs, "_SECRETS", [])
    logs.register_secrets(["vercel-tok-a1b2c3", "pd42", "", "on", "pd42"])
    root = logging.getLogger("muse")
    saved = (list(root.handlers), root.level, root.propagate)
    log = logging.getLogger("muse.test_secrets")
    try:
        for fmt in ("plain", "json"):
            logs.configure(fmt)
            log.warning("deploying on %s with %r for café", "https://api/?token=vercel-tok-a1b2c3",
                        {"routing_key": "pd42"})
            err = capsys.readouterr().err
            assert "vercel-tok-a1b2c3" not in err and "pd42" not in err, err
            assert err.count("********") == 2, err
            assert "deploying on" in err, "a 2-character 'secret' must not blank ordinary words"
            assert "café" in err  # JSON logs stay readable (no \u00e9)
        # A traceback in JSON logs (the exception's text holds the token) and a JSON result line.
        logs.configure("json", debug=True)
        try:
            raise RuntimeError("401 for token vercel-tok-a1b2c3")
        except RuntimeError:
            log.exception("deploy failed")
        err = capsys.readouterr().err
        assert "vercel-tok-a1b2c3" not in err and "401 for token ********" in err, err
        line = logs.json_line("info", "result", "url ?key=vercel-tok-a1b2c3 for café", episode=7)
        assert "vercel-tok-a1b2c3" not in line and "café" in line  # readable, not \u00e9
        doc = json.loads(line)
        assert (doc["level"], doc["kind"], doc["episode"]) == ("info", "result", 7)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        root.propagate = saved[2]
