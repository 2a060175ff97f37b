"""The embedded store's size under many short cron runs (issue 23 §1).

Builds the demo (its own HOME and state dir under a work dir), runs `muse ingest hearts
--pending` (nothing new: every report is already ingested) N times as separate processes,
the way cron does, and prints the store's bytes and files after the first run and after
the last, their ratios, the replaced (outdated) parts left, and the median run time of the
first and the last tenth of the runs (ratio; the same machine, the same run).

Target: bytes and files after N runs within 1.25x of the first run's; run time ratio <= 1.25.

Usage: python benchmarks/store_growth.py [--runs 1000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from muse.fsutil import disk_usage

BIN = Path(sys.executable).parent


def muse(env: dict[str, str], state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "muse"), "--state-dir", str(state), "-q", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def setup(work: Path) -> tuple[dict[str, str], Path]:
    home, state = work / "home", work / "state"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSE_", "XDG_"))}
    env.update(HOME=str(home), NO_COLOR="1")
    if not (state / "clickhouse").exists():
        subprocess.run([str(BIN / "muse"), "--state-dir", str(state), "-q", "demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return env, state


def main(runs: int = 1000, workdir: str | None = None, keep: bool = False) -> list[dict]:
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="muse-store-growth-"))
    try:
        env, state = setup(work)
        times: list[float] = []
        first: tuple[int, int] | None = None
        for i in range(runs):
            t0 = time.perf_counter()
            proc = muse(env, state, "ingest", "hearts", "--pending")
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"run {i + 1} exited {proc.returncode}: {proc.stderr[-500:]}")
            if i == 0:
                first = disk_usage(state / "clickhouse")
        assert first is not None
        last = disk_usage(state / "clickhouse")
        tenth = max(1, runs // 10)
        t_first, t_last = statistics.median(times[:tenth]), statistics.median(times[-tenth:])
        out = {"runs": runs, "bytes_first": first[0], "files_first": first[1], "bytes_last": last[0],
               "files_last": last[1], "bytes_ratio": last[0] / first[0], "files_ratio": last[1] / first[1],
               "time_ratio": t_last / t_first}
        print(f"store after run 1: {first[0] / 1e6:.1f} MB, {first[1]} files; after run {runs}: "
              f"{last[0] / 1e6:.1f} MB, {last[1]} files")
        ok = out["bytes_ratio"] <= 1.25 and out["files_ratio"] <= 1.25
        print(f"store-growth: bytes ratio {out['bytes_ratio']:.2f}, files ratio {out['files_ratio']:.2f} "
              f"(target <= 1.25) {'PASS' if ok else 'FAIL'}")
        tok = out["time_ratio"] <= 1.25
        print(f"store-growth run time: median of the first {tenth} runs {t_first:.3f}s, of the last {tenth} "
              f"{t_last:.3f}s, ratio {out['time_ratio']:.2f} (target <= 1.25) {'PASS' if tok else 'FAIL'}")
        return [
            {"name": f"store bytes after {runs} runs", "measured": last[0], "baseline": first[0],
             "ratio": out["bytes_ratio"], "target": 1.25, "pass": out["bytes_ratio"] <= 1.25},
            {"name": f"store files after {runs} runs", "measured": last[1], "baseline": first[1],
             "ratio": out["files_ratio"], "target": 1.25, "pass": out["files_ratio"] <= 1.25},
            {"name": "short run time, last vs first tenth", "measured": t_last, "baseline": t_first,
             "ratio": out["time_ratio"], "target": 1.25, "pass": tok},
        ]
    finally:
        if not keep and not workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sys.exit(0 if all(r["pass"] for r in main(a.runs, a.workdir, a.keep)) else 1)
