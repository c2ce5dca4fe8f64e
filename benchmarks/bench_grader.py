"""Grader throughput: plain sequential `nbgrader autograde` (no sandbox, no
trusted checks) against `python -m autograder grade` (sandbox, trusted
checks, 2 workers) on the same generated class, in one run on this machine.

The class: N copies of the reference solution whose students chose different
training-set sizes (so notebooks differ in length, as in a real class).
Reports submissions per hour, wall seconds per submission, the grader's
overhead over the notebook's own execution time, and peak memory.
Usage: .venv/bin/python benchmarks/bench_grader.py [--students 20]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]
import assignment_fixtures as af  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "grader_throughput.json"
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def make_class(n: int) -> dict[str, dict]:
    answers = af.reference_answers()
    sizes = [96, 192, 288]
    return {f"student{i:02d}": af.submission(answers, free_cell_edits=(("N_TRAIN = 1000", f"N_TRAIN = {sizes[i % 3]}"),
                                                                       ("EPOCHS = 3", "EPOCHS = 2")))
            for i in range(n)}


def make_course(path: Path) -> Path:
    af.make_course(path)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", af.ASSIGNMENT, "--force"], cwd=path,
                   env=ENV, check=True, capture_output=True)
    return path


def peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=20)
    args = parser.parse_args()
    klass = make_class(args.students)
    result = {"machine": f"{os.cpu_count()} cores", "load_average_at_start": round(os.getloadavg()[0], 2), "students": args.students,
              "class": "reference solution, N_TRAIN in {96,192,288}, 2 epochs"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # plain nbgrader, one student at a time, as nbgrader runs
        course = make_course(tmp / "plain")
        per_student = {}
        for student, notebook in klass.items():
            target = course / "submitted" / student / af.ASSIGNMENT / f"{af.ASSIGNMENT}.ipynb"
            target.parent.mkdir(parents=True)
            target.write_text(json.dumps(notebook))
        start = time.perf_counter()
        for student in klass:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nbgrader", "autograde", af.ASSIGNMENT, "--student", student, "--force"],
                           cwd=course, env=ENV, check=True, capture_output=True)
            per_student[student] = time.perf_counter() - t
        plain_total = time.perf_counter() - start
        plain_peak = peak_children_mb()

        folder = tmp / "class"
        folder.mkdir()
        for student, notebook in klass.items():
            (folder / f"{student}.ipynb").write_text(json.dumps(notebook))
        course2 = make_course(tmp / "graded")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograder", "grade", af.ASSIGNMENT, str(folder), "--out", str(tmp / "out"),
                        "--course-dir", str(course2), "--workers", "2", "--no-progress"],
                       cwd=ROOT, env=ENV, check=True, capture_output=True)
        grader_total = time.perf_counter() - start
        grader_peak = peak_children_mb()
        stored = [json.loads(p.read_text()) for p in (tmp / "out" / ".store").glob("*.json")]
        assert len(stored) == args.students and all(r["status"] == "graded" for r in stored)
        overheads = [r["wall_seconds"] / r["notebook_seconds"] - 1 for r in stored]

    result["plain_nbgrader"] = {"total_seconds": round(plain_total, 1),
                                "submissions_per_hour": round(3600 * args.students / plain_total, 1),
                                "seconds_per_submission": round(plain_total / args.students, 1),
                                "peak_rss_mb_any_process": round(plain_peak)}
    result["this_grader"] = {"total_seconds": round(grader_total, 1),
                             "submissions_per_hour": round(3600 * args.students / grader_total, 1),
                             "seconds_per_submission": round(grader_total / args.students, 1),
                             "mean_overhead_over_sandboxed_notebook": round(sum(overheads) / len(overheads), 3),
                             "max_overhead_over_sandboxed_notebook": round(max(overheads), 3),
                             "peak_rss_mb_any_process": round(grader_peak)}
    mean_plain = sum(per_student.values()) / len(per_student)
    mean_notebook = sum(r["notebook_seconds"] for r in stored) / len(stored)
    result["throughput_ratio"] = round(plain_total / grader_total, 2)
    result["mean_wall_per_submission_in_worker_vs_plain_nbgrader"] = round(
        sum(r["wall_seconds"] for r in stored) / len(stored) / mean_plain - 1, 3)
    result["mean_sandboxed_notebook_seconds"] = round(mean_notebook, 1)
    result["targets"] = {"throughput_ratio": ">= 1.3", "overhead_per_submission": "<= 0.15"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
