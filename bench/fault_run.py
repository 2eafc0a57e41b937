"""Publish 200 posts while 20% of all Graph API calls fail at random (HTTP 500,
timeouts, rate limits 4/17/613, unknown errors 1/2, media not ready), plus an
account whose posts fail permanently. Prints how many were published and how
many Graph calls each made.

Runs the same test as tests/test_faults.py (30 posts in CI) at full size:

    .venv/bin/python bench/fault_run.py [--posts 200] [--postgres]
"""

from __future__ import annotations

import argparse
import json

from benchlib import report
from benchlib import run_test_at_scale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    code, rows = run_test_at_scale(
        "tests/test_faults.py",
        "flaky",
        {"OSPOST_FAULT_POSTS": str(args.posts)},
        "OSPOST_FAULT_REPORT",
        args.postgres,
    )
    for row in rows:
        report()
        report(f"posts due together           {row['posts']}")
        report(f"published                    {row['published']}")
        report(f"time to settle all           {row['seconds']} s")
        report(f"Graph calls per post         mean {row['graph_calls_mean']}, "
               f"max {row['graph_calls_max']} (limit 10)")  # fmt: skip
        report(f"faults injected              {row['faults_injected']} "
               f"of {row['calls_total']} calls")  # fmt: skip
        report(json.dumps(row))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
