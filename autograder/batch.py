"""A whole class: parallel workers, a progress bar with ETA, resumable."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from autograder import gradebook, intake, reports, sandbox, worker
from autograder.store import ResultStore, write_atomically


def _die_with_parent() -> None:
    """Workers (and through --die-with-parent their sandboxes) end if the batch is killed."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    import torch

    torch.set_num_threads(1)


def ensure_in_gradebook(spec, course_dir: Path, db_url: str) -> None:
    """The assignment and its grade cells must be in the gradebook before scores go in."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_notebook(Path(spec.notebook).stem, spec.name)
            return
        except MissingEntry:
            pass
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", spec.name, "--force",
                    f"--CourseDirectory.root={course_dir}", f"--CourseDirectory.db_url={db_url}"],
                   cwd=course_dir, env=env, check=True, capture_output=True)


def _crash_result(job: worker.Job, error: BaseException) -> dict:
    spec_cells = worker._instructor_notebooks(worker.assignments.get(job.assignment))[2]
    result = worker._base(job, spec_cells)
    result.update(status="ungradable", reason=f"grader fault (not the student's): {error!r}")
    return result


def _write_student_reports(out_dir: Path, result: dict, executed: dict | None, release_nb) -> None:
    """The student's Gradescope results.json and feedback page (without hidden tests)."""
    student = result["student"]
    write_atomically(out_dir / "results" / student / "results.json", json.dumps(reports.gradescope(result), indent=2).encode())
    write_atomically(out_dir / "feedback" / f"{student}.html", reports.feedback_html(result, executed, release_nb).encode())


def grade_batch(spec, submissions: Path, out_dir: Path, *, course_dir: Path, workers: int = 2,
                force: bool = False, unsafe_no_sandbox: bool = False, seed: int = 0,
                limits: sandbox.Limits = sandbox.Limits(), progress: bool = True) -> list[dict]:
    out_dir = Path(out_dir)
    course_dir = Path(course_dir).resolve()
    db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    if not unsafe_no_sandbox:
        available, why = sandbox.sandbox_available()
        if not available:
            raise SystemExit(f"The grading sandbox is unavailable: {why}\nInstall it with: sudo apt-get install -y bubblewrap\n"
                             "(or pass --unsafe-no-sandbox to run student code unprotected; every output will say so)")
    ensure_in_gradebook(spec, course_dir, db_url)
    found = intake.collect(Path(submissions), spec.name, Path(spec.notebook).stem)
    store = ResultStore(out_dir)
    jobs = {}
    for sub in found:
        key = store.key(sub.student, sub.sha256, seed)
        if force or not store.has(key):
            jobs[key] = worker.Job(sub.student, spec.name, sub.origin, sub.raw, sub.sha256, sub.problem,
                                   seed, unsafe_no_sandbox, limits)
    skipped = len(found) - len(jobs)
    if skipped:
        print(f"{skipped} submission(s) already graded with grader version and seed unchanged: skipped (--force regrades)")

    release_nb = nbformat.read(spec.release_path, as_version=4)
    if jobs:
        with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=get_context("spawn"),
                                 initializer=_die_with_parent) as pool:
            futures = {pool.submit(worker.grade, job): key for key, job in jobs.items()}
            bar = tqdm(total=len(futures), desc="grading", unit="notebook", disable=not progress, smoothing=0)
            for future in as_completed(futures):
                key = futures[future]
                try:
                    result, executed = future.result()
                except Exception as error:  # a worker fault must not stop the class
                    traceback.print_exc()
                    result, executed = _crash_result(jobs[key], error), None
                store.save(key, result, executed)
                gradebook.record(db_url, course_dir, spec, result, executed)
                _write_student_reports(out_dir, result, executed, release_nb)  # now, while the other workers run
                bar.set_postfix_str(f"{result['student']}: {result['status']}")
                bar.update()
            bar.close()

    results = []
    for sub in found:
        key = store.key(sub.student, sub.sha256, seed)
        result = store.load(key)
        if key not in jobs:  # graded by an earlier run: make sure the gradebook and reports have it
            executed = store.executed(key)
            gradebook.record(db_url, course_dir, spec, result, executed)
            _write_student_reports(out_dir, result, executed, release_nb)
        results.append(result)
    reports.write_csv(results, out_dir / "grades.csv")
    write_atomically(out_dir / "summary.md", reports.summary(results).encode())
    return results
