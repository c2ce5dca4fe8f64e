"""Scores into nbgrader's gradebook, so formgrader shows them and TAs grade
the written answers there. Only the grader's parent process calls this."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.store import write_atomically


def record(db_url: str, course_dir: Path, spec, result: dict, executed: dict | None) -> None:
    notebook_id = Path(spec.notebook).stem
    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        # nbgrader's add_submission trips an SQLAlchemy autoflush advisory; the rows are written correctly.
        warnings.simplefilter("ignore")
        gb.update_or_create_student(result["student"])
        try:
            gb.find_submission(spec.name, result["student"])
        except MissingEntry:
            gb.add_submission(spec.name, result["student"])
        for grade_id, score in result["scores"].items():
            grade = gb.find_grade(grade_id, notebook_id, spec.name, result["student"])
            grade.auto_score = score
            grade.needs_manual_grade = grade.manual_score is not None
        for grade_id in result["manual"]:
            grade = gb.find_grade(grade_id, notebook_id, spec.name, result["student"])
            grade.auto_score = None
            grade.needs_manual_grade = True
        gb.db.commit()
    if executed is not None:  # formgrader shows this copy next to the scores
        target = Path(course_dir) / "autograded" / result["student"] / spec.name / spec.notebook
        write_atomically(target, json.dumps(executed, indent=1).encode())
