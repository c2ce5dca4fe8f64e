"""nbgrader's cell metadata, read in one place.

nbgrader marks cells in ``cell.metadata.nbgrader``: ``solution`` (the student
writes it), ``grade`` (it carries points), ``locked`` (the student may not
change it), ``grade_id`` and ``points``. Every other module asks these
predicates instead of reading the dictionary itself.
"""
from __future__ import annotations

from dataclasses import dataclass


def meta(cell) -> dict:
    value = cell.get("metadata", {}).get("nbgrader", {})
    return value if isinstance(value, dict) else {}


def grade_id(cell) -> str | None:
    value = meta(cell).get("grade_id")
    return value if isinstance(value, str) and value else None


def is_answer(cell) -> bool:
    """A cell the student writes: code (functions) or markdown (written answers)."""
    return bool(meta(cell).get("solution"))


def is_test(cell) -> bool:
    """An autograded test cell: graded, code, not an answer."""
    info = meta(cell)
    return bool(info.get("grade")) and not info.get("solution") and cell.get("cell_type") == "code"


def is_manual(cell) -> bool:
    """A written answer graded by hand."""
    info = meta(cell)
    return bool(info.get("grade")) and bool(info.get("solution"))


def is_locked(cell) -> bool:
    info = meta(cell)
    return bool(info.get("locked")) and not info.get("solution")


def is_free(cell) -> bool:
    """An unmarked instructor cell (a demo or a plot): the student's edit counts."""
    info = meta(cell)
    return not info.get("locked") and not info.get("solution") and not info.get("grade")


@dataclass(frozen=True)
class GradeCell:
    grade_id: str
    points: float
    manual: bool  # True: graded by hand (a written answer); False: graded automatically


def grade_cells(notebook) -> list[GradeCell]:
    """Every graded cell of an instructor notebook, in order."""
    cells = []
    for cell in notebook.get("cells", []):
        info = meta(cell)
        if info.get("grade") and grade_id(cell):
            cells.append(GradeCell(grade_id(cell), float(info.get("points", 0)), manual=bool(info.get("solution"))))
    return cells


def answer_before(notebook) -> dict[str, str]:
    """{test cell grade_id: the answer cell just before it}: where a test's reasons go as a comment (nbgrader
    keeps comments for answer cells only)."""
    found, last = {}, None
    for cell in notebook.get("cells", []):
        if is_answer(cell) and cell.get("cell_type") == "code":
            last = grade_id(cell)
        elif is_test(cell) and last:
            found[grade_id(cell)] = last
    return found


def without_solution_markers(source: str) -> str:
    """An answer cell's instructor source as a student would hand it in: the solution, without its markers."""
    return "\n".join(line for line in source.splitlines()
                     if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def reference_submission(source_nb, release_nb):
    """The release with the instructor's answers typed in, as a student who solved it would submit it."""
    import copy

    answers = {grade_id(c): without_solution_markers(c.source) for c in source_nb.cells if is_answer(c)}
    submission = copy.deepcopy(release_nb)
    for cell in submission.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return submission
