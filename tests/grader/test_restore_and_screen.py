"""Restoring instructor cells and screening student code, on real notebooks of every assignment."""
import ast
import copy

import nbformat
import pytest

from autograder import assignments, integrity, nbmeta, restore
from conftest import ROOT

NAMES = assignments.names()


def _setup(name):
    assignment = assignments.get(name)
    release = nbformat.read(assignment.release_path(ROOT), as_version=4)
    source = nbformat.read(assignment.source_path(ROOT), as_version=4)
    return assignment, source, release, assignment.fixtures()


def build(release, notebook: dict):
    return restore.build(release, nbformat.from_dict(copy.deepcopy(notebook)))


@pytest.mark.parametrize("name", NAMES)
def test_test_cells_come_from_the_release_whatever_the_submission_says(name):
    assignment, source, release, fixtures = _setup(name)
    released_tests = [c.source for c in release.cells if nbmeta.is_test(c)]
    for student, fixture in fixtures.items():
        if fixture.category != "tests":
            continue
        notebook = build(release, fixture.notebook).notebook
        assert [c.source for c in notebook.cells if nbmeta.is_test(c)] == released_tests, student
        assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NAMES)
def test_the_graded_run_never_holds_a_hidden_test_or_a_mark_scheme(name):
    assignment, source, release, fixtures = _setup(name)
    hidden = [c.source for c in source.cells if "BEGIN HIDDEN TESTS" in c.source or "BEGIN MARK SCHEME" in c.source]
    assert hidden
    notebook = build(release, fixtures["reference"].notebook).notebook
    text = "\n".join(c.source for c in notebook.cells)
    assert "BEGIN HIDDEN" not in text and "MARK SCHEME" not in text


@pytest.mark.parametrize("name", NAMES)
def test_answers_come_from_the_student_and_nothing_else_does(name):
    assignment, source, release, fixtures = _setup(name)
    runnable = build(release, fixtures["reference"].notebook)
    answers = {nbmeta.grade_id(c): c.source for c in runnable.notebook.cells if nbmeta.is_answer(c)}
    from autograder.fixtures import Notebooks

    assert answers == Notebooks(assignment.source_path(ROOT), assignment.release_path(ROOT)).reference_answers()
    assert len(runnable.notebook.cells) == len(release.cells)


def test_an_added_cell_stays_after_the_answer_it_follows_and_keeps_its_number():
    assignment, source, release, fixtures = _setup("finetune_last_layer")
    submitted = fixtures["atk_sys_exit"].notebook
    runnable = build(release, submitted)
    index = next(i for i, c in enumerate(runnable.notebook.cells) if c.source == "import sys\nsys.exit(0)")
    assert nbmeta.grade_id(runnable.notebook.cells[index - 1]) == "encode_batch"
    number = runnable.student_numbers[index]
    assert submitted["cells"][number - 1]["source"] == "import sys\nsys.exit(0)"


def test_cell_numbers_are_the_students_even_when_cells_were_deleted():
    assignment, source, release, fixtures = _setup("finetune_last_layer")
    submitted = fixtures["atk_deleted_tests"].notebook
    runnable = build(release, submitted)
    for index, cell in enumerate(runnable.notebook.cells):
        number = runnable.student_numbers[index]
        if nbmeta.is_test(cell):
            assert number is None  # the student deleted it; the grader restored it
        elif number is not None and nbmeta.is_answer(cell):
            assert nbmeta.grade_id(submitted["cells"][number - 1]) == nbmeta.grade_id(cell)


def test_the_screen_flags_levers_but_only_advises():
    assignment, source, release, fixtures = _setup("finetune_last_layer")
    for student in ("atk_patch_requires_grad", "atk_input_transformer", "atk_showtraceback", "atk_read_hidden",
                    "atk_fork_bomb", "atk_always_equal", "atk_background_writer"):
        runnable = build(release, fixtures[student].notebook)
        assert integrity.screen(restore.student_cells(runnable.notebook), runnable.student_numbers), student
    assert integrity.screen(restore.student_cells(build(release, fixtures["reference"].notebook).notebook)) == []
    runnable = build(release, fixtures["ok_exploration_cells"].notebook)
    flags = integrity.screen(restore.student_cells(runnable.notebook), runnable.student_numbers)
    assert flags and all(f.cell is not None for f in flags)  # numbered as the student sees the cell


@pytest.mark.parametrize("name", [n for n in NAMES if assignments.get(n).stand_ins])
def test_cells_the_trusted_stage_redoes_run_as_stand_ins(name):
    assignment, source, release, fixtures = _setup(name)
    untouched = build(release, fixtures["reference"].notebook).notebook
    notebook = build(release, fixtures["reference"].notebook).notebook
    assert restore.replace_with_stand_ins(notebook, assignment.stand_ins, assignment.stand_in_note)
    stand_in = restore.stand_in_source(assignment.stand_in_note)
    changed = {nbmeta.grade_id(c) for c, before in zip(notebook.cells, untouched.cells) if c.source != before.source}
    assert changed == set(assignment.stand_ins)
    namespace = {}
    exec(compile(stand_in, "stand-in", "exec"), {"print": lambda text: namespace.setdefault("printed", text)})
    assert namespace["printed"].startswith("Not run by the grader")


def test_a_student_who_uses_what_a_replaced_cell_sets_gets_the_notebook_as_written():
    assignment, source, release, fixtures = _setup("finetune_last_layer")
    notebook = build(release, fixtures["ok_reads_val_accuracy"].notebook).notebook
    before = [c.source for c in notebook.cells]
    assert not restore.replace_with_stand_ins(notebook, assignment.stand_ins, assignment.stand_in_note)
    assert [c.source for c in notebook.cells] == before


def test_only_locked_instructor_cells_can_be_replaced():
    assignment, source, release, fixtures = _setup("finetune_last_layer")
    with pytest.raises(ValueError, match="not a locked instructor code cell"):
        restore.replace_with_stand_ins(build(release, fixtures["reference"].notebook).notebook, ["training"], "why")
    with pytest.raises(ValueError, match="no cell with grade_id nonexistent"):
        restore.replace_with_stand_ins(build(release, fixtures["reference"].notebook).notebook, ["nonexistent"], "why")


def _loaded_names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize("name", [n for n in NAMES if assignments.get(n).stand_ins])
def test_no_later_cell_needs_what_a_replaced_cell_defines(name):
    """Skipping a cell is only safe if nothing after it reads the names it sets."""
    assignment, source, release, fixtures = _setup(name)
    code = [c for c in release.cells if c.cell_type == "code"]
    replaced = [i for i, c in enumerate(code) if nbmeta.grade_id(c) in assignment.stand_ins]
    defined = set().union(*(restore.assigned_names(code[i].source) for i in replaced))
    assert defined
    for cell in code[min(replaced):]:
        if nbmeta.grade_id(cell) not in assignment.stand_ins:
            assert not _loaded_names(cell.source) & defined, nbmeta.grade_id(cell)
