"""`muse --help` wall time against `python -c "import typer, rich"` (target ratio <= 1.3).

Usage: python benchmarks/help_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import BIN, interleaved, report, time_cmd  # noqa: E402


def main(repeats: int = 15) -> dict:
    import compileall

    import muse as pkg

    # pip byte-compiles a normal install; an editable one (and PYTHONDONTWRITEBYTECODE=1)
    # would otherwise recompile every module on each start, which no user sees.
    root = Path(pkg.__file__).resolve().parent
    for folder in (root, root.parent / "agents"):
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=1)
    muse = [str(BIN / "muse"), "--help"]
    base = [sys.executable, "-c", "import typer, rich"]
    time_cmd(muse), time_cmd(base)  # warm the page cache
    measured, baseline = interleaved(lambda: time_cmd(muse), lambda: time_cmd(base), repeats)
    return report("muse --help vs import typer, rich", measured, baseline, 1.3)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    sys.exit(0 if main(ap.parse_args().repeats)["pass"] else 1)
