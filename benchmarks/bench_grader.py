"""Grader throughput and per-submission overhead, against plain `nbgrader autograde`.

The class: 20 different finished submissions of the core assignment from its
fixture corpus (the reference, every honest-but-unusual solution, and mistakes
that still train), so no two notebooks are the same and nothing is reused.

* Plain nbgrader: one `nbgrader autograde` for the class, nbgrader's own
  preprocessors (the notebook runs in the student's kernel, hidden tests
  included; no sandbox, no trusted checks), torch on both cores.
* This grader: `python -m autograder grade` on a fresh course folder, exactly as
  a TA runs it: preflight, then the class in the sandbox with challenges and
  trusted checks, 2 workers on one torch thread each, the reference solution's
  own run among the first.
  A second run on another copy of the class with the reference already computed
  shows the steady state.

On a fresh course the reference's sandboxed run takes one worker's place
while the first submissions run; a submission that finishes before it waits
(its worker meanwhile grades the next one) and is judged once the reference's
answers exist. That wait is recorded (``reference_wait_seconds``) but is not
work done for the submission, so it is not part of its overhead; it is part of
the class's total time.

Per submission, the overhead is the grader's wall time for that submission
(intake, restore, screen, sandbox, challenges, trusted checks) over its
sandboxed notebook run (kernel start, the cells, kernel stop), minus one.

Usage: .venv/bin/python benchmarks/bench_grader.py
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "grader_throughput.json"
NAME = "finetune_last_layer"
NOTEBOOK = f"{NAME}.ipynb"
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
EXTRA_MISTAKES = ("mistake_pool_counts_padding", "mistake_mask_result_unused", "mistake_no_zero_grad",
                  "mistake_inspection_crashes_and_predict_order")
PLAIN_CONFIG = '''c = get_config()  # noqa: F821
load_subconfig({base!r})  # noqa: F821
# nbgrader's own autograding: the notebook, hidden tests included, runs in the student's kernel.
c.Autograde.sanitize_preprocessors = ["nbgrader.preprocessors.ClearOutput", "nbgrader.preprocessors.DeduplicateIds",
                                      "nbgrader.preprocessors.OverwriteKernelspec", "nbgrader.preprocessors.OverwriteCells",
                                      "nbgrader.preprocessors.CheckCellMetadata"]
c.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
                                       "nbconvert.preprocessors.ClearMetadataPreprocessor",
                                       "nbgrader.preprocessors.LimitOutput", "nbgrader.preprocessors.SaveAutoGrades",
                                       "nbgrader.preprocessors.AssignLatePenalties",
                                       "nbgrader.preprocessors.CheckCellMetadata"]
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
'''


def make_class() -> dict[str, dict]:
    from autograder import assignments

    corpus = assignments.get(NAME).fixtures()
    chosen = ["reference"] + [s for s, f in corpus.items() if f.kind == "honest"] + list(EXTRA_MISTAKES)
    return {student: corpus[student].notebook for student in chosen[:20]}


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
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    memory = PeakTreeMemory(proc.pid)
    _, err = proc.communicate()
    peak = memory.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:5])} failed:\n{err[-3000:]}")
    return time.perf_counter() - start, peak


def course(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "autograder", "course", "init", str(path)], env=ENV, check=True,
                   capture_output=True)
    return path


def plain_nbgrader(klass: dict, tmp: Path) -> dict:
    folder = course(tmp / "plain")
    (folder / "nbgrader_config.py").write_text(PLAIN_CONFIG.format(base=str(ROOT / "nbgrader_config.py"), root=str(folder)))
    for student, notebook in klass.items():
        target = folder / "submitted" / student / NAME / NOTEBOOK
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(notebook))
    total, peak = run_measured([sys.executable, "-m", "nbgrader", "autograde", NAME, "--force"], folder)
    graded = list((folder / "autograded").glob(f"*/{NAME}/{NOTEBOOK}"))
    assert len(graded) == len(klass), f"nbgrader autograded {len(graded)} of {len(klass)} submissions"
    return {"command": f"nbgrader autograde {NAME} (nbgrader's own preprocessors, one process)",
            "total_seconds": round(total, 1), "submissions_per_hour": round(3600 * len(klass) / total, 1),
            "seconds_per_submission": round(total / len(klass), 1), "peak_rss_mb_process_tree": peak}


def this_grader(klass: dict, folder: Path, tmp: Path, label: str) -> dict:
    from autograder.assignments.finetune_last_layer.fixtures import corpus

    submissions = tmp / f"class-{label}"
    submissions.mkdir()
    for student, notebook in klass.items():
        (submissions / f"{student}.ipynb").write_text(json.dumps(notebook))
    out = tmp / f"out-{label}"
    total, peak = run_measured([sys.executable, "-m", "autograder", "grade", NAME, str(submissions), "--out", str(out),
                                "--workers", "2", "--no-progress", "--force"], folder)
    from autograder.result import GradeResult

    results = [GradeResult.from_json(p.read_text()) for p in (out / ".store" / NAME).glob("*.json")]
    assert len(results) == len(klass), "every submission graded once"
    expected = corpus()
    for r in results:
        assert r.status == "graded" and r.scores == {k: float(v) for k, v in expected[r.student].expected.items()}, (
            r.student, r.status, r.reason)
    rows = []
    for r in results:
        notebook = r.timings["notebook"]
        rows.append({"student": r.student, "notebook_seconds": round(notebook, 1),
                     "challenges_seconds": round(r.timings["challenges"], 2),
                     "trusted_seconds": round(r.timings["trusted"], 2), "total_seconds": round(r.timings["total"], 1),
                     "reference_wait_seconds": round(r.timings.get("reference_wait", 0.0), 1),
                     "overhead": round(r.timings["total"] / notebook - 1, 3)})
    overhead = [row["overhead"] for row in rows]
    return {"total_seconds": round(total, 1), "submissions_per_hour": round(3600 * len(klass) / total, 1),
            "seconds_per_submission": round(total / len(klass), 1), "peak_rss_mb_process_tree": peak,
            "mean_notebook_seconds": round(statistics.mean(r["notebook_seconds"] for r in rows), 1),
            "mean_challenges_seconds": round(statistics.mean(r["challenges_seconds"] for r in rows), 2),
            "mean_trusted_seconds": round(statistics.mean(r["trusted_seconds"] for r in rows), 2),
            "overhead_per_submission": {"mean": round(statistics.mean(overhead), 3), "max": max(overhead),
                                        "over_15_percent": sum(o > 0.15 for o in overhead)},
            "per_submission": sorted(rows, key=lambda row: -row["overhead"])}


def main():
    klass = make_class()
    result = {"machine": f"{os.cpu_count()} cores", "load_average_at_start": round(os.getloadavg()[0], 2),
              "students": len(klass), "class": "reference, the corpus's honest solutions and four mistakes that train; "
                                               "all different"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result["plain_nbgrader"] = plain_nbgrader(klass, tmp)
        OUT.with_suffix(".partial.json").write_text(json.dumps(result, indent=2) + "\n")
        folder = course(tmp / "graded")
        result["this_grader_first_run"] = this_grader(klass, folder, tmp, "first")
        result["this_grader_steady_state"] = this_grader(klass, folder, tmp, "again")
    plain = result["plain_nbgrader"]["total_seconds"]
    result["throughput_ratio"] = {"first_run": round(plain / result["this_grader_first_run"]["total_seconds"], 2),
                                  "steady_state": round(plain / result["this_grader_steady_state"]["total_seconds"], 2)}
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["targets"] = {"throughput_ratio": ">= 1.3", "overhead_per_submission": "<= 0.15, each submission"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    OUT.with_suffix(".partial.json").unlink(missing_ok=True)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("this_grader")}, indent=2))


if __name__ == "__main__":
    main()
