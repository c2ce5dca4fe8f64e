"""Grading one submission: intake, restore, sandboxed run with challenges, trusted checks, scores.

Runs in a worker process that never executes student code itself (the
notebook and the challenge calls run in the bubblewrap sandbox). Every step
is guarded on its own: bad input is "ungradable", a fault of the grader is
"grader_error" (retried by the next run, never a student's zero), and a
notebook that fails half-way keeps what its functions earned.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from autograder import GRADER_VERSION, assignments, challenges, integrity, nbmeta, reference, restore, sandbox, scoring
from autograder.harness_runtime import __file__ as _runtime_file
from autograder.intake import Ungradable, parse_notebook
from autograder.result import Check, GradeResult
from autograder.store import write_atomically

RUNTIME_SOURCE = Path(_runtime_file).read_text()


@dataclass(frozen=True)
class Plan:
    """What every submission of one grading run is graded against (plain data, shared by the workers)."""
    assignment: str
    course_dir: str
    state_dir: str
    release_path: str
    source_sha256: str
    release_label: str
    specs: tuple
    reference_answers: dict | None  # None while the batch still computes them: then read from reference_path
    seed: int
    unsafe_no_sandbox: bool
    limits: sandbox.Limits
    reuse_outcomes: bool = True  # False (--force): every notebook runs again
    reference_path: str = ""     # where the reference's answers appear once they passed their own checks
    grading_key: bytes = b""     # keys the artifact checks' random choices (challenges.grading_key)


@dataclass(frozen=True)
class Job:
    student: str
    origin: str
    raw: bytes
    sha256: str
    problem: str | None


@dataclass
class Unjudged:
    """A finished run whose challenge answers wait for the reference's.

    On a fresh course the batch computes the reference's answers while the first notebooks run; a run that
    ends before them comes back as this, and the batch judges it (trusted code, plain data) with
    :func:`complete` once the reference's answers exist."""
    result: GradeResult
    outcome: dict        # what _run_and_check returned: parsed answers instead of their checks
    key: str
    numbers: dict
    finished_at: float   # time.time() when the worker handed it back


_releases: dict[str, nbformat.NotebookNode] = {}


def _release(plan: Plan):
    if plan.release_path not in _releases:
        _releases[plan.release_path] = nbformat.read(plan.release_path, as_version=4)
    return _releases[plan.release_path]


def challenge_payload(assignment, specs) -> dict:
    return {"runtime": RUNTIME_SOURCE, "harness": assignment.harness_source(), "specs": list(specs),
            "call_timeout_s": assignment.call_timeout_s, "response_cap_bytes": assignment.response_cap_bytes,
            "total_s": assignment.challenges_total_s}


def new_result(plan: Plan, job: Job, cells) -> GradeResult:
    return GradeResult(student=job.student, assignment=plan.assignment, origin=job.origin, sha256=job.sha256,
                       seed=plan.seed, scores={c.grade_id: 0.0 for c in cells if not c.manual},
                       max_scores={c.grade_id: c.points for c in cells},
                       manual=[c.grade_id for c in cells if c.manual],
                       graded_against={"label": plan.release_label, "source_sha256": plan.source_sha256},
                       unsafe_no_sandbox=plan.unsafe_no_sandbox, grader_version=GRADER_VERSION)


def grade(plan: Plan, job: Job) -> tuple[GradeResult, dict | None, dict[int, int | None]] | Unjudged:
    """(result, executed notebook or None, cell numbers as the student sees them), or :class:`Unjudged` when the
    reference's answers are not there yet."""
    start = time.monotonic()
    assignment = assignments.get(plan.assignment)
    release = _release(plan)
    cells = nbmeta.grade_cells(release)
    result = new_result(plan, job, cells)

    def finish(status, reason, executed=None, numbers=None):
        result.status, result.reason = status, reason
        result.timings["total"] = round(time.monotonic() - start, 3)
        return result, executed, numbers or {}

    # 1. Intake: the student's bytes become a checked notebook, or a reason.
    try:
        if job.problem:
            raise Ungradable(job.problem)
        student_nb = parse_notebook(job.raw, known_grade_ids=frozenset(c.grade_id for c in cells))
    except Ungradable as error:
        return finish("ungradable", str(error))
    stamp = student_nb.metadata.get("course_release")
    result.release = {k: str(v) for k, v in stamp.items() if k in ("label", "source_sha256")} \
        if isinstance(stamp, dict) else {}
    made_from = result.release.get("source_sha256")
    if made_from and made_from != plan.source_sha256:  # an older release that the course did not keep
        result.flags.append(f"made from release {result.release.get('label') or made_from[:12]}, which is not kept: "
                            f"graded against {plan.release_label or 'the current release'}")

    # 2. Restore the instructor's cells; screen the student's code (advice for the TA only).
    try:
        runnable = restore.build(release, student_nb)
        if assignment.stand_ins and restore.replace_with_stand_ins(runnable.notebook, assignment.stand_ins,
                                                                   assignment.stand_in_note):
            result.stand_ins = list(assignment.stand_ins)
    except Exception as error:
        return finish("grader_error", f"could not assemble the notebook to run: {error!r}")
    try:
        result.flags += [str(flag) for flag in integrity.screen(restore.student_cells(runnable.notebook),
                                                                runnable.student_numbers)]
    except Exception as error:  # advice only: its failure changes nothing
        result.flags.append(f"the code screen could not run: {error!r}")

    # 3-4. The sandboxed run and the trusted checks: a deterministic function of the notebook that runs
    # and of the plan, so an identical notebook (an unchanged release, a copy) reuses an earlier outcome.
    key = _outcome_key(plan, assignment, runnable.notebook)
    outcome = _load_outcome(plan, assignment, key) if plan.reuse_outcomes else None
    if outcome is None:
        outcome = _run_and_check(plan, assignment, runnable.notebook)
        if outcome.get("status") == "grader_error":
            return finish("grader_error", outcome["reason"], outcome.get("executed"), runnable.student_numbers)
        reference_answers = plan.reference_answers if plan.reference_answers is not None \
            else reference.kept_answers(plan.reference_path)
        if reference_answers is None:
            result.timings["total"] = round(time.monotonic() - start, 3)
            return Unjudged(result, outcome, key, runnable.student_numbers, time.time())
        outcome = _judged(plan, assignment, key, outcome, reference_answers)
    else:
        result.timings["reused_outcome"] = 1.0
    return _scored(result, cells, assignment, outcome, runnable.student_numbers, start)


def complete(plan: Plan, pending: Unjudged, reference_answers: dict) -> tuple[GradeResult, dict | None, dict]:
    """Judge a run that finished before the reference's answers existed (in the batch, with those answers)."""
    start = time.monotonic()
    assignment = assignments.get(plan.assignment)
    cells = nbmeta.grade_cells(_release(plan))
    result = pending.result
    result.timings["reference_wait"] = round(max(0.0, time.time() - pending.finished_at), 3)
    outcome = _judged(plan, assignment, pending.key, pending.outcome, reference_answers)
    # the time the grader spent on this submission: the worker's, then the judging here (not the wait)
    return _scored(result, cells, assignment, outcome, pending.numbers, start - result.timings["total"])


def _scored(result: GradeResult, cells, assignment, outcome: dict, numbers: dict, start: float):
    if outcome.get("status") == "grader_error":
        result.status, result.reason = "grader_error", outcome["reason"]
    else:
        result.checks = [Check(**c) for c in outcome["checks"]]
        result.measurements = dict(outcome["measurements"])
        result.timings.update(outcome["timings"])
        result.scores, result.notes = scoring.score_cells(cells, assignment.rules, result.checks, outcome["missing"])
        result.status, result.reason = outcome["status"], as_student_sees(outcome["reason"], numbers)
    result.timings["total"] = round(time.monotonic() - start, 3)
    return result, outcome.get("executed"), numbers


def _run_and_check(plan: Plan, assignment, notebook) -> dict:
    """Run ``notebook`` in the sandbox with the challenges; read its answers and check its exports in trusted code.
    Judging the answers against the reference's is left to :func:`_judged`."""
    payload = challenge_payload(assignment, plan.specs)
    export_check = ExportCheck(assignment, artifact_cache(plan.state_dir, assignment), plan.grading_key)
    stage1 = sandbox.run_notebook(copy.deepcopy(dict(notebook)), limits=plan.limits,
                                  export_allowlist=assignment.export_files, challenges=payload,
                                  unsafe_no_sandbox=plan.unsafe_no_sandbox, on_exports=export_check.start)
    timings = {"sandbox": round(stage1.wall_seconds, 3), "cells": round(sum(stage1.cell_seconds), 3),
               "challenges": round(stage1.challenge_seconds, 3),
               # the notebook's own run in the sandbox: kernel start, its cells, kernel stop
               "notebook": round(stage1.wall_seconds - stage1.challenge_seconds, 3)}
    if not stage1.started:
        return {"status": "grader_error", "reason": f"the sandbox could not start: {stage1.reason}"}
    trusted_start = time.monotonic()
    missing = stage1.challenge_note or "the notebook's kernel did not answer this check"
    try:
        answers = challenges.parse_answers(stage1.answers, list(plan.specs))
        report = export_check.report_for(stage1.exported)
    except Exception:
        return {"status": "grader_error", "reason": "a trusted check failed: " + traceback.format_exc(limit=3)[-600:],
                "executed": stage1.executed}
    timings["trusted"] = round(time.monotonic() - trusted_start, 3)
    status = {"ok": "graded", "output_too_large": "graded", "timeout": "timeout", "kernel_died": "kernel_died",
              "sandbox_error": "kernel_died"}[stage1.status]
    reason = stage1.reason
    if stage1.challenge_note and status != "graded":
        reason = f"{reason}; {stage1.challenge_note}" if reason else stage1.challenge_note
    return {"status": status, "reason": reason, "missing": missing, "executed": stage1.executed,
            "answers": answers, "artifact_checks": [asdict(c) for c in report.checks],
            "measurements": dict(report.measurements), "timings": timings}


def _judged(plan: Plan, assignment, key: str, run: dict, reference_answers: dict) -> dict:
    """The run's outcome with every answer judged against the reference's; a graded outcome is kept for reuse."""
    start = time.monotonic()
    try:
        checks = challenges.judge_all(assignment, list(plan.specs), run["answers"], reference_answers, run["missing"])
    except Exception:
        return {"status": "grader_error", "reason": "a trusted check failed: " + traceback.format_exc(limit=3)[-600:],
                "executed": run["executed"]}
    outcome = {k: v for k, v in run.items() if k not in ("answers", "artifact_checks")}
    outcome["checks"] = [asdict(c) for c in checks] + run["artifact_checks"]
    outcome["timings"] = dict(run["timings"], trusted=round(run["timings"]["trusted"] + time.monotonic() - start, 3))
    if outcome["status"] == "graded":  # a timeout or a dead kernel may depend on the machine's load: not reused
        save_outcome(plan.state_dir, assignment, key, outcome)
    return outcome


def artifact_cache(state_dir, assignment) -> Path:
    """Where an assignment's trusted checks keep what they measured (per plug-in version and code)."""
    return Path(state_dir) / assignment.name / f"v{assignment.version}-{assignment.code_fingerprint()[:12]}"


class ExportCheck:
    """The trusted checks of a run's exports, started in a thread as soon as the sandbox has sent every export,
    so that they run while the challenges do. Their report counts only for exactly the files the finished run
    returned; otherwise (or if the early check failed) the checks run again on those files."""

    def __init__(self, assignment, cache: Path, grading_key: bytes = b""):
        self.assignment, self.cache, self.grading_key = assignment, cache, grading_key
        self.thread: threading.Thread | None = None
        self.seen: dict | None = None
        self.report = None  # stays None if the early check failed

    def start(self, exported: dict[str, bytes]) -> None:
        if self.thread is not None:
            return
        self.seen = exported

        def run():
            try:
                self.report = self.assignment.check_artifacts(exported, self.cache, self.grading_key)
            except BaseException:  # the check runs again below, where its fault is reported
                pass

        self.thread = threading.Thread(target=run, name="export check", daemon=True)
        self.thread.start()

    def report_for(self, exported: dict[str, bytes]):
        if self.thread is not None:
            self.thread.join()
            if self.report is not None and self.seen == exported:
                return self.report
        return self.assignment.check_artifacts(exported, self.cache, self.grading_key)


def outcome_key(assignment, source_sha256: str, specs, unsafe_no_sandbox: bool, limits, notebook) -> str:
    """Everything a sandboxed run's outcome depends on: the code that runs, the checks and their inputs."""
    digest = hashlib.sha256()
    for part in (GRADER_VERSION, assignment.version, assignment.code_fingerprint(), RUNTIME_SOURCE,
                 source_sha256, challenges.specs_digest(list(specs)), str(unsafe_no_sandbox), repr(limits),
                 json.dumps(notebook, sort_keys=True)):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _outcome_key(plan: Plan, assignment, notebook) -> str:
    return outcome_key(assignment, plan.source_sha256, plan.specs, plan.unsafe_no_sandbox, plan.limits, notebook)


def _outcome_path(state_dir, assignment, key: str) -> Path:
    return Path(state_dir) / assignment.name / "outcomes" / f"{key[:40]}.json"


def _load_outcome(plan: Plan, assignment, key: str) -> dict | None:
    try:
        stored = json.loads(_outcome_path(plan.state_dir, assignment, key).read_text())
    except (OSError, ValueError):
        return None
    return stored if stored.get("key") == key else None


def save_outcome(state_dir, assignment, key: str, outcome: dict) -> None:
    write_atomically(_outcome_path(state_dir, assignment, key), json.dumps({**outcome, "key": key}).encode())


def as_student_sees(text: str, numbers: dict[int, int | None]) -> str:
    """The runner names cells by their index in the notebook it ran; students know them by their place
    in their own notebook."""
    def number(match):
        index = int(match.group(1))
        return f"cell {numbers[index]}" if numbers.get(index) else "a cell the grader restored"

    return re.sub(r"\bcell (\d+)\b", number, text)
