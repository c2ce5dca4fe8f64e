"""Points per graded cell, from trusted checks only.

A cell earns its points when every check group its rule requires has at
least one check and all of them passed; otherwise it earns nothing. The note
says which checks failed and why. Nothing here reads what a test cell did
inside the student's kernel.
"""
from __future__ import annotations

from autograder.nbmeta import GradeCell
from autograder.plugin import CellRule
from autograder.result import Check


def score_cells(cells: list[GradeCell], rules: tuple[CellRule, ...], checks: list[Check],
                not_checked: str) -> tuple[dict[str, float], dict[str, str]]:
    """(points per automatic cell, note per automatic cell)."""
    by_group: dict[str, list[Check]] = {}
    for check in checks:
        by_group.setdefault(check.group, []).append(check)
    rule_of = {rule.grade_id: rule for rule in rules}
    scores, notes = {}, {}
    for cell in cells:
        if cell.manual:
            continue
        rule = rule_of.get(cell.grade_id)
        if rule is None:
            raise ValueError(f"no rule decides graded cell {cell.grade_id!r}")
        failures = []
        for group in rule.requires:
            found = by_group.get(group, [])
            if not found:
                failures.append(f"{group}: {not_checked}")
            failures += [check.reason or f"{check.name} failed" for check in found if not check.passed]
        scores[cell.grade_id] = 0.0 if failures else cell.points
        notes[cell.grade_id] = ("passed: " + rule.summary) if not failures else "; ".join(_unique(failures)[:4])
    return scores, notes


def _unique(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
