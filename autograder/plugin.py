"""The contract between the generic grader and one assignment.

An assignment is one folder, ``autograder/assignments/<name>/``, whose
package exports ``ASSIGNMENT``, an instance of a subclass of
:class:`Assignment`. Its notebook lives in the course's ``source/<name>/``.
The folder brings everything specific to the assignment: the challenges and
how to judge them, the in-kernel harness that answers them, the trusted
checks of what the graded run exported, the calibration record, the fixture
submissions with their expected scores, and its documentation. The generic
grader (intake, sandbox, scoring, store, reports, CLI, nbgrader integration)
names no assignment.

How points are decided (see docs/grading.md):

* After the notebook ran in the sandbox, the grader draws challenges
  (:meth:`Assignment.draw_challenges`): fresh inputs for the student's
  functions. The harness (:meth:`Assignment.harness_source`) answers each one
  in the sandbox by calling the student's function on them; the reference
  solution answers the same challenges in a run of its own.
  :meth:`Assignment.judge` compares the two answers. No verdict comes from the
  student's kernel.
* :meth:`Assignment.check_artifacts` checks, in trusted code, what the
  locked instructor cells of the graded run exported (weights, metrics).
* Each graded cell has a :class:`CellRule`: it earns its points when every
  check group it requires passed, and nothing otherwise.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder.result import Check


@dataclass(frozen=True)
class CellRule:
    grade_id: str
    requires: tuple[str, ...]  # check groups: challenge groups ("encode_batch") or artifact checks ("artifact:accuracy")
    summary: str               # what the cell checks, in words shown to students and TAs


@dataclass(frozen=True)
class ArtifactReport:
    checks: list[Check]
    measurements: dict[str, float | str | None]


class Assignment:
    """Base class of an assignment plug-in; subclasses set the attributes and implement the methods."""

    name: str = ""
    notebook: str = ""                       # file name inside source/<name>/
    version: str = "1"                       # bump when checks change: results are keyed by it
    rules: tuple[CellRule, ...] = ()
    export_files: tuple[str, ...] = ()       # files the sandbox may hand back from submission_export/
    stand_ins: tuple[str, ...] = ()          # locked cells whose result the trusted stage recomputes
    stand_in_note: str = ""
    heldout_datasets: tuple[str, ...] = ()   # reserved splits the checks read (nothing of them may reach a student)
    # The least the fixture corpus must hold: honest solutions, honest mistakes, attacks, attack categories.
    corpus_minimums: tuple[int, int, int, int] = (3, 4, 6, 5)
    call_timeout_s: float = 10.0             # per challenge call (a spec may scale it with "time_factor")
    challenges_total_s: float = 120.0        # all of one notebook's calls together
    response_cap_bytes: int = 8 * 2**20      # per challenge answer
    folder: Path = Path(".")

    def __init__(self):
        self._checker = None
        self._warmed = False
        self._checker_lock = threading.Lock()

    # ------------------------------------------------------------ challenges
    def draw_challenges(self, rng: random.Random) -> list[dict]:
        """Plain-data specs: {"name", "group", "kind", "seed", "args"[, "time_factor"]}."""
        raise NotImplementedError

    def harness_source(self) -> str:
        """Python source run in the kernel after harness_runtime; defines CALLS = {kind: fn(namespace, args)}."""
        return (self.folder / "harness.py").read_text()

    def judge(self, spec: dict, student: dict, reference: dict) -> tuple[bool, str]:
        """Compare the student's answer with the reference's; (passed, reason a student can act on)."""
        raise NotImplementedError

    # ------------------------------------------------------------- artifacts
    def make_checker(self):
        """The trusted checker of what the graded run exported: an object with
        ``check(exported, cache_dir, grading_key=b"")`` returning an :class:`ArtifactReport`, and optionally ``warm_up()``; ``None`` when nothing is exported."""
        return None

    def _ready_checker(self, warm: bool):
        with self._checker_lock:  # a warm-up in progress finishes before any check uses the checker
            if self._checker is None:
                self._checker = self.make_checker()
            if warm and not self._warmed and hasattr(self._checker, "warm_up"):
                self._checker.warm_up()
            self._warmed = self._warmed or warm
            return self._checker

    def warm_up(self) -> None:
        """Build the checker and load what it reads before the first check needs it. A worker calls this in a
        background thread as it starts, so the loading overlaps its first sandboxed notebook run."""
        self._ready_checker(warm=True)

    def warm_up_in_background(self) -> threading.Thread:
        def run():
            try:
                self.warm_up()
            except Exception:  # the first check meets the same fault where it is reported for its student
                pass

        thread = threading.Thread(target=run, name=f"warm-up {self.name}", daemon=True)
        thread.start()
        return thread

    def check_artifacts(self, exported: dict[str, bytes], cache_dir: Path, grading_key: bytes = b"") -> ArtifactReport:
        """``grading_key`` (secret, see challenges.grading_key) keys any random choice the checks make."""
        checker = self._ready_checker(warm=False)
        return checker.check(exported, cache_dir, grading_key=grading_key) if checker is not None \
            else ArtifactReport([], {})

    # ------------------------------------------------------------- metadata
    @property
    def bar(self) -> float:
        """The pass mark, rederived from the calibration record by the rule in autograder/calibration.py."""
        from autograder.calibration import bar_below

        record = self.calibration()
        return bar_below([record["validation_accuracy"]["min"]], record["margin"])

    def calibration(self) -> dict:
        path = self.folder / "calibration.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def fixtures(self):
        """The corpus for the tests: {student: Fixture}; see autograder/fixtures.py."""
        return {}

    def code_fingerprint(self) -> str:
        """A digest of this plug-in's code: cached answers and outcomes are only reused by the same code."""
        import hashlib

        digest = hashlib.sha256()
        for path in sorted(self.folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def source_path(self, course_dir: Path) -> Path:
        return Path(course_dir) / "source" / self.name / self.notebook

    def release_path(self, course_dir: Path) -> Path:
        return Path(course_dir) / "release" / self.name / self.notebook
