"""Fixture submissions for an assignment's corpus, and the tools to write them.

Each assignment's plug-in returns ``{student: Fixture}`` from ``fixtures()``;
the tests grade the whole corpus as one class through the real command and
check every fixture against its expectation:

* ``baseline``, ``honest`` and ``mistake`` fixtures carry ``expected``: the
  exact points per automatic cell (honest work keeps every point; an honest
  mistake loses exactly its share);
* ``attack`` fixtures carry ``allowed``: the most points per cell the attack's
  honest part deserves (0 where it did no honest work), and a THREATS.md
  ``category``;
* ``bad_input`` fixtures carry raw bytes and the reason they must get.

The helpers build submissions the way students do: the released notebook
with answers pasted into its answer cells, cells added, cells edited.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import nbmeta

KINDS = ("baseline", "honest", "mistake", "attack", "bad_input")


@dataclass(frozen=True)
class Fixture:
    kind: str
    what: str                                  # one line: what the submission is
    notebook: dict | None = None               # the submission (None for raw bad input)
    raw: bytes | None = None                   # bad input: the file's bytes
    expected: dict[str, float] | None = None   # exact points per automatic cell
    allowed: dict[str, float] | None = None    # attacks: the most points per automatic cell
    status: str | None = None                  # the status it must get, where that matters
    reason: str | None = None                  # text the reason must contain
    category: str = ""                         # attacks: the THREATS.md category
    checks: dict[str, bool] = field(default_factory=dict)  # check groups that must pass (True) or fail (False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fixture kind {self.kind!r}")
        if self.kind in ("baseline", "honest", "mistake") and self.expected is None:
            raise ValueError(f"a {self.kind} fixture needs exact expected points")
        if self.kind == "attack" and (self.allowed is None or not self.category):
            raise ValueError("an attack needs the points it may keep and a category")

    def file_bytes(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.notebook).encode()


class Notebooks:
    """Submissions built from one assignment's source and release notebooks."""

    def __init__(self, source_path: Path, release_path: Path):
        self.source = nbformat.read(source_path, as_version=4)
        self.release = nbformat.read(release_path, as_version=4)

    @classmethod
    def of(cls, assignment: str) -> "Notebooks":
        """The checkout's source and release notebooks of ``assignment``."""
        from coursekit.paths import PROJECT_ROOT

        return cls(PROJECT_ROOT / "source" / assignment / f"{assignment}.ipynb",
                   PROJECT_ROOT / "release" / assignment / f"{assignment}.ipynb")

    def reference_answers(self) -> dict[str, str]:
        """The instructor's solution of every answer cell, without the solution markers."""
        return {nbmeta.grade_id(c): nbmeta.without_solution_markers(c.source) for c in self.source.cells
                if nbmeta.is_answer(c)}

    def submission(self, answers: dict[str, str] | None = None, edits: dict[str, list[tuple[str, str]]] | None = None,
                   demo_edits: list[tuple[str, str]] = ()) -> dict:
        """The release with ``answers`` pasted in, then text replacements per answer cell and in demo cells."""
        notebook = copy.deepcopy(self.release)
        answers = dict(answers or {})
        for grade_id, replacements in (edits or {}).items():
            for old, new in replacements:
                if old not in answers[grade_id]:
                    raise ValueError(f"{grade_id}: {old!r} not found")
                answers[grade_id] = answers[grade_id].replace(old, new)
        for cell in notebook.cells:
            grade_id = nbmeta.grade_id(cell)
            if grade_id in answers:
                cell.source = answers[grade_id]
            elif cell.cell_type == "code" and not nbmeta.meta(cell):
                for old, new in demo_edits:
                    cell.source = cell.source.replace(old, new)
        return json.loads(json.dumps(notebook))

    def solved(self, edits: dict[str, list[tuple[str, str]]] | None = None) -> dict:
        return self.submission(self.reference_answers(), edits)


def add_cell(notebook: dict, code: str, after: str, cell_type: str = "code", outputs=None) -> dict:
    """A copy with a new cell right after the cell whose grade_id is ``after`` (or at the start with "")."""
    notebook = copy.deepcopy(notebook)
    cells = notebook["cells"]
    index = -1 if after == "" else next(i for i, c in enumerate(cells) if nbmeta.grade_id(c) == after)
    cell = nbformat.v4.new_code_cell(code) if cell_type == "code" else nbformat.v4.new_markdown_cell(code)
    if outputs:
        cell.outputs = outputs
    cells.insert(index + 1, json.loads(json.dumps(cell)))
    return notebook


def edit_cells(notebook: dict, change) -> dict:
    """A copy in which ``change(cell)`` rewrites each cell (return None to delete it)."""
    notebook = copy.deepcopy(notebook)
    notebook["cells"] = [c for c in (change(cell) for cell in notebook["cells"]) if c is not None]
    return notebook


def zero(points: dict[str, float]) -> dict[str, float]:
    return {k: 0.0 for k in points}


def less(points: dict[str, float], *lost: str) -> dict[str, float]:
    """Full points except the cells in ``lost``: an honest mistake's exact expected score."""
    return {k: (0 if k in lost else v) for k, v in points.items()}
