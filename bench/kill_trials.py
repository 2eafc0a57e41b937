"""SIGKILL the whole server (gunicorn master and workers) at a random moment of a
publishing burst, restart it, and count duplicates and lost posts.

Runs the trials of tests/test_processes.py (single images) and of
tests/test_carousel_processes.py (a mix of single images and carousels of 2-4
items, a third with a first comment), each 20 times (CI runs 3 of each):

    .venv/bin/python bench/kill_trials.py [--trials 20] [--postgres] [--only mixed]

Mixed trials also count duplicate comments, carousels with wrong or reordered
items, and spare containers: made by a request the kill cut off (Meta made
it, the answer never arrived), never published, expired by Meta in 24 h; the
test fails if one was requested more than 2 s before the kill, or after it.
"""

from __future__ import annotations

import argparse
import json

from benchlib import report
from benchlib import run_test_at_scale

RUNS = {
    "single": "tests/test_processes.py",
    "mixed": "tests/test_carousel_processes.py",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--only", choices=sorted(RUNS), help="run one kind of trial")
    args = parser.parse_args()
    worst = 0
    totals = {}
    for kind, test_file in RUNS.items():
        if args.only and kind != args.only:
            continue
        code, rows = run_test_at_scale(
            test_file,
            "random_moment",
            {"OSPOST_KILL_TRIALS": str(args.trials)},
            "OSPOST_KILL_REPORT",
            args.postgres,
        )
        worst = max(worst, code)
        (print_mixed if kind == "mixed" else print_single)(rows)
        totals[kind] = total(rows)
    report(json.dumps(totals))
    return worst


def print_single(rows: list[dict]) -> None:
    report()
    report("single images")
    report("trial  kill after  published before kill  posts  duplicates  lost")
    for r in rows:
        report(
            f"{r['trial']:>5}  {r['kill_after_s']:>8.2f}s  "
            f"{r['published_before_kill']:>21}  {r['posts']:>5}  "
            f"{r['duplicates']:>10}  {r['lost']:>4}"
        )


def print_mixed(rows: list[dict]) -> None:
    report()
    report("single images and carousels, with first comments")
    report(
        "trial  kill after  published before  posts  carousels  duplicates  lost  "
        "bad carousels  comments  dup. comments  spare containers"
    )
    for r in rows:
        bad = r["wrong_children"] + (0 if r["order_ok"] else 1)
        report(
            f"{r['trial']:>5}  {r['kill_after_s']:>8.2f}s  "
            f"{r['published_before_kill']:>16}  {r['posts']:>5}  {r['carousels']:>9}  "
            f"{r['duplicates']:>10}  {r['lost']:>4}  {bad:>13}  {r['comments']:>8}  "
            f"{r['duplicate_comments']:>13}  {r['spare_containers']:>16}"
        )


def total(rows: list[dict]) -> dict:
    keys = (
        "posts",
        "carousels",
        "duplicates",
        "lost",
        "comments",
        "duplicate_comments",
        "missing_comments",
        "spare_containers",
    )
    out = {"trials": len(rows)}
    for key in keys:
        if rows and key in rows[0]:
            out[key] = sum(r[key] for r in rows)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
