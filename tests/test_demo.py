"""`make demo`, the README's first command, run as a newcomer runs it.

Under `make test` the whole suite runs with the network cut, so this also
proves that the demo needs no network once the environment exists.

The test runs the demo for the cheapest assignment (`make demo ASSIGNMENTS=...`):
the demo's loop is the same for every assignment, and every assignment's
grading is proven by its own corpus; the other two would add seven minutes on a
slow 2-core runner.
"""
import csv
import json
import subprocess

import pytest

from autograder import assignments
from conftest import ROOT

pytestmark = pytest.mark.slow
OUT = ROOT / ".data" / "demo" / "out"
DEMOED = ["word_vectors"]


@pytest.fixture(scope="module")
def demo():
    run = subprocess.run(["make", "demo", f"ASSIGNMENTS={' '.join(DEMOED)}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=2400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = {}
    for name in DEMOED:
        with open(OUT / name / "grades.csv") as handle:
            rows[name] = {row["student"]: row for row in csv.DictReader(handle)}
    return run, rows


@pytest.mark.parametrize("name", DEMOED)
def test_demo_grades_every_assignment_and_prints_the_table(demo, name):
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import sample_class

    run, rows = demo
    expected = set(sample_class.pick(assignments.get(name).fixtures())) | {"broken_file"}
    assert set(rows[name]) == expected
    for student in expected:
        assert student in run.stdout, f"{student} missing from the printed table"


@pytest.mark.parametrize("name", DEMOED)
def test_demo_scores_are_the_fixtures_expected_ones(demo, name):
    _, rows = demo
    corpus = assignments.get(name).fixtures()
    for student, row in rows[name].items():
        if student == "broken_file":
            assert row["status"] == "ungradable" and row["reason"]
            continue
        fixture = corpus[student]
        cells = fixture.expected or fixture.allowed
        got = {cell: float(row[cell]) for cell in cells}
        if fixture.expected is not None:
            assert row["status"] == "graded" and got == {k: float(v) for k, v in cells.items()}, (student, row["reason"])
        else:
            assert all(got[k] <= v for k, v in cells.items()), student
    results = json.loads((OUT / name / "results" / "reference" / "results.json").read_text())
    assert results["score"] == float(rows[name]["reference"]["score"]) == float(rows[name]["reference"]["max_score"])


@pytest.mark.parametrize("name", DEMOED)
def test_on_the_demo_s_fresh_course_submissions_run_while_the_reference_does(demo, name):
    """The demo's course is new: the reference's sandboxed run took one worker's place instead of delaying the
    class, and what finished before it was judged once its answers existed (with the expected points, above)."""
    from autograder.result import GradeResult

    results = [GradeResult.from_json(p.read_text()) for p in (OUT / name / ".store" / name).glob("*.json")]
    waited = {r.student for r in results if r.timings.get("reference_wait", 0) > 0}
    assert waited, {r.student: r.timings for r in results}
    assert list((ROOT / ".data" / "demo" / "course" / ".autograder" / name).glob("reference-*.json"))
