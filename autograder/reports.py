"""What the grader writes for people: grades.csv, Gradescope results.json and a summary.

Feedback pages are in autograder/feedback.py. A grader fault ("grader_error")
never reads as a zero: its score cells are empty and it gets no results.json.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from autograder.result import GradeResult
from autograder.store import write_atomically

UNSAFE_BANNER = ("WARNING: graded with --unsafe-no-sandbox: student code ran WITHOUT the sandbox; "
                 "these grades are not protected against tampering.")
NO_SCORE = ("ungradable", "grader_error")


def _reason(result: GradeResult) -> str:
    return ((UNSAFE_BANNER + " ") if result.unsafe_no_sandbox else "") + result.reason


def write_csv(results: list[GradeResult], path: Path) -> None:
    ids = results[0].auto_ids if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "assignment", "score", "max_score", "status", "reason", "release", "graded_against",
                     "heldout_accuracy", "flags_for_review", *ids])
    for result in results:
        scored = result.status != "grader_error"
        accuracy = result.measurements.get("heldout_accuracy")
        writer.writerow([result.student, result.assignment, f"{result.score:g}" if scored else "",
                         f"{result.max_score:g}", result.status, _reason(result),
                         result.release.get("label", ""), result.graded_against.get("label", ""),
                         "" if accuracy is None else f"{accuracy:.4f}", " | ".join(result.flags),
                         *[f"{result.scores.get(g, 0.0):g}" if scored else "" for g in ids]])
    write_atomically(path, buffer.getvalue().encode())


def gradescope(result: GradeResult) -> dict:
    """Gradescope's autograder results format (score, tests with name/score/max_score/output)."""
    lines = [f"status: {result.status}"]
    if result.reason:
        lines.append(f"reason: {result.reason}")
    if result.unsafe_no_sandbox:
        lines.insert(0, UNSAFE_BANNER)
    lines.append(f"release worked from: {result.release.get('label') or 'unknown'}; "
                 f"graded against: {result.graded_against.get('label') or 'unlabelled'}")
    if result.manual:
        lines.append("written answers (" + ", ".join(result.manual) + ") are graded by hand")
    tests = [{"name": grade_id, "score": result.scores.get(grade_id, 0.0), "max_score": result.max_scores[grade_id],
              "output": result.notes.get(grade_id, ""), "visibility": "visible"} for grade_id in result.auto_ids]
    return {"score": result.score, "output": "\n".join(lines), "tests": tests,
            "execution_time": round(result.timings.get("total", 0.0), 1)}


def summary(results: list[GradeResult]) -> str:
    lines = ["| student | status | score | reason | flags for review |", "|---|---|---|---|---|"]
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
        score = "" if result.status == "grader_error" else f"{result.score:g} / {result.max_score:g}"
        reason = result.reason.replace("|", "/").replace("\n", " ")[:90]
        flags = f"{len(result.flags)}" if result.flags else ""
        lines.append(f"| {result.student} | {result.status} | {score} | {reason} | {flags} |")
    head = [f"# Grading summary: {len(results)} submissions", "",
            ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())), ""]
    if counts.get("grader_error"):
        head += [f"**{counts['grader_error']} submission(s) hit a grader fault (not the students'): "
                 "run the same command again to retry them.**", ""]
    if any(r.unsafe_no_sandbox for r in results):
        head.insert(1, "\n**" + UNSAFE_BANNER + "**\n")
    return "\n".join(head + lines) + "\n"


def write_gradescope(result: GradeResult, path: Path) -> None:
    write_atomically(path, json.dumps(gradescope(result), indent=2).encode())
