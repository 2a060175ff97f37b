"""Added latency of the narrator per episode: council.compose with the narrator (two analysts
and a judge against the loopback OpenAI-compatible fake of tests/fake_openai.py, answering
at once) vs without, on the demo store, interleaved in one process (target ratio <= 2).

The fake answers instantly, so this measures what muse adds (prompt building, the SDK,
HTTP on loopback, verification, re-rendering, llm_events rows); a real model adds its own
generation time on top.

Usage: python benchmarks/narrator_latency.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from benchmarks.common import interleaved, report  # noqa: E402


def _analyst(req: dict) -> dict:
    if len(req["messages"]) < 2:  # `muse health`'s one-line probe
        return {"ok": True}
    doc = json.loads(req["messages"][1]["content"])
    facts = {f["id"]: f for f in doc["facts"]}
    claims = []
    for s in doc["sections"]:
        for fid in s["facts"][:3]:
            claims.append({"section": s["section"], "facts": [fid],
                           "text": f"The {facts[fid]['label'].split(' (')[0]} is {facts[fid]['display']}."})
    return {"claims": claims}


def _judge(req: dict) -> dict:
    doc = json.loads(req["messages"][1]["content"])
    return {"sections": [{"section": s["section"], "facts": [i for c in s["claims"] for i in c["facts"]],
                          "text": " ".join(c["text"] for c in s["claims"])} for s in doc["sections"]]}


def main(repeats: int = 7) -> dict:
    from fake_openai import KEY, FakeOpenAI

    from muse.agents import council
    from muse.config import load_settings
    from muse.demo.runner import run_demo
    from muse.runs import RunContext
    from muse.store import open_store
    from muse.telemetry import Telemetry

    fake = FakeOpenAI()
    fake.answer("analyst-a", _analyst)
    fake.answer("analyst-b", _analyst)
    fake.answer("judge-j", _judge)
    with tempfile.TemporaryDirectory(prefix="muse-bench-narrator-") as tmp:
        state = str(Path(tmp) / "state")
        result = run_demo(load_settings(overrides={"state_dir": state}), lambda line: None, until="analytics")
        if int(result.exit_code) != 0:
            raise SystemExit(f"demo setup failed: {result.steps[-1]}")
        settings = load_settings(overrides={
            "state_dir": state, "narrator.base_url": fake.url, "narrator.api_key": KEY,
            "narrator.analysts": "analyst-a,analyst-b", "narrator.judge": "judge-j", "narrator.daily_budget_usd": 0},
            env={"MUSE_CONFIG": str(Path(state) / "demo" / "muse.yaml")})
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        window = council.Window(now - timedelta(days=7), now)
        narrated = []
        with open_store(settings) as store:
            ctx = RunContext("council", str(uuid.uuid4()), settings, store, Telemetry(), now)

            def timed(narrate: bool) -> float:
                t0 = time.perf_counter()
                comp = council.compose(ctx, window=window, narrate=narrate)
                if narrate:
                    narrated.append(comp.narration.summary())
                return time.perf_counter() - t0

            timed(False), timed(True)  # warm-up
            measured, baseline = interleaved(lambda: timed(True), lambda: timed(False), repeats)
    fake.close()
    last = narrated[-1]
    print(f"narrated sections: {', '.join(last['narrated'])}; {last['calls']} calls, "
          f"{last['claims_kept']} claims kept, {last['claims_dropped']} dropped")
    print(f"added per narrated episode: median {1000 * (statistics.median(measured) - statistics.median(baseline)):.0f} ms")
    return report("council.compose with narrator vs without (loopback fake)", measured, baseline, 2.0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    sys.exit(0 if main(ap.parse_args().repeats)["pass"] else 1)
