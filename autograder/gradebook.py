"""Scores and reasons into nbgrader's gradebook, so formgrader shows them and TAs grade the written answers there.

Only the grader's parent process calls this. A grader fault writes nothing (the
previous state stays, and a rerun retries); an ungradable file is recorded
with zero points and its reason.
"""
from __future__ import annotations

import copy
import json
import warnings
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from autograder import nbmeta
from autograder.result import GradeResult
from autograder.store import write_atomically


def _timestamp(course_dir: Path, student: str, assignment: str) -> datetime | None:
    """The submission time nbgrader's collect wrote, if the submission came through the exchange."""
    path = Path(course_dir) / "submitted" / student / assignment / "timestamp.txt"
    try:
        from nbgrader.utils import parse_utc

        return parse_utc(path.read_text().strip())
    except (OSError, ValueError):
        return None


def record(db_url: str, course_dir: Path, notebook_id: str, result: GradeResult,
           comment_cells: dict[str, str] | None = None) -> None:
    """``comment_cells``: {test grade_id: answer grade_id} (``nbmeta.answer_before``): the reasons of a test go
    into the comment of the answer it checks, where formgrader shows them."""
    if result.status == "grader_error":
        return
    comments: dict[str, list[str]] = {}
    for grade_id in result.scores:
        target = (comment_cells or {}).get(grade_id)
        if target:
            score, most = result.scores[grade_id], result.max_scores[grade_id]
            comments.setdefault(target, []).append(f"{grade_id}: {score:g} / {most:g}. {result.notes.get(grade_id, '')}")
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        # nbgrader's add_submission trips an SQLAlchemy autoflush advisory; the rows are written correctly.
        warnings.simplefilter("ignore")
        gb.update_or_create_student(result.student)
        stamp = _timestamp(course_dir, result.student, result.assignment)
        gb.update_or_create_submission(result.assignment, result.student, **({"timestamp": stamp} if stamp else {}))
        for grade_id, score in result.scores.items():
            grade = gb.find_grade(grade_id, notebook_id, result.assignment, result.student)
            grade.auto_score = score
            grade.needs_manual_grade = grade.manual_score is not None and grade.manual_score != score
        status = f"[{result.status}] {result.reason}\n" if result.status != "graded" else ""
        for answer, lines in comments.items():
            _set_comment(gb, answer, notebook_id, result, "Trusted checks: " + status + "\n".join(lines))
        for grade_id in result.manual:
            grade = gb.find_grade(grade_id, notebook_id, result.assignment, result.student)
            if result.status == "ungradable":  # nothing to read: like a missing notebook
                grade.auto_score, grade.needs_manual_grade = 0.0, False
            else:
                grade.auto_score, grade.needs_manual_grade = None, grade.manual_score is None
        flags = "Flags for review (advice only, no effect on points): " + "; ".join(result.flags) if result.flags else ""
        if flags and result.manual:
            _set_comment(gb, result.manual[0], notebook_id, result, flags)
        gb.db.commit()


def _set_comment(gb, grade_id: str, notebook_id: str, result: GradeResult, text: str) -> None:
    try:
        comment = gb.find_comment(grade_id, notebook_id, result.assignment, result.student)
    except MissingEntry:
        return
    comment.auto_comment = text or None


RESULT_KEY = "course_grade"          # notebook metadata: the grade, for feedback pages made later
RELEASED_SOURCE_KEY = "course_released_source"  # cell metadata: the markdown students saw


def graded_notebook(result: GradeResult, executed: dict | None, numbers: dict, source_nb, release_nb) -> dict:
    """The graded copy formgrader shows: the executed notebook (or, for an ungradable file, the release
    with the reason on top), the instructor's own markdown (rubrics included) in the question cells, and
    the grade itself in the metadata."""
    if executed is None:
        graded = json.loads(json.dumps(release_nb))
        reason = nbformat.v4.new_markdown_cell(f"**{result.status}**: {result.reason}")
        graded["cells"].insert(0, json.loads(json.dumps(reason)))
        numbers = {}
    else:
        graded = copy.deepcopy(executed)
    instructor_markdown = {nbmeta.grade_id(c): c.source for c in source_nb.cells
                           if c.cell_type == "markdown" and nbmeta.is_locked(c) and nbmeta.grade_id(c)}
    for cell in graded.get("cells", []):
        grade_id = nbmeta.grade_id(cell)
        if cell.get("cell_type") == "markdown" and grade_id in instructor_markdown:
            cell.setdefault("metadata", {})[RELEASED_SOURCE_KEY] = cell["source"]
            cell["source"] = (instructor_markdown[grade_id]
                              .replace("### BEGIN MARK SCHEME", "**Rubric (for graders; students never see it):**")
                              .replace("### END MARK SCHEME", ""))
    for cell in graded.get("cells", []):  # formgrader shows outputs: the trusted verdict under each test cell
        grade_id = nbmeta.grade_id(cell)
        if nbmeta.is_test(cell) and grade_id in result.scores:
            verdict = (f"Trusted check ({grade_id}): {result.scores[grade_id]:g} / {result.max_scores[grade_id]:g}. "
                       f"{result.notes.get(grade_id, '')}\n")
            cell.setdefault("outputs", []).append(json.loads(json.dumps(nbformat.v4.new_output(
                "stream", name="stdout", text=verdict))))
    graded.setdefault("metadata", {})[RESULT_KEY] = {
        "result": json.loads(result.to_json()), "numbers": {str(k): v for k, v in numbers.items()}}
    return graded


def student_view(graded: dict) -> dict:
    """A graded copy as students may see it: the released markdown back in the question cells."""
    view = copy.deepcopy(dict(graded))
    for cell in view.get("cells", []):
        released = cell.get("metadata", {}).pop(RELEASED_SOURCE_KEY, None)
        if released is not None:
            cell["source"] = released
    view.get("metadata", {}).pop(RESULT_KEY, None)
    return view


def write_autograded(course_dir: Path, result: GradeResult, notebook_name: str, executed: dict | None,
                     numbers: dict, source_nb, release_nb) -> None:
    if result.status == "grader_error":
        return
    target = Path(course_dir) / "autograded" / result.student / result.assignment / notebook_name
    write_atomically(target, json.dumps(graded_notebook(result, executed, numbers, source_nb, release_nb),
                                        indent=1).encode())
