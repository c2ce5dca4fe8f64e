"""``python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR [--workers N] [--force]``"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import assignments, reports, sandbox
from coursekit.paths import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a whole class")
    grade.add_argument("assignment")
    grade.add_argument("submissions", type=Path, help="nbgrader submitted/ tree, a folder of <student>.ipynb, or a .zip")
    grade.add_argument("--out", type=Path, required=True, help="where grades.csv, results/, feedback/ and summary.md go")
    grade.add_argument("--workers", type=int, default=2)
    grade.add_argument("--force", action="store_true", help="regrade submissions graded before")
    grade.add_argument("--course-dir", type=Path, default=PROJECT_ROOT, help="nbgrader course folder (gradebook.db)")
    grade.add_argument("--seed", type=int, default=0)
    grade.add_argument("--cell-timeout", type=float, default=sandbox.Limits.cell_timeout_s)
    grade.add_argument("--notebook-timeout", type=float, default=sandbox.Limits.notebook_timeout_s)
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code WITHOUT the sandbox (only where bubblewrap cannot run); every output says so")
    grade.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    from autograder.batch import grade_batch

    if args.unsafe_no_sandbox:
        print(reports.UNSAFE_BANNER, file=sys.stderr)
    spec = assignments.get(args.assignment)
    limits = sandbox.Limits(cell_timeout_s=args.cell_timeout, notebook_timeout_s=args.notebook_timeout)
    results = grade_batch(spec, args.submissions, args.out, course_dir=args.course_dir, workers=args.workers,
                          force=args.force, unsafe_no_sandbox=args.unsafe_no_sandbox, seed=args.seed,
                          limits=limits, progress=not args.no_progress)
    print(reports.summary(results))
    print(f"wrote {args.out / 'grades.csv'}, {args.out / 'results'}/<student>/results.json, {args.out / 'feedback'}/")
    return 0
