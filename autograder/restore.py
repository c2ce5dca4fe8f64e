"""Build the notebook that is actually executed from a student's submission.

The released notebook is the authority for every cell the student must not
change: markdown, locked code and test cells. Only the student's *answer*
cells (nbgrader ``solution`` cells, matched by ``grade_id``), their versions
of unmarked demo cells, and cells they added are taken from the submission.
So an edited, deleted, duplicated or retyped test cell, forged nbgrader
metadata, or stale outputs ("All tests passed") change nothing.

Test cells run in their *released* form: the grading kernel never sees a
hidden test, so nothing the kernel can print reveals one. (No point depends
on a test cell; see docs/grading.md.)
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field

import nbformat

from autograder import nbmeta

STUDENT_CELL_KEY = "course_cell"  # metadata: where a cell of the runnable notebook came from


@dataclass
class Runnable:
    notebook: nbformat.NotebookNode
    # runnable cell index -> the cell's number in the student's notebook (1-based), None if the student deleted it
    student_numbers: dict[int, int | None] = field(default_factory=dict)


def _clean(cell):
    """A copy with no outputs, no attachments and no metadata (tags such as ``skip-execution`` included),
    and code with plain newlines: what runs depends on the code alone."""
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        cell["source"] = source.replace("\r\n", "\n").replace("\r", "\n")
    cell["metadata"] = {}
    cell.pop("attachments", None)
    return cell


def build(release_nb, student_nb) -> Runnable:
    """The notebook to execute: instructor cells from the release, answers and additions from the student.

    A missing answer falls back to the release stub (which raises
    NotImplementedError), so the notebook still runs and earns what it can.
    Cells the student added keep their position after the answer or demo cell
    they follow. Any other cell carrying nbgrader metadata (a test, a locked
    cell, or a forgery) is dropped: the release's own version is used.
    """
    answer_types = {nbmeta.grade_id(c): c.cell_type for c in release_nb.cells if nbmeta.is_answer(c)}
    free_types = {c.get("id"): c.cell_type for c in release_nb.cells if nbmeta.is_free(c) and c.get("id")}
    # A demo cell whose id was lost (nbformat 3) or regenerated is still recognised by its unchanged source.
    free_by_source = {c.source: c.get("id") for c in release_nb.cells if nbmeta.is_free(c) and c.get("id")}
    answers: dict[str, tuple[int, object]] = {}
    demos: dict[str, tuple[int, object]] = {}
    added_after: dict[str | None, list[tuple[int, object]]] = {}
    anchor: str | None = None
    for number, cell in enumerate(student_nb.cells, start=1):
        grade_id = nbmeta.grade_id(cell) if nbmeta.is_answer(cell) else None
        if grade_id in answer_types and grade_id not in answers and cell.get("cell_type") == answer_types[grade_id]:
            answers[grade_id] = (number, cell)
            anchor = grade_id
            continue
        cell_id = cell.get("id")
        if cell_id not in free_types and not nbmeta.meta(cell):
            cell_id = free_by_source.get(_text(cell.get("source", "")), cell_id)
        if cell_id in free_types and cell_id not in demos and cell.get("cell_type") == free_types[cell_id]:
            demos[cell_id] = (number, cell)
            anchor = f"demo:{cell_id}"
            continue
        if nbmeta.meta(cell):
            continue  # an instructor cell, or forged metadata: the release's version is used
        if cell.get("cell_type") == "code":
            added_after.setdefault(anchor, []).append((number, cell))

    cells, numbers = [], {}

    def append(cell, number, origin):
        cell["metadata"][STUDENT_CELL_KEY] = origin
        numbers[len(cells)] = number
        cells.append(cell)

    def append_added(key):
        for number, cell in added_after.pop(key, []):
            append(_clean(cell), number, "added")

    release_numbers = _release_positions(release_nb, student_nb)
    for cell in release_nb.cells:
        grade_id = nbmeta.grade_id(cell)
        if nbmeta.is_answer(cell):
            append_added(None)  # cells added above the first answer (imports, helpers) go just before it
            number, chosen = answers.get(grade_id, (None, cell))
            restored = _clean(chosen)
            restored["metadata"]["nbgrader"] = copy.deepcopy(nbmeta.meta(cell))
            append(restored, number, "answer")
            append_added(grade_id)
        elif nbmeta.is_free(cell):
            number, chosen = demos.get(cell.get("id"), (None, cell))
            append(_clean(chosen), number, "demo")
            append_added(f"demo:{cell.get('id')}")
        else:
            restored = _clean(cell)
            restored["metadata"]["nbgrader"] = copy.deepcopy(nbmeta.meta(cell))
            append(restored, release_numbers.get(grade_id), "instructor")
    for key in list(added_after):
        append_added(key)
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(release_nb.metadata))
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return Runnable(notebook, numbers)


def _text(source) -> str:
    return ("".join(source) if isinstance(source, list) else str(source)).replace("\r\n", "\n")


def _release_positions(release_nb, student_nb) -> dict[str, int]:
    """Where the student's notebook has each instructor cell (by grade_id), 1-based."""
    wanted = {nbmeta.grade_id(c) for c in release_nb.cells if nbmeta.grade_id(c) and not nbmeta.is_answer(c)}
    found = {}
    for number, cell in enumerate(student_nb.cells, start=1):
        grade_id = nbmeta.grade_id(cell)
        if grade_id in wanted and grade_id not in found:
            found[grade_id] = number
    return found


def student_cells(notebook) -> list[tuple[int, str]]:
    """(index, source) of every code cell whose code came from the student."""
    return [(i, c.source) for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and c.metadata.get(STUDENT_CELL_KEY) in ("answer", "added", "demo")]


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


def assigned_names(source: str) -> set[str]:
    visitor = _GlobalNames()
    visitor.visit(ast.parse(source))
    return visitor.names


def replace_with_stand_ins(notebook, grade_ids, note: str) -> bool:
    """Swap the named instructor cells for a stand-in that only says why it is not run.

    For locked cells whose result the trusted stage recomputes on held-out
    data (the in-notebook validation pass and its test): running them in the
    sandbox would cost time and decide nothing. An answer cell is never
    replaced. Nothing is replaced (and False is returned) when any of the
    student's code mentions a name those cells set, such as ``val_accuracy``:
    then the notebook runs as written. The match is on words, so a mention in
    a comment also counts; that only costs time.
    """
    wanted = set(grade_ids)
    chosen = []
    for cell in notebook.cells:
        grade_id = nbmeta.grade_id(cell)
        if grade_id not in wanted:
            continue
        if cell.cell_type != "code" or not nbmeta.is_locked(cell):
            raise ValueError(f"cell {grade_id!r} is not a locked instructor code cell; it cannot be replaced")
        chosen.append(cell)
        wanted.discard(grade_id)
    if wanted:
        raise ValueError(f"no cell with grade_id {', '.join(sorted(wanted))} to replace")
    names = set().union(*(assigned_names(cell.source) for cell in chosen))
    if names:
        mention = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\b")
        if any(mention.search(source) for _, source in student_cells(notebook)):
            return False
    for cell in chosen:
        cell.source = stand_in_source(note)
    return True
