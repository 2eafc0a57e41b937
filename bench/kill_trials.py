"""SIGKILL the whole server (gunicorn master and workers) at a random moment of a
publishing burst, restart it, and count duplicates and lost posts.

Runs the same trial as tests/test_processes.py (which does 3 in CI) 20 times:

    .venv/bin/python bench/kill_trials.py [--trials 20] [--postgres]
"""

from __future__ import annotations

import argparse
import json

from benchlib import report
from benchlib import run_test_at_scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    code, rows = run_test_at_scale(
        "tests/test_processes.py",
        "random_moment",
        {"OSPOST_KILL_TRIALS": str(args.trials)},
        "OSPOST_KILL_REPORT",
        args.postgres,
    )
    report()
    report("trial  kill after  published before kill  posts  duplicates  lost")
    for r in rows:
        report(
            f"{r['trial']:>5}  {r['kill_after_s']:>8.2f}s  "
            f"{r['published_before_kill']:>21}  {r['posts']:>5}  "
            f"{r['duplicates']:>10}  {r['lost']:>4}"
        )
    total = {
        "trials": len(rows),
        "posts": sum(r["posts"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "lost": sum(r["lost"] for r in rows),
    }
    report(json.dumps(total))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
