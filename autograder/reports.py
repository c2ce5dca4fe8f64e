"""What the grader writes for people: grades.csv, Gradescope results.json,
feedback HTML without hidden tests, and a summary."""
from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import nbformat

from autograder import assignments
from autograder.restore import nbgrader_meta, stand_in_source
from autograder.store import write_atomically

UNSAFE_BANNER = ("WARNING: graded with --unsafe-no-sandbox: student code ran WITHOUT the sandbox; "
                 "these grades are not protected against tampering.")


def auto_ids(result: dict) -> list[str]:
    return [g for g in result["max_scores"] if g not in result["manual"]]


def totals(result: dict) -> tuple[float, float]:
    ids = auto_ids(result)
    return sum(result["scores"].get(g, 0.0) for g in ids), sum(result["max_scores"][g] for g in ids)


def write_csv(results: list[dict], path: Path) -> None:
    ids = auto_ids(results[0]) if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "assignment", "score", "max_score", "status", "reason", *ids])
    for result in results:
        score, max_score = totals(result)
        reason = result["reason"]
        if result.get("unsafe_no_sandbox"):
            reason = (UNSAFE_BANNER + " " + reason).strip()
        writer.writerow([result["student"], result["assignment"], f"{score:g}", f"{max_score:g}", result["status"],
                         reason, *[f"{result['scores'].get(g, 0.0):g}" for g in ids]])
    write_atomically(path, buffer.getvalue().encode())


def gradescope(result: dict) -> dict:
    score, max_score = totals(result)
    lines = [f"status: {result['status']}"]
    if result["reason"]:
        lines.append(f"reason: {result['reason']}")
    if result.get("unsafe_no_sandbox"):
        lines.insert(0, UNSAFE_BANNER)
    if result["manual"]:
        lines.append("written answers (" + ", ".join(result["manual"]) + ") are graded by hand")
    tests = [{"name": grade_id, "score": result["scores"].get(grade_id, 0.0), "max_score": result["max_scores"][grade_id],
              "output": result["notes"].get(grade_id, ""), "visibility": "visible"} for grade_id in auto_ids(result)]
    return {"score": score, "output": "\n".join(lines), "tests": tests, "execution_time": round(result["wall_seconds"], 1)}


def write_gradescope(result: dict, path: Path) -> None:
    write_atomically(path, json.dumps(gradescope(result), indent=2).encode())


def student_view(executed: dict, release_nb, stand_ins: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The executed notebook as a student may see it: test cells show the
    release's source (no hidden tests) and errors only as name and message
    (a traceback would quote hidden-test lines). Cells the sandbox ran as a
    stand-in (``stand_ins``: grade_id to source) show the stand-in."""
    release_source = {nbgrader_meta(c).get("grade_id"): c.source for c in release_nb.cells}
    release_source.update(stand_ins or {})
    view = nbformat.from_dict(copy.deepcopy(executed))
    for cell in view.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            cell.source = release_source.get(grade_id, "# (test cell)")
            cleaned = []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
                    cleaned.append(nbformat.v4.new_output("stream", name="stderr",
                                                          text=f"A test in this cell failed: {message}\n"))
                else:
                    cleaned.append(output)
            cell.outputs = cleaned
    return view


def _stand_ins(result: dict) -> dict[str, str]:
    if not result.get("stand_ins"):
        return {}
    source = stand_in_source(assignments.get(result["assignment"]).stand_in_note)
    return {grade_id: source for grade_id in result["stand_ins"]}


def feedback_html(result: dict, executed: dict | None, release_nb) -> str:
    from html import escape

    from nbconvert import HTMLExporter

    score, max_score = totals(result)
    rows = "".join(
        f"<tr><td>{escape(g)}</td><td>{result['scores'].get(g, 0.0):g} / {result['max_scores'][g]:g}</td>"
        f"<td>{escape(result['notes'].get(g, ''))}</td></tr>" for g in auto_ids(result))
    banner = f"<p style='color:#b00;font-weight:bold'>{escape(UNSAFE_BANNER)}</p>" if result.get("unsafe_no_sandbox") else ""
    header = (f"<h1>Feedback: {escape(result['assignment'])} ({escape(result['student'])})</h1>{banner}"
              f"<p>Status: <b>{escape(result['status'])}</b> {escape(result['reason'])}</p>"
              f"<p>Automatic score: <b>{score:g} / {max_score:g}</b>; written answers are graded by hand.</p>"
              f"<table border=1 cellpadding=4><tr><th>check</th><th>points</th><th>note</th></tr>{rows}</table>")
    if executed is None:
        return f"<html><body>{header}</body></html>"
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(student_view(executed, release_nb, _stand_ins(result)))
    return body.replace("<body>", "<body>" + header, 1)


def summary(results: list[dict]) -> str:
    lines = ["| student | status | score | reason |", "|---|---|---|---|"]
    counts: dict[str, int] = {}
    for result in results:
        score, max_score = totals(result)
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        reason = result["reason"].replace("|", "/")[:90]
        lines.append(f"| {result['student']} | {result['status']} | {score:g} / {max_score:g} | {reason} |")
    head = [f"# Grading summary: {len(results)} submissions",
            "", ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())), ""]
    if any(r.get("unsafe_no_sandbox") for r in results):
        head.insert(1, "\n**" + UNSAFE_BANNER + "**\n")
    return "\n".join(head + lines) + "\n"
