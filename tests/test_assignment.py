"""The core assignment through real nbgrader: release generated from source
without drift or leaks, solutions pass, stubs fail, fixtures score exactly."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import assignment_fixtures as af
from conftest import ROOT
from autograder import assignments

ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def nbgrader(*args, cwd, check=True):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, check=check, timeout=3600)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = af.make_course(tmp_path_factory.mktemp("course"))
    nbgrader("generate_assignment", af.ASSIGNMENT, "--force", cwd=course)
    return course


def test_committed_release_is_exactly_what_nbgrader_generates(course):
    generated = json.loads((course / "release" / af.ASSIGNMENT / f"{af.ASSIGNMENT}.ipynb").read_text())
    committed = json.loads(af.RELEASE.read_text())
    assert generated == committed, "release/ drifted from source/: run `make release` and commit"
    assert sorted(p.name for p in (ROOT / "release" / af.ASSIGNMENT).iterdir()) == \
        sorted(p.name for p in (course / "release" / af.ASSIGNMENT).iterdir())


def _hidden_lines(source_nb) -> list[str]:
    """Lines that occur only inside hidden-test blocks of the source."""
    pattern = r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS"
    lines, visible = [], set()
    for cell in source_nb.cells:
        for block in re.findall(pattern, cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
        visible |= {line.strip() for line in re.sub(pattern, "", cell.source, flags=re.S).splitlines()}
    return [line for line in lines if line not in visible]


def test_release_contains_no_solution_or_hidden_test_text():
    source = nbformat.read(af.SOURCE, as_version=4)
    release = nbformat.read(af.RELEASE, as_version=4)
    release_text = af.RELEASE.read_text()
    assert "BEGIN SOLUTION" not in release_text and "BEGIN HIDDEN TESTS" not in release_text
    hidden = _hidden_lines(source)
    assert len(hidden) > 20
    assert not [line for line in hidden if line in "\n".join(c.source for c in release.cells)]
    release_by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        stub = release_by_id[meta["grade_id"]].source
        if cell.cell_type == "markdown":
            assert stub == "YOUR ANSWER HERE"
            continue
        assert "raise NotImplementedError()" in stub
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            assert not [l for l in region.splitlines() if len(l.strip()) > 10 and l.strip() in stub], meta["grade_id"]


def test_every_graded_cell_has_points_in_metadata_and_heading():
    source = nbformat.read(af.SOURCE, as_version=4)
    points = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"] for c in source.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    assert sum(points.values()) == 20
    assert {k: v for k, v in points.items() if k in af.FULL} == af.FULL
    headings = " ".join(c.source for c in source.cells if c.cell_type == "markdown")
    for part, total in {"A": 2, "B": 3, "C": 3, "D": 4, "E": 3, "F": 2, "G": 3}.items():
        assert f"Part {part}:" in headings and f"({total} point" in headings


def test_hidden_accuracy_bar_matches_the_grader_and_calibration():
    source = af.SOURCE.read_text()
    bar = float(re.search(r"ACCURACY_BAR = ([0-9.]+)", source).group(1))
    assert bar == assignments.FINETUNE_LAST_LAYER.accuracy_threshold
    calibration = json.loads((ROOT / "benchmarks" / "results" / "calibration_finetune_last_layer.json").read_text())
    assert calibration["bar"] == bar
    assert calibration["seeds"] >= 10
    assert all(run["test_accuracy"] >= bar and run["val_accuracy"] >= bar for run in calibration["runs"])


def test_stubs_fail_nbgrader_validate_invert():
    run = nbgrader("validate", "--invert", str(af.RELEASE), cwd=ROOT, check=False)
    # nbgrader's wording when every test cell fails on the unchanged stubs
    assert "Success! The notebook does not pass any tests." in run.stdout, (run.stdout + run.stderr)[-2000:]


@pytest.mark.slow
def test_source_passes_nbgrader_validate(tmp_path):
    # validate runs the notebook in its own folder; a copy keeps its export out of source/
    copy = tmp_path / af.SOURCE.name
    copy.write_bytes(af.SOURCE.read_bytes())
    run = nbgrader("validate", str(copy), cwd=tmp_path, check=False)
    assert "Success! Your notebook passes all the tests." in run.stdout, (run.stdout + run.stderr)[-3000:]


@pytest.mark.slow
def test_fixture_submissions_score_exactly_under_nbgrader_autograde(course):
    fixtures = af.fixtures()
    for student, (notebook, _) in fixtures.items():
        target = course / "submitted" / student / af.ASSIGNMENT / f"{af.ASSIGNMENT}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(notebook))
    nbgrader("autograde", af.ASSIGNMENT, "--force", cwd=course)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, (_, expected) in fixtures.items():
            for grade_id, points in expected.items():
                grade = gb.find_grade(grade_id, af.ASSIGNMENT, af.ASSIGNMENT, student)
                assert grade.auto_score == points, (student, grade_id, grade.auto_score)
