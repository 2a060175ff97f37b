"""`muse ingest hearts --pending` on 1,000 benchmark reports: reports per second.

The reports are the demo's (each: 4 results, 12 LLM calls), written to a banterhearts-like
folder. Measures the first run (everything pending) and a second run (nothing pending).

Usage: python benchmarks/ingest_hearts.py [--reports 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import BIN  # noqa: E402


def main(n: int) -> dict:
    from muse.demo import data as demodata

    work = Path(tempfile.mkdtemp(prefix="muse-bench-hearts-"))
    reports = work / "banterhearts" / "reports" / "benchmarks"
    reports.mkdir(parents=True)
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    plan = demodata.Plan(start, 60)
    written, i = 0, 0
    while written < n:
        t = start + timedelta(hours=i)
        for rid, doc in demodata.hearts_reports(t, f"{i:040x}", plan).items():
            if written < n:
                (reports / f"{rid}.json").write_text(json.dumps(doc, indent=2))
                written += 1
        i += 1
    env = {**os.environ, "MUSE_STATE_DIR": str(work / "state"), "MUSE_REPOS_BANTERHEARTS_PATH": str(work / "banterhearts")}
    env.pop("MUSE_CONFIG", None)
    subprocess.run([str(BIN / "muse"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    cmd = [str(BIN / "muse"), "ingest", "hearts", "--pending", "--json"]
    timings = []
    for label in ("all pending", "nothing pending"):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        timings.append(time.perf_counter() - t0)
        doc = json.loads(out.stdout)
        print(f"{label}: {timings[-1]:.2f}s wall ({doc['duration_s']:.2f}s in the agent), {doc['message']}")
    rate = n / timings[0]
    print(f"ingest hearts --pending: {n} reports in {timings[0]:.2f}s = {rate:,.0f} reports/s "
          f"(process start included)")
    shutil.rmtree(work, ignore_errors=True)
    return {"reports": n, "seconds": timings[0], "reports_per_s": rate, "noop_seconds": timings[1]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=1000)
    main(ap.parse_args().reports)
