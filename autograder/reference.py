"""The reference solution's answers to this grading's challenges, and the sandbox preflight.

The reference answers come from the instructor's solution (the course's
``source/`` notebook) run through exactly the same path as a student's
notebook: assembled with the released cells, executed in the sandbox, asked
the same challenges by the same harness. So an honest student's answers can
match the reference bit for bit. They are computed once per (source notebook,
challenges, grader version) and kept in the course's grader folder.

Before any of that, a tiny notebook runs in the sandbox: if the sandbox cannot
work on this machine (for example because the sandbox user cannot reach the
Python environment), the run stops with one clear message instead of
recording a grader fault for every student.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import nbformat

from autograder import GRADER_VERSION, challenges, nbmeta, restore, sandbox
from autograder.store import write_atomically

# What every notebook needs: the libraries, the course package's modules, the tokenizer files and the data.
PREFLIGHT_CELLS = ("import torch, transformers\nfrom coursekit import data, models, training\n"
                   "models.load_tokenizer()\ndata.load_dataset('rotten_tomatoes', n_train=5)\n"
                   "print('sandbox ok', torch.__version__)",)


class ReferenceError(RuntimeError):
    """The instructor's own solution fails its checks: nothing can be graded against it."""


def preflight(limits: sandbox.Limits, unsafe_no_sandbox: bool) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in PREFLIGHT_CELLS])
    quick = sandbox.Limits(cell_timeout_s=120, notebook_timeout_s=180, threads=limits.threads)
    run = sandbox.run_notebook(dict(notebook), limits=quick, unsafe_no_sandbox=unsafe_no_sandbox)
    outputs = (run.executed or {}).get("cells", [{}])[0].get("outputs", []) if run.executed else []
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    if run.status != "ok" or "sandbox ok" not in printed:
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
        detail = "; ".join(errors) or run.reason or "the notebook printed nothing"
        raise SystemExit(
            "The grading sandbox cannot run notebooks on this machine, so nothing was graded.\n"
            f"  What happened: {detail}\n"
            "  Check that bubblewrap works (bwrap --version) and that the course environment "
            "(.venv, .data) is readable by other users (files 0644, folders 0755).\n"
            f"  Sandbox log (last lines):\n    " + "\n    ".join(run.log.strip().splitlines()[-8:]))


def answers_path(assignment, state_dir: Path, specs: list[dict], source_sha256: str) -> Path:
    """Where the reference's answers are kept. The file is written only once the reference has passed every
    one of its own checks, so its existence means the answers can be judged against."""
    from autograder.worker import RUNTIME_SOURCE

    digest = hashlib.sha256(f"{source_sha256}|{challenges.specs_digest(specs)}|{GRADER_VERSION}|{assignment.version}|"
                            f"{assignment.code_fingerprint()}|{RUNTIME_SOURCE}".encode()).hexdigest()[:24]
    return Path(state_dir) / assignment.name / f"reference-{digest}.json"


def kept_answers(path: Path) -> dict[str, dict] | None:
    """The reference's answers if they have been computed and checked, else None."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def answers(assignment, source_path: Path, release_path: Path, state_dir: Path, specs: list[dict],
            source_sha256: str, limits: sandbox.Limits, unsafe_no_sandbox: bool,
            grading_key: bytes = b"") -> dict[str, dict]:
    """{challenge name: the reference's answer}; computed (about a minute) or read from the cache.

    The reference runs exactly as a student who typed in the solution would be graded, so its outcome is
    also kept as that notebook's: a submission of the reference solution reuses it.
    """
    from autograder.worker import ExportCheck, artifact_cache, challenge_payload, outcome_key, save_outcome

    path = answers_path(assignment, state_dir, specs, source_sha256)
    if path.exists():
        return json.loads(path.read_text())
    assignment.warm_up_in_background()  # the checker loads while the reference notebook runs
    source = nbformat.read(source_path, as_version=4)
    release = nbformat.read(release_path, as_version=4)
    runnable = restore.build(release, nbmeta.reference_submission(source, release))
    if assignment.stand_ins:
        restore.replace_with_stand_ins(runnable.notebook, assignment.stand_ins, assignment.stand_in_note)
    export_check = ExportCheck(assignment, artifact_cache(state_dir, assignment), grading_key)
    run = sandbox.run_notebook(dict(runnable.notebook), limits=limits, export_allowlist=assignment.export_files,
                               challenges=challenge_payload(assignment, specs), unsafe_no_sandbox=unsafe_no_sandbox,
                               on_exports=export_check.start)
    if run.status != "ok":
        raise ReferenceError(f"the reference solution did not run in the sandbox: {run.status}: {run.reason}")
    found = challenges.parse_answers(run.answers, specs)
    failed = [f"{s['name']}: {(found.get(s['name']) or {}).get('error', 'no answer')}" for s in specs
              if not (found.get(s["name"]) or {}).get("ok")]
    if failed:
        raise ReferenceError("the reference solution could not answer its own challenges: " + "; ".join(failed[:5]))
    checks = challenges.judge_all(assignment, specs, found, found, "")
    misjudged = [c.name for c in checks if not c.passed]
    if misjudged:  # a judge that fails the reference against itself is broken
        raise ReferenceError(f"the judge fails the reference solution against itself: {', '.join(misjudged[:5])}")
    report = export_check.report_for(run.exported)
    broken = [f"{c.group}: {c.reason}" for c in report.checks if not c.passed]
    if broken:
        raise ReferenceError("the reference solution fails its own artifact checks: " + "; ".join(broken))
    write_atomically(path, json.dumps(found).encode())
    outcome = {"status": "graded", "reason": "", "missing": "", "executed": run.executed,
               "checks": [asdict(c) for c in checks + report.checks], "measurements": dict(report.measurements),
               "timings": {"sandbox": round(run.wall_seconds, 3), "cells": round(sum(run.cell_seconds), 3),
                           "challenges": round(run.challenge_seconds, 3),
                           "notebook": round(run.wall_seconds - run.challenge_seconds, 3)}}
    save_outcome(state_dir, assignment, outcome_key(assignment, source_sha256, specs, unsafe_no_sandbox, limits,
                                                    runnable.notebook), outcome)
    return found
