"""Restoring instructor cells and screening student code, on real notebooks."""
import copy
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
import assignment_fixtures as af  # noqa: E402
import attacks  # noqa: E402
from autograder import integrity, restore  # noqa: E402

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
