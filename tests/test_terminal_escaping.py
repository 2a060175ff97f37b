"""Names with newlines, ANSI escapes or bidi overrides are shown escaped on the terminal and in logs."""

from __future__ import annotations

import io
import logging
import re

from hypothesis import given, settings as hsettings, strategies as st

from muse.logs import configure, terminal_safe, terminal_text

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = st.text(alphabet=st.sampled_from(list("ab|`<>&{}%\\ \n\r\t\x1b[31m\x07\x9b\u202e\u2067\u200f\x00é漢"))
                  | st.characters(), max_size=300)


@given(HOSTILE)
@hsettings(max_examples=300, deadline=None)
def test_terminal_safe_leaves_nothing_a_terminal_acts_on_and_is_reversible(s: str) -> None:
    out = terminal_safe(s)
    assert not UNSAFE.search(out)
    assert "\n" not in out
    if not UNSAFE.search(s):
        assert out == s  # ordinary names are shown as they are
    else:
        decoded = re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|n|r|t|\\)",
                         lambda m: {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}.get(m.group(1))
                         or chr(int(m.group(1)[1:], 16)), out)
        assert decoded == s


@given(HOSTILE)
@hsettings(max_examples=200, deadline=None)
def test_terminal_text_keeps_lines_but_no_escapes(s: str) -> None:
    out = terminal_text(s)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert out.count("\n") == s.count("\n")


def test_a_log_record_naming_a_hostile_file_stays_one_line(monkeypatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr("sys.stderr", buf)
    configure("plain")
    logging.getLogger("muse.test").warning("skipping %s: bad", "evil\n2026-01-01 ERROR muse: forged\x1b[2J.jsonl")
    out = buf.getvalue()
    assert out.count("\n") == 1 and "\x1b" not in out
    assert "evil\\n2026-01-01 ERROR muse: forged\\x1b[2J.jsonl" in out
    buf.truncate(0)
    configure("json")
    logging.getLogger("muse.test").warning("name %s", "a\x1b]0;title\x07b")
    assert buf.getvalue().count("\n") == 1 and "\x1b" not in buf.getvalue()


def test_query_results_and_errors_show_names_escaped(cli, migrated) -> None:
    r = cli("query", "SELECT 'ok\\n\\x1B[2Jforged\\tcell' AS name, 1 AS n")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == ["name\tn", "ok\\n\\x1b[2Jforged\\tcell\t1"]
    r = cli("--config", "/nonexistent/\x1b[31mred\nline.yaml", "config", "show")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: config file /nonexistent/\\x1b[31mred\\nline.yaml does not exist"
    assert "\x1b" not in r.stderr
