"""Release stamps, kept releases and carrying a student's work into a fixed release (errata)."""
import copy
import hashlib
import json
import shutil

import nbformat

from autograder import assignments, nbmeta, release
from conftest import ROOT, make_course

NAME = "finetune_last_layer"


def test_the_committed_release_is_stamped_with_its_source():
    assignment = assignments.get(NAME)
    stamp = nbformat.read(assignment.release_path(ROOT), as_version=4).metadata["course_release"]
    assert stamp["source_sha256"] == hashlib.sha256(assignment.source_path(ROOT).read_bytes()).hexdigest()
    assert stamp["label"] == nbformat.read(assignment.source_path(ROOT), as_version=4).metadata["course_release_label"]


def test_a_release_is_kept_and_found_again_by_its_hash(tmp_path):
    course = make_course(tmp_path / "course")
    assignment = assignments.get(NAME)
    stamp = release.stamp(assignment, course)
    kept = release.kept_release(course, NAME, stamp["source_sha256"])
    assert kept and kept[0].read_bytes() == assignment.source_path(course).read_bytes()
    assert release.kept_release(course, NAME, "0" * 64) is None
    kept[0].write_text("tampered")  # a kept copy that no longer matches its hash is not used
    assert release.kept_release(course, NAME, stamp["source_sha256"]) is None


def test_the_stamp_a_submission_carries_is_read_without_trusting_it():
    good = json.dumps({"metadata": {"course_release": {"source_sha256": "a" * 64}}}).encode()
    assert release.stamped_source(good) == "a" * 64
    for bad in (b"", b"[1]", b"{", json.dumps({"metadata": {"course_release": {"source_sha256": "../x"}}}).encode(),
                json.dumps({"metadata": {"course_release": "v1"}}).encode(), b"[" * 100000):
        assert release.stamped_source(bad) is None


def test_carry_over_moves_answers_and_added_cells_into_the_new_release():
    assignment = assignments.get(NAME)
    corpus = assignment.fixtures()
    old = copy.deepcopy(corpus["ok_exploration_cells"].notebook)  # the reference answers plus four added cells
    new_release = nbformat.read(assignment.release_path(ROOT), as_version=4)
    new_release.cells[0].source += "\n\nErratum: one sentence fixed."
    merged, dropped = release.carry_over(old, new_release)
    assert dropped == []
    answers = {nbmeta.grade_id(c): c["source"] for c in merged["cells"] if nbmeta.is_answer(c)}
    old_answers = {nbmeta.grade_id(c): "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                   for c in old["cells"] if nbmeta.is_answer(c)}
    assert answers == old_answers
    assert merged["cells"][0]["source"].endswith("Erratum: one sentence fixed.")  # instructor cells are the new ones
    added = [c["source"] for c in merged["cells"] if c["cell_type"] == "code" and not c["metadata"].get("nbgrader")
             and "%time" in c["source"]]
    assert added, "the student's own cells come along"
    tests = [c["source"] for c in merged["cells"] if nbmeta.is_test(c)]
    assert tests == [c.source for c in new_release.cells if nbmeta.is_test(c)]
    assert all(c.get("outputs") == [] for c in merged["cells"] if c["cell_type"] == "code")


def test_carry_over_reports_answers_the_new_release_no_longer_asks_for():
    assignment = assignments.get(NAME)
    old = copy.deepcopy(assignment.fixtures()["reference"].notebook)
    new_release = nbformat.read(assignment.release_path(ROOT), as_version=4)
    new_release.cells = [c for c in new_release.cells if nbmeta.grade_id(c) != "answer_feature_extraction"]
    _, dropped = release.carry_over(old, new_release)
    assert dropped == ["answer_feature_extraction"]
