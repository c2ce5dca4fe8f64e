"""The grader's commands (``python -m autograder COMMAND --help`` for each):

  grade ASSIGNMENT SUBMISSIONS --out DIR   grade a whole class (sandboxed, trusted)
  course init FOLDER                       set up a course folder outside the checkout
  lab student|staff FOLDER [--user NAME]   JupyterLab for a student, or with formgrader for staff
  release ASSIGNMENT                       generate the student version and stamp its release
  carry-over OLD.ipynb NEW.ipynb -o OUT    move a student's answers into a fixed release
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autograder import assignments, reports, sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a whole class")
    grade.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    grade.add_argument("submissions", type=Path, help="nbgrader submitted/ tree, a folder of <student>.ipynb, or a .zip")
    grade.add_argument("--out", type=Path, required=True, help="where grades.csv, results/, feedback/ and summary.md go")
    grade.add_argument("--course-dir", type=Path, default=Path.cwd(),
                       help="the nbgrader course folder: source/, release/, gradebook.db (default: this folder)")
    grade.add_argument("--workers", type=int, default=2)
    grade.add_argument("--force", action="store_true", help="regrade submissions graded before")
    grade.add_argument("--seed", type=int, default=0, help="another seed draws other challenges")
    grade.add_argument("--cell-timeout", type=float, default=sandbox.Limits.cell_timeout_s)
    grade.add_argument("--notebook-timeout", type=float, default=sandbox.Limits.notebook_timeout_s)
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code WITHOUT the sandbox (only where bubblewrap cannot run); every output says so")
    grade.add_argument("--no-progress", action="store_true")

    course = commands.add_parser("course", help="course folders")
    course_verbs = course.add_subparsers(dest="verb", required=True)
    init = course_verbs.add_parser("init", help="set up a course folder from this checkout")
    init.add_argument("folder", type=Path)
    init.add_argument("--course-id", default="nlp-transfer")

    lab = commands.add_parser("lab", help="start JupyterLab for a student or for staff (with formgrader)")
    lab.add_argument("role", choices=["student", "staff"])
    lab.add_argument("folder", type=Path, help="the course folder")
    lab.add_argument("--user", help="the student's user name (students only)")
    lab.add_argument("--port", type=int)

    release = commands.add_parser("release", help="generate release/ASSIGNMENT from source/ and stamp it")
    release.add_argument("assignment", help=f"one of: {', '.join(assignments.names())}")
    release.add_argument("--course-dir", type=Path, default=Path.cwd())

    carry = commands.add_parser("carry-over", help="move a student's answers into a fixed release")
    carry.add_argument("old", type=Path, help="the student's notebook made from the older release")
    carry.add_argument("new", type=Path, help="the new release's notebook (freshly fetched)")
    carry.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "grade":
        return _grade(parser, args)
    if args.command == "course":
        from autograder.course import init as init_course

        folder = init_course(args.folder, args.course_id)
        print(f"course folder ready: {folder}\n  staff:    python -m autograder lab staff {folder}\n"
              f"  students: python -m autograder lab student {folder} --user NAME")
        return 0
    if args.command == "lab":
        from autograder.course import lab as start_lab

        start_lab(args.folder, args.role, args.user, args.port)
        return 0
    if args.command == "release":
        from autograder.release import release as make_release

        stamp = make_release(_assignment(parser, args.assignment), args.course_dir)
        print(f"release/{args.assignment}: {stamp['label']} (source {stamp['source_sha256'][:12]})")
        return 0
    if args.command == "carry-over":
        import nbformat

        from autograder.release import carry_over

        merged, dropped = carry_over(json.loads(args.old.read_text(encoding="utf-8-sig")),
                                     nbformat.read(args.new, as_version=4))
        args.output.write_text(json.dumps(merged, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {args.output}" + (f"; not carried (no longer asked): {', '.join(dropped)}" if dropped else ""))
        return 0
    return 2


def _assignment(parser, name: str):
    try:
        return assignments.get(name)
    except KeyError as error:
        parser.error(str(error.args[0]))


def _grade(parser, args) -> int:
    from autograder.batch import grade_batch

    if args.unsafe_no_sandbox:
        print(reports.UNSAFE_BANNER, file=sys.stderr)
    _assignment(parser, args.assignment)
    limits = sandbox.Limits(cell_timeout_s=args.cell_timeout, notebook_timeout_s=args.notebook_timeout)
    results = grade_batch(args.assignment, args.submissions, args.out, course_dir=args.course_dir,
                          workers=args.workers, force=args.force, unsafe_no_sandbox=args.unsafe_no_sandbox,
                          seed=args.seed, limits=limits, progress=not args.no_progress)
    print(reports.summary(results))
    print(f"wrote {args.out / 'grades.csv'}, {args.out / 'results'}/<student>/results.json, {args.out / 'feedback'}/")
    return 0
