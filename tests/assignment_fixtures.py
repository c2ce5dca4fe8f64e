"""Submissions of the core assignment that a real class would hand in.

Each fixture is the released notebook with some answer cells filled in; the
answers come from the instructor's reference solution, optionally edited the
way a plausible wrong answer would be. EXPECTED holds the exact automatic
points each must earn per graded cell (17 in all).
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from coursekit.paths import PROJECT_ROOT

ASSIGNMENT = "finetune_last_layer"
SOURCE = PROJECT_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = PROJECT_ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

FULL = {"test_encode_batch": 2, "test_inspect_model": 3, "test_classifier_shapes": 1, "test_mean_pool": 2,
        "test_freeze_all": 1, "test_freeze_all_but_last": 2, "test_optimizer": 1, "test_accuracy": 3, "test_export": 2}

# A short training run: correct code, far too little data to reach the bar.
SHORT_TRAINING = ("N_TRAIN = 1000", "N_TRAIN = 48"), ("EPOCHS = 3", "EPOCHS = 1")


def make_course(path: Path) -> Path:
    """A throwaway nbgrader course folder: a copy of source/ and the course's nbgrader_config.py."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "source", path / "source")
    shutil.copy(PROJECT_ROOT / "nbgrader_config.py", path)
    return path


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def reference_answers() -> dict[str, str]:
    source = nbformat.read(SOURCE, as_version=4)
    answers = {}
    for cell in source.cells:
        if _meta(cell).get("solution"):
            text = cell.source
            if cell.cell_type == "code":
                text = "\n".join(line for line in text.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
            answers[_meta(cell)["grade_id"]] = text
    return answers


def submission(answers: dict[str, str] | None = None, edits: dict[str, tuple] | None = None,
               free_cell_edits: tuple = ()) -> dict:
    """The release with ``answers`` pasted in, then text replacements per answer and in free cells."""
    notebook = nbformat.read(RELEASE, as_version=4)
    answers = dict(answers or {})
    for grade_id, replacements in (edits or {}).items():
        for old, new in replacements:
            assert old in answers[grade_id], (grade_id, old)
            answers[grade_id] = answers[grade_id].replace(old, new)
    for cell in notebook.cells:
        grade_id = _meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        elif cell.cell_type == "code" and not _meta(cell):
            for old, new in free_cell_edits:
                cell.source = cell.source.replace(old, new)
    return copy.deepcopy(dict(notebook))


def reads_val_accuracy(free_cell_edits: tuple = ()) -> dict:
    """The reference, except that its export cell also prints val_accuracy, a name the validation pass sets."""
    answers = reference_answers()
    answers["export"] += '\nprint(f"validation accuracy was {val_accuracy:.3f}")'
    return submission(answers, free_cell_edits=free_cell_edits)


def fixtures() -> dict[str, tuple[dict, dict[str, float]]]:
    """{student: (notebook, expected automatic points per graded cell)}."""
    ref = reference_answers()
    short_expected = {**FULL, "test_accuracy": 0}
    return {
        "unchanged_release": (submission(), {k: 0 for k in FULL}),
        "reference": (submission(ref), dict(FULL)),
        "under_trained": (submission(ref, free_cell_edits=SHORT_TRAINING), short_expected),
        "everything_trainable": (
            submission(ref, {"freezing": [("    freeze_all(classifier)\n", "")]}, SHORT_TRAINING),
            {**short_expected, "test_freeze_all_but_last": 0}),
        "nothing_trainable": (
            submission(ref, {"freezing": [("for parameter in encoder_layers(classifier.encoder)[-1].parameters():\n        parameter.requires_grad = True\n    for parameter in classifier.head.parameters():\n        parameter.requires_grad = True",
                                           "pass")]}, SHORT_TRAINING),
            {**short_expected, "test_freeze_all_but_last": 0, "test_optimizer": 0}),
        "first_layer_unfrozen": (
            submission(ref, {"freezing": [("encoder_layers(classifier.encoder)[-1]", "encoder_layers(classifier.encoder)[0]")]}, SHORT_TRAINING),
            {**short_expected, "test_freeze_all_but_last": 0}),
        "pooler_left_trainable": (
            submission(ref, {"freezing": [("    for parameter in classifier.head.parameters():",
                                           "    for parameter in classifier.encoder.pooler.parameters():\n        parameter.requires_grad = True\n    for parameter in classifier.head.parameters():")]}, SHORT_TRAINING),
            {**short_expected, "test_freeze_all_but_last": 0, "test_optimizer": 1}),
        "inspection_crashes": (
            submission(ref, {"inspect_model": [('    return [name for name, _ in model.named_children()]', '    raise RuntimeError("unfinished")')]}, SHORT_TRAINING),
            {**short_expected, "test_inspect_model": 0}),
    }
