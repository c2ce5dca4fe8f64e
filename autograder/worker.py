"""Grading one submission: intake, restore, sandboxed run, trusted checks.

Runs in a worker process that never executes student code itself (the
notebook runs in the bubblewrap sandbox). It returns plain data; the parent
alone writes results and grades.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import nbformat

from autograder import assignments, integrity, restore, sandbox, scoring
from autograder.intake import Ungradable, parse_notebook

_checkers: dict[str, object] = {}
_notebooks: dict[str, tuple] = {}


@dataclass(frozen=True)
class Job:
    student: str
    assignment: str
    origin: str
    raw: bytes
    sha256: str
    problem: str | None
    seed: int
    unsafe_no_sandbox: bool
    limits: sandbox.Limits


def _instructor_notebooks(spec):
    if spec.name not in _notebooks:
        source = nbformat.read(spec.source_path, as_version=4)
        release = nbformat.read(spec.release_path, as_version=4)
        _notebooks[spec.name] = (source, release, restore.grade_cells(source))
    return _notebooks[spec.name]


def checker_for(spec):
    if spec.name not in _checkers:
        from autograder.trusted import FinetuneLastLayerChecker

        _checkers[spec.name] = FinetuneLastLayerChecker(spec)
    return _checkers[spec.name]


def _base(job: Job, cells) -> dict:
    return {"student": job.student, "assignment": job.assignment, "origin": job.origin,
            "sha256": job.sha256, "seed": job.seed, "status": "", "reason": "",
            "scores": {c.grade_id: 0.0 for c in cells if c.kind == "test"},
            "max_scores": {c.grade_id: c.points for c in cells},
            "manual": [c.grade_id for c in cells if c.kind == "manual"],
            "notes": {}, "integrity_flags": [], "trusted": None, "unsafe_no_sandbox": job.unsafe_no_sandbox,
            "wall_seconds": 0.0, "notebook_seconds": 0.0, "trusted_seconds": 0.0, "stand_ins": []}


def grade(job: Job) -> tuple[dict, dict | None]:
    """(result, executed notebook or None) for one submission."""
    start = time.monotonic()
    spec = assignments.get(job.assignment)
    source, release, cells = _instructor_notebooks(spec)
    result = _base(job, cells)
    try:
        if job.problem:
            raise Ungradable(job.problem)
        known = frozenset(c.grade_id for c in cells)
        student_nb = parse_notebook(job.raw, known_grade_ids=known)
    except Ungradable as error:
        result.update(status="ungradable", reason=str(error), wall_seconds=time.monotonic() - start)
        return result, None

    runnable = restore.build_runnable(source, release, student_nb)
    if restore.replace_with_stand_ins(runnable, spec.replaced_by_trusted, spec.stand_in_note):
        result["stand_ins"] = list(spec.replaced_by_trusted)
    flags = integrity.screen(restore.student_cells(runnable))
    stage1 = sandbox.run_notebook(copy.deepcopy(dict(runnable)), limits=job.limits,
                                  export_allowlist=(spec.export_file,), unsafe_no_sandbox=job.unsafe_no_sandbox)
    result["notebook_seconds"] = stage1.wall_seconds
    if stage1.status == "sandbox_error" and stage1.executed is None:
        result.update(status="ungradable", reason=f"the notebook could not be run: {stage1.reason}",
                      wall_seconds=time.monotonic() - start)
        return result, None

    notebook_scores = scoring.in_notebook_scores(stage1.executed, cells)
    trusted_start = time.monotonic()
    trusted = checker_for(spec).check(stage1.exported).as_dict()
    result["trusted_seconds"] = time.monotonic() - trusted_start
    scores, notes = scoring.final_scores(spec, cells, notebook_scores, trusted, flags,
                                         scoring.test_positions(dict(runnable)))
    status = {"ok": "graded", "output_too_large": "graded", "timeout": "timeout",
              "kernel_died": "kernel_died", "sandbox_error": "kernel_died"}[stage1.status]
    result.update(status=status, reason=stage1.reason, scores=scores, notes=notes, integrity_flags=[str(f) for f in flags],
                  trusted={k: v for k, v in trusted.items() if k != "changed"},
                  wall_seconds=time.monotonic() - start)
    return result, stage1.executed
