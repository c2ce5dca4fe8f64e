"""Every assignment through real nbgrader: release generated from source without drift or leaks,
solutions pass, stubs fail, points and rules agree, the bar is calibrated."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import assignments, nbmeta
from conftest import ROOT, make_course

ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
NAMES = assignments.names()


def nbgrader(*args, cwd, check=True):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, check=check, timeout=3600)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("course"))
    for name in NAMES:  # what `make release` runs: nbgrader's generate_assignment, then the release stamp
        subprocess.run([sys.executable, "-m", "autograder", "release", name], cwd=course, env=ENV, check=True,
                       capture_output=True, timeout=600)
    return course


@pytest.mark.parametrize("name", NAMES)
def test_committed_release_is_exactly_what_nbgrader_generates(course, name):
    assignment = assignments.get(name)
    generated = json.loads(assignment.release_path(course).read_text())
    committed = json.loads(assignment.release_path(ROOT).read_text())
    assert generated == committed, "release/ drifted from source/: run `make release` and commit"
    stamp = committed["metadata"]["course_release"]
    assert stamp["source_sha256"] == __import__("hashlib").sha256(assignment.source_path(ROOT).read_bytes()).hexdigest()
    assert stamp["label"] and "course_release_label" not in committed["metadata"]
    assert sorted(p.name for p in (ROOT / "release" / name).iterdir()) == \
        sorted(p.name for p in (course / "release" / name).iterdir())


def _secret_lines(source_nb) -> list[str]:
    """Lines that occur only inside hidden-test or mark-scheme blocks of the source."""
    pattern = r"### BEGIN (?:HIDDEN TESTS|MARK SCHEME)\n(.*?)### END (?:HIDDEN TESTS|MARK SCHEME)"
    lines, visible = [], set()
    for cell in source_nb.cells:
        for block in re.findall(pattern, cell.source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
        visible |= {line.strip() for line in re.sub(pattern, "", cell.source, flags=re.S).splitlines()}
    return [line for line in lines if line not in visible]


@pytest.mark.parametrize("name", NAMES)
def test_release_contains_no_solution_hidden_test_or_mark_scheme(name):
    assignment = assignments.get(name)
    source = nbformat.read(assignment.source_path(ROOT), as_version=4)
    release = nbformat.read(assignment.release_path(ROOT), as_version=4)
    release_text = assignment.release_path(ROOT).read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "MARK SCHEME"):
        assert marker not in release_text
    secret = _secret_lines(source)
    assert len(secret) > 10
    assert not [line for line in secret if line in "\n".join(c.source for c in release.cells)]
    release_by_id = {nbmeta.grade_id(c): c for c in release.cells}
    for cell in source.cells:
        if not nbmeta.is_answer(cell):
            continue
        stub = release_by_id[nbmeta.grade_id(cell)].source
        if cell.cell_type == "markdown":
            assert stub == "YOUR ANSWER HERE"
            continue
        assert "raise NotImplementedError()" in stub
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            assert not [l for l in region.splitlines() if len(l.strip()) > 10 and l.strip() in stub], nbmeta.grade_id(cell)


@pytest.mark.parametrize("name", NAMES)
def test_every_graded_cell_has_points_a_heading_a_visible_test_and_a_rule(name):
    assignment = assignments.get(name)
    source = nbformat.read(assignment.source_path(ROOT), as_version=4)
    cells = nbmeta.grade_cells(source)
    automatic = {c.grade_id for c in cells if not c.manual}
    assert automatic == {rule.grade_id for rule in assignment.rules}
    assert 15 <= sum(c.points for c in cells) <= 25  # "about 20 points"
    headings = " ".join(c.source for c in source.cells if c.cell_type == "markdown")
    for part in re.findall(r"## Part ([A-Z]):", headings):
        assert re.search(rf"## Part {part}: [^\n]*\(\d+ points?", headings), part
    release = nbformat.read(assignment.release_path(ROOT), as_version=4)
    for cell in release.cells:
        if nbmeta.is_test(cell):
            assert cell.source.lstrip().startswith('"""'), nbmeta.grade_id(cell)  # says what it checks
            assert "assert" in cell.source, f"{nbmeta.grade_id(cell)} has no visible test"


@pytest.mark.parametrize("name", NAMES)
def test_the_bar_is_calibrated_on_validation_data_and_shown_to_students(name):
    assignment = assignments.get(name)
    record = assignment.calibration()
    assert record["seeds"] >= 10 and len(record["runs"]) == record["seeds"]
    lowest = min(run["validation_accuracy"] for run in record["runs"])
    assert record["validation_accuracy"]["min"] == pytest.approx(lowest, abs=1e-4)
    assert record["bar"] <= lowest - record["margin"] + 1e-9
    assert all(run["test_accuracy"] >= record["bar"] for run in record["runs"]), "a reference run fails its own bar"
    release_text = assignment.release_path(ROOT).read_text()
    assert f"{record['bar']}" in release_text, "students must see the bar"


@pytest.mark.parametrize("name", NAMES)
def test_stubs_fail_nbgrader_validate_invert(name):
    run = nbgrader("validate", "--invert", str(assignments.get(name).release_path(ROOT)), cwd=ROOT, check=False)
    assert "Success! The notebook does not pass any tests." in run.stdout, (run.stdout + run.stderr)[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_source_passes_nbgrader_validate(tmp_path, name):
    source = assignments.get(name).source_path(ROOT)
    copy = tmp_path / source.name  # validate runs the notebook in its own folder: keep exports out of source/
    copy.write_bytes(source.read_bytes())
    # With the course's settings, as an instructor validates (nbgrader's 30 s cell limit is too short for training).
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    run = nbgrader("validate", str(copy), cwd=tmp_path, check=False)
    assert "Success! Your notebook passes all the tests." in run.stdout, (run.stdout + run.stderr)[-3000:]
