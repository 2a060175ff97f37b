"""The demo's episode, read as a new user would: the planted regression with its real step,
the users' side of it with an interval and controls, the regressing commit, honest words."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}\n")[1].split("\n## ")[0]


@pytest.mark.slow
def test_demo_episode_names_the_planted_regression_and_its_users(cli: Any, settings: Any) -> None:
    r = cli("demo")
    assert r.exit_code == 0, r
    demo = settings.state_dir / "demo"
    planted = json.loads((demo / "manifest.json").read_text())["planted"]["latency_regression"]
    model, quant, sha = planted["model"], planted["quant"], planted["commit"][:10]
    md = (demo / "banterblogs" / "posts" / "ep-1.md").read_text()
    tldr, perf, why = _section(md, "TL;DR"), _section(md, "Model performance"), _section(md, "Why it matters")
    # TL;DR: the step of the planted series (x1.55 on p95; medians either side of the commit).
    m = re.search(rf"\*\*Regression:\*\* `{model}` `{quant}` on `[^`]+` .*?\(([+-]\d+\.\d)%\) at commit `{sha}`", tldr)
    assert m and 45 <= float(m.group(1)) <= 60, tldr
    # Model performance shows the same step for that series, at that commit.
    rows = [line for line in perf.splitlines() if line.startswith(f"| `{model}` | `{quant}` |")]
    assert rows and all(f"`{sha}`" in row for row in rows)
    steps = [float(x) for row in rows for x in re.findall(r"\| ([+-]\d+\.\d)% \|$", row)]
    assert steps and all(45 <= s <= 60 for s in steps), rows
    # Users: the same model's calls, with an interval and counts, and the other models as control.
    assert f"**Users:** `{model}` calls" in tldr and "95% CI" in tldr
    lead = why.strip().splitlines()[0]
    assert lead.startswith(f"**Users' `{model}` calls") and f"commit `{sha}`" in lead and "95% bootstrap CI" in lead
    assert "Control, the other models over the same span: `llama3-8b`" in why and "`qwen2-7b`" in why
    # The regressing commit is listed in What shipped, never folded away.
    assert f"`{sha}`" in _section(md, "What shipped")
    # Honest words: nothing called strong on a handful of days; no contradiction called agreement.
    day_line = next(line for line in why.splitlines() if line.startswith("Secondary, day by day"))
    assert "strong" not in why.split(day_line)[1].split("Across")[0]
    if "r = -" in day_line:
        assert "**contradiction**" in why
    assert cli("council", "trace", "1").exit_code == 0
