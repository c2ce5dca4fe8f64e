"""`make demo`, the README's first command, run as a newcomer runs it.

Under `make test` the whole suite runs with the network cut, so this also
proves that the demo needs no network once the environment exists.
"""
import csv
import json
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "autograder"))
import assignment_fixtures as af  # noqa: E402
import attacks  # noqa: E402

pytestmark = pytest.mark.slow
OUT = ROOT / ".data" / "demo" / "out"
CELLS = sorted(af.FULL)


@pytest.fixture(scope="module")
def demo():
    run = subprocess.run(["make", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(OUT / "grades.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return run, rows


def scores(row) -> dict[str, float]:
    return {cell: float(row[cell]) for cell in CELLS}


def test_demo_grades_the_whole_sample_class_and_prints_the_table(demo):
    run, rows = demo
    sys.path.insert(0, str(ROOT / "tools"))
    import sample_class

    expected = set(sample_class.PICK) | {"bad_truncated_json", "bad_zip_renamed"}
    assert set(rows) == expected
    for student in expected:
        assert student in run.stdout, f"{student} missing from the printed table"
    assert "Grading summary" in run.stdout


def test_demo_scores_are_the_fixtures_expected_ones(demo):
    _, rows = demo
    fixtures = af.fixtures()
    for student in ("reference", "under_trained", "first_layer_unfrozen"):
        assert rows[student]["status"] == "graded", rows[student]["reason"]
        assert scores(rows[student]) == {k: float(v) for k, v in fixtures[student][1].items()}, student
    assert float(rows["reference"]["score"]) == float(rows["reference"]["max_score"]) == sum(af.FULL.values())


def test_demo_cheaters_earn_nothing_undeserved_and_broken_files_are_ungradable(demo):
    _, rows = demo
    allowed = attacks.attacks()
    for student in ("atk_input_transformer", "atk_fake_accuracy", "atk_pickle_export"):
        undeserved = {k: v for k, v in scores(rows[student]).items() if v > allowed[student][1][k]}
        assert not undeserved, student
    for student in ("bad_truncated_json", "bad_zip_renamed"):
        assert rows[student]["status"] == "ungradable" and rows[student]["reason"], student
    results = json.loads((OUT / "results" / "reference" / "results.json").read_text())
    assert results["score"] == float(rows["reference"]["score"])
