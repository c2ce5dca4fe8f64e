"""What the grader knows about each assignment: its files, its contract, its bar.

The accuracy bar is derived from calibration (benchmarks/results/
calibration_finetune_last_layer.json): the lowest reference accuracy over the
calibration seeds minus a stated margin. The hidden test in source/ carries the
same number; a test keeps the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass

from coursekit.paths import PROJECT_ROOT


@dataclass(frozen=True)
class AssignmentSpec:
    name: str
    notebook: str  # file name inside source/<name>/
    dataset: str
    export_file: str
    max_length: int
    num_labels: int
    accuracy_threshold: float
    accuracy_test: str  # replaced by the trusted accuracy on the reserved test split
    freeze_test: str  # capped by the trusted bit-for-bit freeze check
    export_test: str  # replaced by the trusted export check
    # Locked cells that only measure what the trusted stage measures again on held-out data.
    # Their results are discarded, so the sandbox runs a stand-in instead (restore.replace_with_stand_ins).
    replaced_by_trusted: tuple[str, ...] = ()
    stand_in_note: str = ""

    @property
    def source_path(self):
        return PROJECT_ROOT / "source" / self.name / self.notebook

    @property
    def release_path(self):
        return PROJECT_ROOT / "release" / self.name / self.notebook


FINETUNE_LAST_LAYER = AssignmentSpec(
    name="finetune_last_layer",
    notebook="finetune_last_layer.ipynb",
    dataset="rotten_tomatoes",
    export_file="classifier.safetensors",
    max_length=64,
    num_labels=2,
    accuracy_threshold=0.71,
    accuracy_test="test_accuracy",
    freeze_test="test_freeze_all_but_last",
    export_test="test_export",
    # The validation pass (one full forward pass of MiniLM over the 1,275 validation snippets)
    # feeds only the in-notebook accuracy test, and the trusted accuracy replaces that test's score.
    replaced_by_trusted=("evaluate", "test_accuracy"),
    stand_in_note="the grader measures accuracy itself, on a reserved test split this notebook never sees "
                  "(see test_accuracy in the table above)",
)

ASSIGNMENTS = {spec.name: spec for spec in (FINETUNE_LAST_LAYER,)}


def get(name: str) -> AssignmentSpec:
    try:
        return ASSIGNMENTS[name]
    except KeyError:
        raise SystemExit(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}") from None
