"""Grader throughput: plain sequential `nbgrader autograde` (no sandbox, no
trusted checks) against `python -m autograder grade` (sandbox, trusted
checks, 2 workers) on the same generated class, in one run on this machine.

The class: N copies of the reference solution whose students chose different
training-set sizes (so notebooks differ in length, as in a real class).
Reports submissions per hour, wall seconds per submission, the grader's
overhead over the notebook's own execution time (split into the trusted
checks and the rest), and peak memory of each side's whole process tree.

The grader does not run the notebook's validation pass and in-notebook
accuracy test (stage 2 replaces that score with accuracy on held-out data),
so its notebooks are shorter than plain nbgrader's by that pass; the result
says for how many submissions that held.

Each sandboxed notebook runs on one torch thread (the two workers share the
two cores); plain nbgrader runs one notebook at a time on 2 threads.
benchmarks/bench_thread_scaling.py explains why that caps the ratio.

The trusted checks keep the frozen encoder's output on the test split on
disk (autograder/prefix_cache.py), built once per machine. The benchmark
warms it first and reports what building it costs, separately.

Usage: .venv/bin/python benchmarks/bench_grader.py [--students 20]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
import assignment_fixtures as af  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "grader_throughput.json"
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
SIZES = (250, 500, 1000)


def training_size(index: int) -> int:
    """N_TRAIN of the class's student number ``index``."""
    return SIZES[index % len(SIZES)]


def make_class(n: int) -> dict[str, dict]:
    answers = af.reference_answers()
    return {f"student{i:02d}": af.submission(answers, free_cell_edits=(("N_TRAIN = 1000", f"N_TRAIN = {training_size(i)}"),))
            for i in range(n)}


def make_course(path: Path) -> Path:
    af.make_course(path)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", af.ASSIGNMENT, "--force"], cwd=path,
                   env=ENV, check=True, capture_output=True)
    return path


class PeakTreeMemory:
    """Highest summed RSS of a process and all its descendants, sampled twice a second."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.5):
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak / 2**20)


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak tree RSS in MB) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = PeakTreeMemory(proc.pid)
    _, err = proc.communicate()
    peak = memory.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{err[-3000:]}")
    return time.perf_counter() - start, peak


def plain_nbgrader(klass: dict, tmp: Path) -> dict:
    """nbgrader as a TA runs it: one command for the class, one notebook at a time, no sandbox."""
    course = make_course(tmp / "plain")
    for student, notebook in klass.items():
        target = course / "submitted" / student / af.ASSIGNMENT / f"{af.ASSIGNMENT}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(notebook))
    total, peak = run_measured([sys.executable, "-m", "nbgrader", "autograde", af.ASSIGNMENT, "--force"], course)
    graded = list((course / "autograded").glob(f"*/{af.ASSIGNMENT}/{af.ASSIGNMENT}.ipynb"))
    assert len(graded) == len(klass), f"nbgrader autograded {len(graded)} of {len(klass)} submissions"
    return {"command": f"nbgrader autograde {af.ASSIGNMENT} (the whole class, one process)",
            "total_seconds": round(total, 1), "submissions_per_hour": round(3600 * len(klass) / total, 1),
            "seconds_per_submission": round(total / len(klass), 1), "peak_rss_mb_process_tree": peak}


def _n_train(result: dict) -> int:
    return training_size(int(result["student"].removeprefix("student")))


def _overhead_by_size(stored: list[dict]) -> dict:
    by_size = {}
    for r in stored:
        by_size.setdefault(_n_train(r), []).append(r["wall_seconds"] / r["notebook_seconds"] - 1)
    return {str(n): {"mean": round(statistics.mean(v), 3), "max": round(max(v), 3)} for n, v in sorted(by_size.items())}


def this_grader(klass: dict, tmp: Path, workers: int) -> tuple[dict, list[dict]]:
    folder = tmp / "class"
    folder.mkdir()
    for student, notebook in klass.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(notebook))
    course = make_course(tmp / "graded")
    total, peak = run_measured([sys.executable, "-m", "autograder", "grade", af.ASSIGNMENT, str(folder),
                                "--out", str(tmp / "out"), "--course-dir", str(course),
                                "--workers", str(workers), "--no-progress"], ROOT)
    stored = [json.loads(p.read_text()) for p in (tmp / "out" / ".store").glob("*.json")]
    assert len(stored) == len(klass), "every submission graded once"
    from autograder import assignments

    bar = assignments.FINETUNE_LAST_LAYER.accuracy_threshold
    for r in stored:  # every part full, except accuracy when a small training set missed the bar
        expected = dict(af.FULL, test_accuracy=af.FULL["test_accuracy"] if r["trusted"]["accuracy"] >= bar else 0)
        assert r["status"] == "graded" and r["scores"] == expected, (r["student"], r["status"], r["scores"], r["trusted"])
    overhead = [r["wall_seconds"] / r["notebook_seconds"] - 1 for r in stored]
    trusted = [r["trusted_seconds"] / r["notebook_seconds"] for r in stored]
    return ({"workers": workers, "total_seconds": round(total, 1),
             "submissions_per_hour": round(3600 * len(klass) / total, 1),
             "seconds_per_submission": round(total / len(klass), 1),
             "mean_sandboxed_notebook_seconds": round(statistics.mean(r["notebook_seconds"] for r in stored), 1),
             "mean_trusted_check_seconds": round(statistics.mean(r["trusted_seconds"] for r in stored), 2),
             "overhead_per_submission": {"mean": round(statistics.mean(overhead), 3), "max": round(max(overhead), 3),
                                         "of_which_trusted_checks_mean": round(statistics.mean(trusted), 3)},
             "overhead_by_training_size": _overhead_by_size(stored),
             "largest_overheads": [{"student": r["student"], "n_train": _n_train(r), "overhead": round(o, 3),
                                    "notebook_seconds": round(r["notebook_seconds"], 1),
                                    "trusted_seconds": round(r["trusted_seconds"], 2)}
                                   for o, r in sorted(zip(overhead, stored), key=lambda pair: -pair[0])[:3]],
             "peak_rss_mb_process_tree": peak,
             "validation_pass_left_to_trusted_stage": f"{sum(bool(r.get('stand_ins')) for r in stored)} of {len(stored)}",
             "reached_the_accuracy_bar": f"{sum(r['scores']['test_accuracy'] > 0 for r in stored)} of {len(stored)}"}, stored)


def prefix_cache_cost() -> dict:
    """Warm the on-disk prefix (so both sides are measured in steady state) and time a cold build."""
    import torch

    from autograder import assignments, worker

    torch.set_num_threads(1)
    checker = worker.checker_for(assignments.FINETUNE_LAST_LAYER)
    checker._prefix()  # builds the file if this machine has none yet
    start = time.perf_counter()
    checker._compute_prefix()
    return {"cold_build_seconds_one_thread": round(time.perf_counter() - start, 1),
            "note": "paid once per machine (then read from .data/grader/); warm before the timed runs"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    klass = make_class(args.students)
    result = {"machine": f"{os.cpu_count()} cores", "load_average_at_start": round(os.getloadavg()[0], 2),
              "students": args.students,
              "class": f"reference solution, N_TRAIN cycling through {list(SIZES)}, 3 epochs",
              "prefix_cache": prefix_cache_cost()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result["plain_nbgrader"] = plain_nbgrader(klass, tmp)
        OUT.with_suffix(".partial.json").write_text(json.dumps(result, indent=2) + "\n")  # survives a later failure
        result["this_grader"], _ = this_grader(klass, tmp, args.workers)
    result["throughput_ratio"] = round(result["plain_nbgrader"]["total_seconds"] / result["this_grader"]["total_seconds"], 2)
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["targets"] = {"throughput_ratio": ">= 1.3", "overhead_per_submission": "<= 0.15 (mean)"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    OUT.with_suffix(".partial.json").unlink(missing_ok=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
