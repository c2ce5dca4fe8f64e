"""The grader end to end, through the real command on one class that holds
the core assignment's fixtures, 30 attacks and 40+ bad inputs."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import assignment_fixtures as af  # noqa: E402
import attacks  # noqa: E402
import bad_inputs  # noqa: E402
from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.slow
ASSIGNMENT = af.ASSIGNMENT
HIDDEN_MARKERS = ("BEGIN HIDDEN", "ACCURACY_BAR", "_bert3", "_distil5", "long_text", "_noisy")


def grade(submissions: Path, out: Path, course: Path, *extra: str, check=True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, str(submissions), "--out", str(out),
                           "--course-dir", str(course), "--no-progress", *extra],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=check, timeout=3600)


def write_class(folder: Path, notebooks: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for student, notebook in notebooks.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(notebook))


def results_by_student(out: Path) -> dict[str, dict]:
    results = {}
    for path in sorted((out / ".store").glob("*.json")):
        result = json.loads(path.read_text())
        assert result["student"] not in results, f"{result['student']} graded twice"
        results[result["student"]] = result
    return results


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    fixtures = af.fixtures()
    attack_set = attacks.attacks()
    write_class(base / "submissions", {k: v[0] for k, v in {**fixtures, **attack_set}.items()})
    write_class(base / "submissions", {"reports_validation_accuracy": af.reads_val_accuracy(af.SHORT_TRAINING)})
    release = json.loads(af.RELEASE.read_text())
    bad = bad_inputs.write_bad_inputs(release, base / "submissions")
    course = af.make_course(base / "course")
    start = time.monotonic()
    run = grade(base / "submissions", base / "out", course, "--workers", "2", "--cell-timeout", "150")
    return {"out": base / "out", "course": course, "run": run, "fixtures": fixtures, "attacks": attack_set,
            "bad": bad, "seconds": time.monotonic() - start, "submissions": base / "submissions"}


def test_every_submission_is_graded_exactly_once(graded_class):
    students = {p.stem for p in graded_class["submissions"].glob("*.ipynb")}
    with open(graded_class["out"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student"] for r in rows) == sorted(students)
    assert set(results_by_student(graded_class["out"])) == students
    assert "Grading summary" in graded_class["run"].stdout


@pytest.mark.parametrize("student", sorted(af.fixtures()))
def test_core_fixture_scores_through_the_grader(graded_class, student):
    result = results_by_student(graded_class["out"])[student]
    expected = graded_class["fixtures"][student][1]
    assert result["status"] == "graded", result["reason"]
    assert result["scores"] == {k: float(v) for k, v in expected.items()}, result["notes"]


@pytest.mark.parametrize("student", sorted(attacks.attacks()))
def test_attack_earns_no_undeserved_point(graded_class, student):
    result = results_by_student(graded_class["out"])[student]
    allowed = graded_class["attacks"][student][1]
    undeserved = {k: v for k, v in result["scores"].items() if v > allowed[k]}
    assert not undeserved, (result["status"], result["notes"], result["integrity_flags"])


def test_the_validation_pass_is_left_to_the_trusted_stage(graded_class):
    results = results_by_student(graded_class["out"])
    assert results["reference"]["stand_ins"] == ["evaluate", "test_accuracy"]
    feedback = (graded_class["out"] / "feedback" / "reference.html").read_text()
    assert "Not run by the grader: the grader measures accuracy itself" in feedback
    assert "validation accuracy:" not in feedback
    assert "trusted check: held-out accuracy" in feedback


def test_a_student_who_reads_val_accuracy_gets_the_notebook_run_as_written(graded_class):
    result = results_by_student(graded_class["out"])["reports_validation_accuracy"]
    assert result["stand_ins"] == []
    assert result["scores"] == {**{k: float(v) for k, v in af.FULL.items()}, "test_accuracy": 0.0}, result["notes"]
    feedback = (graded_class["out"] / "feedback" / "reports_validation_accuracy.html").read_text()
    assert "validation accuracy:" in feedback and "validation accuracy was" in feedback


def test_attacks_end_with_the_right_status(graded_class):
    results = results_by_student(graded_class["out"])
    assert results["atk_os_exit_after_part_a"]["status"] == "kernel_died"
    assert results["atk_os_exit_after_part_a"]["scores"]["test_encode_batch"] == 2  # earned before the crash
    assert results["atk_infinite_loop"]["status"] == "timeout"
    assert results["atk_fake_accuracy"]["trusted"]["accuracy"] < 0.7
    assert not results["atk_train_everything_secretly"]["trusted"]["frozen_ok"]
    assert "pickle" in results["atk_pickle_export"]["trusted"]["export_reason"]


@pytest.mark.parametrize("student", sorted(bad_inputs.bad_cases(json.loads(af.RELEASE.read_text()))) + ["bad_huge"])
def test_bad_input_is_ungradable_with_a_reason(graded_class, student):
    result = results_by_student(graded_class["out"])[student]
    assert result["status"] == "ungradable"
    assert graded_class["bad"][student].lower() in result["reason"].lower()


def test_scores_are_in_the_nbgrader_gradebook(graded_class):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_class['course'] / 'gradebook.db'}") as gb:
        reference = gb.find_submission(ASSIGNMENT, "reference")
        assert reference.code_score == 17
        assert reference.needs_manual_grade  # the written answers wait for a TA
        assert gb.find_submission(ASSIGNMENT, "unchanged_release").code_score == 0
        assert gb.find_submission(ASSIGNMENT, "atk_input_transformer").code_score == 0
    assert (graded_class["course"] / "autograded" / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()


def test_nothing_returned_to_students_leaks_hidden_tests_or_heldout_data(graded_class):
    from coursekit import data

    heldout = data.read_split("rotten_tomatoes", "test").texts[::40]
    returned = list((graded_class["out"] / "feedback").glob("*.html")) + list((graded_class["out"] / "results").rglob("results.json"))
    assert len(returned) >= 2 * 70
    for path in returned:
        text = path.read_text()
        for marker in HIDDEN_MARKERS:
            assert marker not in text, (path.name, marker)
        assert not any(snippet in text for snippet in heldout), path.name


def test_gradescope_results_have_the_documented_shape(graded_class):
    result = json.loads((graded_class["out"] / "results" / "reference" / "results.json").read_text())
    assert result["score"] == 17
    assert {t["name"] for t in result["tests"]} == set(af.FULL)
    assert all(set(t) >= {"name", "score", "max_score", "output", "visibility"} for t in result["tests"])


def test_rerun_skips_finished_work(graded_class):
    before = (graded_class["out"] / "grades.csv").read_text()
    stored = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (graded_class["out"] / ".store").iterdir()}
    run = grade(graded_class["submissions"], graded_class["out"], graded_class["course"])
    assert "skipped" in run.stdout
    # no submission was graded again: every stored result is untouched
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (graded_class["out"] / ".store").iterdir()} == stored
    assert (graded_class["out"] / "grades.csv").read_text() == before


CHEAP = ("unchanged_release", "atk_sys_exit", "atk_edited_tests", "under_trained")


def test_regrading_twice_gives_identical_results(graded_class, tmp_path):
    folder = tmp_path / "subset"
    write_class(folder, {s: json.loads((graded_class["submissions"] / f"{s}.ipynb").read_text()) for s in CHEAP})
    runs = []
    for attempt in range(2):
        grade(folder, tmp_path / "out", graded_class["course"], "--force", "--workers", "2")
        runs.append({s: (r["status"], r["scores"], r["trusted"]) for s, r in results_by_student(tmp_path / "out").items()})
    assert runs[0] == runs[1]
    first = results_by_student(graded_class["out"])
    assert all(runs[0][s][1] == first[s]["scores"] for s in CHEAP)


def test_a_killed_batch_resumes_without_loss_or_duplicates(graded_class, tmp_path):
    folder = tmp_path / "subset"
    write_class(folder, {s: json.loads((graded_class["submissions"] / f"{s}.ipynb").read_text()) for s in CHEAP})
    course = af.make_course(tmp_path / "course")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, str(folder), "--out", str(tmp_path / "out"),
               "--course-dir", str(course), "--no-progress", "--workers", "1"]
    victim = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not list((tmp_path / "out" / ".store").glob("*.json")):
        time.sleep(0.5)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    finished_before = {p.name: p.read_bytes() for p in (tmp_path / "out" / ".store").glob("*.json")}
    assert 1 <= len(finished_before) < len(CHEAP)
    grade(folder, tmp_path / "out", course)
    after = results_by_student(tmp_path / "out")  # raises if a student appears twice
    assert sorted(after) == sorted(CHEAP)
    for name, content in finished_before.items():  # nothing finished was redone or lost
        assert (tmp_path / "out" / ".store" / name).read_bytes() == content
    assert not list((tmp_path / "out").rglob("*.tmp"))
    for student in CHEAP:  # reports for work finished before the kill as well as after it
        assert (tmp_path / "out" / "feedback" / f"{student}.html").is_file()
        assert (tmp_path / "out" / "results" / student / "results.json").is_file()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(ASSIGNMENT)) == sorted(CHEAP)


def test_without_bubblewrap_the_grader_refuses_unless_told_unsafe(tmp_path):
    """PATH without bwrap/unshare/setpriv: the real command must refuse, or shout when forced."""
    folder = tmp_path / "one"
    write_class(folder, {"unchanged_release": af.submission()})
    course = af.make_course(tmp_path / "course")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, str(folder), "--out", str(tmp_path / "out"),
               "--course-dir", str(course), "--no-progress"]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    assert refused.returncode != 0 and "sandbox is unavailable" in refused.stderr + refused.stdout
    assert not (tmp_path / "out" / "grades.csv").exists()
    forced = subprocess.run(command + ["--unsafe-no-sandbox"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert forced.returncode == 0, forced.stderr[-2000:]
    for path in [tmp_path / "out" / "grades.csv", tmp_path / "out" / "summary.md",
                 tmp_path / "out" / "results" / "unchanged_release" / "results.json",
                 tmp_path / "out" / "feedback" / "unchanged_release.html"]:
        assert "unsafe-no-sandbox" in path.read_text(), path.name
