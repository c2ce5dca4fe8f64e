"""Points per graded cell: nbgrader's rules on the executed notebook, then
the trusted stage-2 results and the integrity screen on top."""
from __future__ import annotations

from coursekit.stderr_filter import is_harmless

from autograder.restore import GradeCell, nbgrader_meta


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)


def in_notebook_scores(executed: dict | None, cells: list[GradeCell]) -> dict[str, float]:
    """nbgrader's rule: a test cell that ran without an error and without
    (non-harmless) stderr earns its points; one that did not run earns 0."""
    by_id = {}
    for cell in (executed or {}).get("cells", []):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id:
            by_id[grade_id] = cell
    scores = {}
    for grade in cells:
        if grade.kind != "test":
            continue
        cell = by_id.get(grade.grade_id)
        ran = cell is not None and cell.get("execution_count") is not None
        failed = not ran
        for output in (cell or {}).get("outputs", []):
            if output.get("output_type") == "error":
                failed = True
            elif output.get("output_type") == "stream" and output.get("name") == "stderr" and not is_harmless(_text(output)):
                failed = True
        scores[grade.grade_id] = 0.0 if failed else grade.points
    return scores


def test_positions(notebook: dict) -> dict[str, int]:
    """Cell index of every graded cell in the executed notebook."""
    return {nbgrader_meta(c)["grade_id"]: i for i, c in enumerate(notebook.get("cells", []))
            if nbgrader_meta(c).get("grade_id")}


def final_scores(spec, cells: list[GradeCell], notebook_scores: dict[str, float], trusted: dict | None,
                 integrity_flags: list, positions: dict[str, int] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """Combine in-notebook scores with trusted results; return (scores, notes per grade id).

    A test that ran *before* the first flagged cell could not have been
    tampered with (cells run in order), so it keeps its points; later ones don't.
    """
    points = {c.grade_id: c.points for c in cells if c.kind == "test"}
    scores = dict(notebook_scores)
    notes: dict[str, str] = {}
    if integrity_flags:
        first = min(flag.cell_index for flag in integrity_flags)
        for grade_id in scores:
            position = (positions or {}).get(grade_id)
            after_flag = position is None or position > first
            if grade_id not in (spec.accuracy_test, spec.export_test) and scores[grade_id] > 0 and after_flag:
                scores[grade_id] = 0.0
                notes[grade_id] = f"withheld: code before this test tampers with the test environment ({integrity_flags[0]})"
    trusted = trusted or {}
    if spec.export_test in scores:
        ok = bool(trusted.get("export_ok"))
        scores[spec.export_test] = points[spec.export_test] if ok else 0.0
        notes[spec.export_test] = "trusted check: export valid" if ok else f"trusted check: {trusted.get('export_reason') or 'no valid export'}"
    if spec.freeze_test in scores:
        if not trusted.get("frozen_ok"):
            scores[spec.freeze_test] = 0.0
            notes[spec.freeze_test] = "trusted check: " + (trusted.get("frozen_reason") or trusted.get("export_reason") or "no valid export")
        elif spec.freeze_test not in notes:
            notes[spec.freeze_test] = "trusted check: frozen tensors bit-identical, last layer trained"
    if spec.accuracy_test in scores:
        accuracy = trusted.get("accuracy")
        passed = accuracy is not None and accuracy >= spec.accuracy_threshold
        scores[spec.accuracy_test] = points[spec.accuracy_test] if passed else 0.0
        if accuracy is None:
            notes[spec.accuracy_test] = "trusted check: no accuracy (" + (trusted.get("export_reason") or trusted.get("accuracy_reason") or "no valid export") + ")"
        else:
            notes[spec.accuracy_test] = (f"trusted check: held-out accuracy {accuracy:.3f} "
                                         f"{'>=' if passed else '<'} bar {spec.accuracy_threshold:.3f}")
    return scores, notes
