"""The TA command's behaviour as a batch: resumable, deterministic, fault-isolated, refusing clearly.

Small classes of cheap submissions (the unchanged release and attacks that
stop early), graded through the real command, sandbox and gradebook.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import assignments
from conftest import ROOT, grade, make_course, results_by_student, write_class

pytestmark = pytest.mark.slow
NAME = "finetune_last_layer"
CHEAP = ("unchanged_release", "atk_sys_exit", "atk_deleted_tests")


@pytest.fixture(scope="module")
def corpus():
    return assignments.get(NAME).fixtures()


@pytest.fixture(scope="module")
def cheap_class(corpus, tmp_path_factory):
    """A class of cheap submissions."""
    base = tmp_path_factory.mktemp("cheap")
    write_class(base / "submissions", {s: corpus[s].notebook for s in CHEAP})
    return base


@pytest.fixture
def course_for(reference_state):
    """A new course folder whose grader folder already holds the session's secret and reference answers."""
    return lambda path: reference_state.copy_into(make_course(path), NAME)


def _command(submissions, out, *extra):
    return [sys.executable, "-m", "autograder", "grade", NAME, str(submissions), "--out", str(out), "--no-progress", *extra]


def test_a_killed_batch_resumes_without_loss_or_duplicates(cheap_class, course_for, tmp_path):
    course = course_for(tmp_path / "course")
    out = tmp_path / "out"
    victim = subprocess.Popen(_command(cheap_class / "submissions", out, "--workers", "1"), cwd=course,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and not list((out / ".store" / NAME).glob("*.json")):
        time.sleep(0.5)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    finished_before = {p.name: p.read_bytes() for p in (out / ".store" / NAME).glob("*.json")}
    assert 1 <= len(finished_before) < len(CHEAP)
    grade(NAME, cheap_class / "submissions", out, course)
    after = results_by_student(out, NAME)  # raises if a student appears twice
    assert sorted(after) == sorted(CHEAP)
    for name, content in finished_before.items():  # nothing finished was redone or lost
        assert (out / ".store" / NAME / name).read_bytes() == content
    assert not list(out.rglob("*.tmp"))
    for student in CHEAP:  # reports for work finished before the kill as well as after it
        assert (out / "feedback" / f"{student}.html").is_file()
        assert (out / "results" / student / "results.json").is_file()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(NAME)) == sorted(CHEAP)


def test_regrading_gives_identical_results_and_a_change_to_source_draws_other_challenges(cheap_class, course_for,
                                                                                        tmp_path):
    course = course_for(tmp_path / "course")
    out = tmp_path / "out"
    runs = []
    for extra in ((), ("--force",)):
        grade(NAME, cheap_class / "submissions", out, course, *extra)
        runs.append({s: (r.status, r.scores, r.checks) for s, r in results_by_student(out, NAME).items()})
    assert runs[0] == runs[1]  # the same release and seed: the same challenges and the same verdicts
    source = course / "source" / NAME / f"{NAME}.ipynb"
    source.write_text(source.read_text().replace("Learning objectives", "Learning objectives (errata 1)"))
    second = grade(NAME, cheap_class / "submissions", out, course)
    assert "skipped" not in second.stdout  # the checks came from another source notebook: everything regraded
    assert len(list((out / ".store" / NAME).glob("*.json"))) == 2 * len(CHEAP)
    references = list((course / ".autograder" / NAME).glob("reference-*.json"))
    assert len(references) == 2
    first, other = (json.loads(p.read_text()) for p in references)
    assert set(first) == set(other) and first != other  # same challenges by name, other inputs


def test_a_worker_killed_mid_grading_is_a_grader_error_that_a_rerun_retries(cheap_class, course_for, tmp_path):
    course = course_for(tmp_path / "course")
    out = tmp_path / "out"
    grader = subprocess.Popen(_command(cheap_class / "submissions", out, "--workers", "1"), cwd=course,
                              start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    killed = False
    while time.monotonic() < deadline and grader.poll() is None and not killed:
        workers = subprocess.run(["pgrep", "-f", "multiprocessing.spawn", "-P", str(grader.pid)],
                                 capture_output=True, text=True).stdout.split()
        sandboxes = list(Path("/proc").glob("[0-9]*/cmdline"))
        if workers and any(b"runner.py" in p.read_bytes() for p in sandboxes if p.exists() and _readable(p)):
            os.kill(int(workers[0]), signal.SIGKILL)  # the worker, not the student's notebook
            killed = True
        time.sleep(0.5)
    grader.wait(timeout=1800)
    assert killed
    first = results_by_student(out, NAME)
    faults = {s for s, r in first.items() if r.status == "grader_error"}
    assert faults, {s: r.status for s, r in first.items()}
    with open(out / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    for student in faults:  # never a student's zero
        assert rows[student]["score"] == "" and not (out / "results" / student / "results.json").exists()
    again = grade(NAME, cheap_class / "submissions", out, course)
    assert all(r.status != "grader_error" for r in results_by_student(out, NAME).values()), again.stdout


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
        return True
    except OSError:
        return False


def test_a_locked_gradebook_costs_no_grade(cheap_class, course_for, tmp_path):
    """Another program holds the gradebook's write lock: grades are still stored and reported, the
    gradebook write is listed as not done, and the next run writes it."""
    import sqlite3

    from nbgrader.api import Gradebook

    course = course_for(tmp_path / "course")
    out = tmp_path / "out"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", NAME, "--force"], cwd=course, env=env,
                   check=True, capture_output=True)  # the gradebook knows the assignment, no student yet
    holder = sqlite3.connect(course / "gradebook.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # readers go on, writers wait and give up
    try:
        grade(NAME, cheap_class / "submissions", out, course)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    summary = (out / "summary.md").read_text()
    assert "gradebook could not be written" in summary, summary
    assert all(r.status == "graded" for r in results_by_student(out, NAME).values())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert list(gb.assignment_submissions(NAME)) == []
    again = grade(NAME, cheap_class / "submissions", out, course)
    assert "skipped" in again.stdout  # nothing regraded: only the gradebook is written
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(NAME)) == sorted(CHEAP)


def test_a_reference_that_fails_its_own_challenges_leaves_nothing_graded(corpus, tmp_path):
    """An instructor's broken solution stops the run with one message, even when submissions finished
    before it did: no grade, report or gradebook entry, and no reference answers kept."""
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "course")
    source = course / "source" / NAME / f"{NAME}.ipynb"
    notebook = json.loads(source.read_text())
    first = next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    first["source"] = "def encode_batch(*args, **kwargs):\n    raise RuntimeError('broken on purpose')\n"
    source.write_text(json.dumps(notebook))
    write_class(tmp_path / "class", {s: corpus[s].notebook for s in ("unchanged_release", "atk_sys_exit")})
    run = grade(NAME, tmp_path / "class", tmp_path / "out", course, "--workers", "2", check=False)
    assert run.returncode != 0
    assert "Nothing was graded" in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    assert "could not answer its own challenges" in run.stdout + run.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()
    assert not list((tmp_path / "out").rglob("*.json")) and not list((tmp_path / "out").rglob("*.html"))
    assert not list((course / ".autograder" / NAME).glob("reference-*.json"))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert list(gb.assignment_submissions(NAME)) == []


def test_without_bubblewrap_the_grader_refuses_unless_told_unsafe(corpus, course_for, tmp_path):
    """PATH without bwrap/unshare/setpriv: the real command must refuse, or shout when forced."""
    write_class(tmp_path / "one", {"unchanged_release": corpus["unchanged_release"].notebook})
    course = course_for(tmp_path / "course")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    command = _command(tmp_path / "one", tmp_path / "out")
    refused = subprocess.run(command, capture_output=True, text=True, env=env, cwd=course)
    assert refused.returncode != 0 and "sandbox is unavailable" in refused.stderr + refused.stdout
    assert not (tmp_path / "out" / "grades.csv").exists()
    forced = subprocess.run(command + ["--unsafe-no-sandbox"], capture_output=True, text=True, env=env, cwd=course)
    assert forced.returncode == 0, forced.stderr[-2000:]
    for path in [tmp_path / "out" / "grades.csv", tmp_path / "out" / "summary.md",
                 tmp_path / "out" / "results" / "unchanged_release" / "results.json",
                 tmp_path / "out" / "feedback" / "unchanged_release.html"]:
        assert "unsafe-no-sandbox" in path.read_text(), path.name


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs as another user only when the grader runs as root")
def test_a_sandbox_that_cannot_work_stops_the_run_with_one_clear_message(corpus, tmp_path):
    """A copy of the grader's code made with umask 077 (files only their owner can read), as on a hardened
    host: the sandbox user cannot import the course package, so no notebook could run. The preflight says
    so once, instead of a grader fault per student."""
    copy = tmp_path / "copy"
    for folder in ("autograder", "coursekit"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [copy / "coursekit", *(copy / "coursekit").rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    write_class(tmp_path / "one", {"unchanged_release": corpus["unchanged_release"].notebook})
    course = make_course(tmp_path / "course")
    env = dict(os.environ, PYTHONPATH=str(copy), COURSE_DATA=str(ROOT / ".data"))
    run = subprocess.run(_command(tmp_path / "one", tmp_path / "out"), capture_output=True, text=True, env=env,
                         cwd=course)
    assert run.returncode != 0
    assert "cannot run notebooks on this machine" in run.stderr + run.stdout, (run.stdout + run.stderr)[-3000:]
    assert not (tmp_path / "out" / "grades.csv").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind-mount the checkout under a 0700 folder")
def test_the_grader_works_when_the_checkout_sits_under_a_folder_only_root_can_enter(corpus, course_for, tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    checkout = hidden / "checkout"
    checkout.mkdir()
    subprocess.run(["mount", "--bind", str(ROOT), str(checkout)], check=True)
    try:
        write_class(tmp_path / "one", {"unchanged_release": corpus["unchanged_release"].notebook})
        course = course_for(tmp_path / "course")
        python = checkout / ".venv" / "bin" / "python"
        env = dict(os.environ, COURSE_DATA=str(checkout / ".data"))
        # Run from the checkout, so the grader and coursekit are imported from under the 0700 folder.
        run = subprocess.run([str(python), "-m", "autograder", "grade", NAME, str(tmp_path / "one"), "--out",
                              str(tmp_path / "out"), "--course-dir", str(course), "--no-progress"],
                             capture_output=True, text=True, cwd=checkout, env=env, timeout=1800)
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        result = results_by_student(tmp_path / "out", NAME)["unchanged_release"]
        assert result.status == "graded" and result.score == 0, result.reason
    finally:
        subprocess.run(["umount", str(checkout)], check=True)
