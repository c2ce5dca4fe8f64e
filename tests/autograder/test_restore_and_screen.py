"""Restoring instructor cells and screening student code, on real notebooks."""
import ast
import copy
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import assignment_fixtures as af  # noqa: E402
import attacks  # noqa: E402
from autograder import assignments, integrity, restore  # noqa: E402

SOURCE = nbformat.read(af.SOURCE, as_version=4)
RELEASE = nbformat.read(af.RELEASE, as_version=4)


def build(notebook: dict):
    return restore.build_runnable(SOURCE, RELEASE, nbformat.from_dict(copy.deepcopy(notebook)))


def test_tests_come_from_source_whatever_the_submission_says():
    for name in ("atk_edited_tests", "atk_deleted_tests", "atk_retyped_tests", "atk_forged_metadata", "atk_stale_outputs"):
        runnable = build(attacks.attacks()[name][0])
        tests = [c for c in runnable.cells if restore.is_test(c)]
        assert [c.source for c in tests] == [c.source for c in SOURCE.cells if restore.is_test(c)], name
        assert all(c.outputs == [] for c in runnable.cells if c.cell_type == "code")
        assert "print('tests passed')" not in [c.source for c in runnable.cells if restore.is_test(c)]


def test_answers_and_editable_settings_come_from_the_student():
    runnable = build(af.fixtures()["under_trained"][0])
    settings = next(c for c in runnable.cells if "N_TRAIN =" in c.source and "EPOCHS" in c.source)
    assert "N_TRAIN = 48" in settings.source
    answers = af.reference_answers()
    got = {restore.nbgrader_meta(c)["grade_id"]: c.source for c in runnable.cells if restore.is_answer(c)}
    assert got == answers
    assert len(runnable.cells) == len(SOURCE.cells)


def test_an_added_cell_stays_after_the_answer_it_follows():
    runnable = build(attacks.attacks()["atk_sys_exit"][0])
    index = next(i for i, c in enumerate(runnable.cells) if c.source == "import sys\nsys.exit(0)")
    assert restore.nbgrader_meta(runnable.cells[index - 1])["grade_id"] == "encode_batch"


def test_the_reference_solution_raises_no_integrity_flag():
    for name in ("reference", "under_trained", "pooler_left_trainable"):
        assert integrity.screen(restore.student_cells(build(af.fixtures()[name][0]))) == [], name


def test_tampering_levers_are_flagged():
    flagged = ["atk_patch_requires_grad", "atk_patch_parameters", "atk_patch_isinstance", "atk_patch_test_helpers",
               "atk_input_transformer", "atk_ast_transformer", "atk_showtraceback", "atk_custom_exc",
               "atk_read_hidden", "atk_grading_env", "atk_network", "atk_fork_bomb", "atk_always_equal",
               "atk_background_process", "atk_os_exit_after_part_a"]
    for name in flagged:
        assert integrity.screen(restore.student_cells(build(attacks.attacks()[name][0]))), name


def test_cells_the_trusted_stage_redoes_run_as_stand_ins():
    spec = assignments.get("finetune_last_layer")
    untouched = build(af.fixtures()["reference"][0])
    runnable = build(af.fixtures()["reference"][0])
    assert restore.replace_with_stand_ins(runnable, spec.replaced_by_trusted, spec.stand_in_note)
    stand_in = restore.stand_in_source(spec.stand_in_note)
    changed = {restore.nbgrader_meta(c).get("grade_id") for c, before in zip(runnable.cells, untouched.cells)
               if c.source != before.source}
    assert changed == set(spec.replaced_by_trusted) == {"evaluate", "test_accuracy"}
    for cell in runnable.cells:
        if restore.nbgrader_meta(cell).get("grade_id") in changed:
            assert cell.source == stand_in
            assert "ACCURACY_BAR" not in cell.source and "val_accuracy" not in cell.source
    namespace = {}
    exec(compile(stand_in, "stand-in", "exec"), {"print": lambda text: namespace.setdefault("printed", text)})
    assert namespace["printed"].startswith("Not run by the grader: the grader measures accuracy itself")


def test_a_student_who_uses_what_a_replaced_cell_sets_gets_the_notebook_as_written():
    spec = assignments.get("finetune_last_layer")
    runnable = build(af.reads_val_accuracy())
    before = [c.source for c in runnable.cells]
    assert not restore.replace_with_stand_ins(runnable, spec.replaced_by_trusted, spec.stand_in_note)
    assert [c.source for c in runnable.cells] == before


def test_only_locked_instructor_cells_can_be_replaced():
    with pytest.raises(ValueError, match="not a locked instructor code cell"):
        restore.replace_with_stand_ins(build(af.fixtures()["reference"][0]), ["training"], "why")
    with pytest.raises(ValueError, match="no cell with grade_id nonexistent"):
        restore.replace_with_stand_ins(build(af.fixtures()["reference"][0]), ["nonexistent"], "why")


def _loaded_names(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def test_no_later_cell_needs_what_a_replaced_cell_defines():
    """Skipping a cell is only safe if nothing after it reads the names it sets."""
    spec = assignments.get("finetune_last_layer")
    code = [c for c in SOURCE.cells if c.cell_type == "code"]
    replaced = [i for i, c in enumerate(code) if restore.nbgrader_meta(c).get("grade_id") in spec.replaced_by_trusted]
    defined = set().union(*(restore._assigned_names(code[i].source) for i in replaced))
    assert defined == {"val_predictions", "val_accuracy", "ACCURACY_BAR"}
    for cell in code[min(replaced):]:
        if restore.nbgrader_meta(cell).get("grade_id") not in spec.replaced_by_trusted:
            assert not _loaded_names(cell.source) & defined, restore.nbgrader_meta(cell).get("grade_id")
