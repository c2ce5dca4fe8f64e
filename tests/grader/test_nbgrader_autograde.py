"""Assignments graded through nbgrader's own `nbgrader autograde` (what formgrader's Autograde button runs).

The course folder's nbgrader_config plugs the sandboxed, trusted engine into
nbgrader, so the reference solution keeps every point, the unchanged release
earns nothing and an attack gets no more than it deserves, with the scores in
nbgrader's gradebook. (The browser test clicks formgrader's button for the core
assignment.)
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import assignments

pytestmark = pytest.mark.slow
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def _kernel_tampering_attack(fixtures: dict) -> str:
    """An attack that deserves nothing and fools tests run in the student's own kernel (a monkeypatch)."""
    blank = [s for s, f in fixtures.items() if f.kind == "attack" and not any(f.allowed.values())]
    return next((s for s in blank if fixtures[s].category == "monkeypatch"), blank[0])


# The plug-in path is the same code for every assignment, and every assignment's own checks are proven by its
# corpus through the TA command; this runs the core assignment and the cheapest one (a transfer_vs_scratch
# reference alone costs two minutes on a slow 2-core runner).
@pytest.mark.parametrize("name", ["finetune_last_layer", "word_vectors"])
def test_nbgrader_autograde_runs_the_trusted_engine(tmp_path, name, reference_state):
    from nbgrader.api import Gradebook

    assignment = assignments.get(name)
    fixtures = assignment.fixtures()
    attack = _kernel_tampering_attack(fixtures)
    chosen = {"reference": fixtures["reference"], "unchanged_release": fixtures["unchanged_release"],
              attack: fixtures[attack]}
    course = tmp_path / "course"
    subprocess.run([sys.executable, "-m", "autograder", "course", "init", str(course)], env=ENV, check=True,
                   capture_output=True)
    reference_state.copy_into(course, name)  # the reference's answers as after a first grading (every notebook runs)
    for student, fixture in chosen.items():
        target = course / "submitted" / student / name / assignment.notebook
        target.parent.mkdir(parents=True)
        target.write_bytes(fixture.file_bytes())
    done = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", name, "--force"], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]

    full = sum(fixtures["reference"].expected.values())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: gradebook.find_submission(name, student).code_score for student in chosen}
    assert scores["reference"] == full, (scores, done.stderr[-2000:])
    assert scores["unchanged_release"] == 0, scores
    assert scores[attack] == 0, (attack, fixtures[attack].what, scores)
    for student in chosen:
        graded = json.loads((course / "autograded" / student / name / assignment.notebook).read_text())
        result = graded["metadata"]["course_grade"]["result"]
        assert result["status"] == "graded" and sum(result["scores"].values()) == scores[student], (student, result)
        assert result["release"]["label"] == result["graded_against"]["label"]
