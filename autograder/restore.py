"""Build the notebook that is actually executed from a student's submission.

The instructor's version (source/) is the authority for every cell the
student must not change: markdown, locked code, visible and hidden tests.
Only the student's *answer* cells (nbgrader ``solution`` cells, matched by
``grade_id``) and cells the student added are taken from the submission.
So an edited, deleted, duplicated or retyped test cell, forged nbgrader
metadata, or stale outputs ("All tests passed") change nothing: the grader
runs its own copies, with outputs cleared.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

import nbformat


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_answer(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_free(cell) -> bool:
    """An unlocked, ungraded instructor cell (settings, demos): the student's edit counts."""
    meta = nbgrader_meta(cell)
    return not meta.get("locked") and not meta.get("solution") and not meta.get("grade")


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


@dataclass(frozen=True)
class GradeCell:
    grade_id: str
    points: float
    kind: str  # "test" (autograded code), "manual" (answer graded by hand)


def grade_cells(source_nb) -> list[GradeCell]:
    """Every graded cell of the instructor notebook, in order."""
    result = []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            kind = "manual" if meta.get("solution") else "test"
            result.append(GradeCell(meta["grade_id"], float(meta.get("points", 0)), kind))
    return result


def _clean(cell):
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    cell.setdefault("metadata", {}).pop("nbgrader", None)
    return cell


def _answer_grade_id(cell, answer_ids: set[str]) -> str | None:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) and grade_id in answer_ids else None


def build_runnable(source_nb, release_nb, student_nb):
    """The notebook to execute: instructor cells from source, answers from the student.

    A missing answer falls back to the release stub (which raises
    NotImplementedError), so the notebook still runs and earns what it can.
    Cells the student added keep their position after the answer they follow.
    Any other cell carrying nbgrader metadata (a test, a locked cell, or a
    forgery) is dropped: the instructor's version comes from source.
    """
    answer_ids = {nbgrader_meta(c)["grade_id"] for c in source_nb.cells if is_answer(c)}
    release_answers = {nbgrader_meta(c)["grade_id"]: c for c in release_nb.cells if is_answer(c)}
    free_ids = {c.get("id"): c.cell_type for c in source_nb.cells if is_free(c) and c.get("id")}
    student_free: dict[str, object] = {}

    student_answers: dict[str, object] = {}
    added_after: dict[str | None, list] = {}
    anchor = None
    for cell in student_nb.cells:
        grade_id = _answer_grade_id(cell, answer_ids)
        if grade_id is not None and grade_id not in student_answers:
            if cell.get("cell_type") == release_answers[grade_id].cell_type:
                student_answers[grade_id] = cell
                anchor = grade_id
                continue
        if cell.get("id") in free_ids and cell.get("id") not in student_free \
                and cell.get("cell_type") == free_ids[cell.get("id")]:
            student_free[cell.get("id")] = cell  # the student's version of a settings/demo cell
            continue
        if nbgrader_meta(cell):
            # An instructor cell (or one with forged nbgrader metadata): never the student's code.
            # The instructor's own version is restored from source below.
            continue
        if cell.get("cell_type") == "code":
            added_after.setdefault(anchor, []).append(cell)

    cells = []
    for cell in source_nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if is_answer(cell):
            # Cells added above the first answer (imports, helpers) go just before it.
            cells.extend(_added(c) for c in added_after.pop(None, []))
            chosen = student_answers.get(grade_id, release_answers[grade_id])
            restored = _clean(chosen)
            restored["metadata"]["nbgrader"] = copy.deepcopy(nbgrader_meta(release_answers[grade_id]))
            cells.append(restored)
            cells.extend(_added(c) for c in added_after.get(grade_id, []))
        elif is_free(cell):
            restored = _clean(student_free.get(cell.get("id"), cell))
            restored["metadata"]["course_student_editable"] = True
            cells.append(restored)
        else:
            restored = _clean(cell)
            restored["metadata"]["nbgrader"] = copy.deepcopy(nbgrader_meta(cell))
            cells.append(restored)
    runnable = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source_nb.metadata))
    for index, cell in enumerate(runnable.cells):
        cell["id"] = f"cell-{index}"
    return runnable


def _added(cell):
    added = _clean(cell)
    added["metadata"]["course_added_by_student"] = True
    return added


def student_cells(runnable) -> list[tuple[int, str]]:
    """(index, source) of every cell whose code came from the student."""
    result = []
    for index, cell in enumerate(runnable.cells):
        if cell.cell_type != "code":
            continue
        if is_answer(cell) or cell.metadata.get("course_added_by_student") or cell.metadata.get("course_student_editable"):
            result.append((index, cell.source))
    return result


def stand_in_source(note: str) -> str:
    return f"print({'Not run by the grader: ' + note + '.'!r})"


class _GlobalNames(ast.NodeVisitor):
    """Names a cell binds in the notebook's namespace (not inside functions or comprehensions)."""

    def __init__(self):
        self.names: set[str] = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def _binds_only_its_name(self, node):
        self.names.add(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _binds_only_its_name

    def visit_alias(self, node):
        self.names.add((node.asname or node.name).split(".")[0])

    def _own_scope(self, node):
        pass

    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _own_scope


def _assigned_names(source: str) -> set[str]:
    visitor = _GlobalNames()
    visitor.visit(ast.parse(source))
    return visitor.names


def replace_with_stand_ins(runnable, grade_ids, note: str) -> bool:
    """Swap the named instructor cells for a stand-in that only says why it is not run.

    For cells whose result the trusted stage throws away and recomputes on
    held-out data (the in-notebook validation pass and its test): running
    them in the sandbox would cost time and decide nothing. Only locked
    instructor cells qualify; an answer cell is never replaced.

    Nothing is replaced (and False is returned) when any of the student's
    code mentions a name those cells set, such as ``val_accuracy`` in an
    export cell: then the notebook runs exactly as written. The match is on
    words, so a mention in a comment or string also counts; that only costs time.
    """
    wanted = set(grade_ids)
    chosen = []
    for cell in runnable.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if grade_id not in wanted:
            continue
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("solution"):
            raise ValueError(f"cell {grade_id!r} is not a locked instructor code cell; it cannot be replaced")
        chosen.append(cell)
        wanted.discard(grade_id)
    if wanted:
        raise ValueError(f"no cell with grade_id {', '.join(sorted(wanted))} to replace")
    names = set().union(*(_assigned_names(cell.source) for cell in chosen))
    if names:
        mention = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\b")
        if any(mention.search(source) for _, source in student_cells(runnable)):
            return False
    for cell in chosen:
        cell.source = stand_in_source(note)
    return True
