"""Versioned releases and errata.

``python -m autograder release ASSIGNMENT [--course-dir DIR]`` runs nbgrader's
``generate_assignment`` and stamps the student notebook with the release it is:
``metadata.course_release = {"label", "source_sha256"}``. The label is the
instructor's (``metadata.course_release_label`` in the source notebook, e.g.
"2026.1" or "2026.1-errata1"); the hash is the source notebook's. Every stamped
release is also archived in the course's grader folder, so a submission made
from an older release is graded against that release's own checks.

``python -m autograder carry-over OLD.ipynb NEW.ipynb`` moves a student's work
into a fixed release: every answer cell (matched by ``grade_id``) and every
cell the student added (after the answer it followed) go into a copy of the
new release; locked and test cells stay the new release's.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder import nbmeta
from autograder.store import write_atomically

STAMP_KEY = "course_release"
LABEL_KEY = "course_release_label"


def source_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def archive_dir(course_dir: Path, name: str, sha256: str) -> Path:
    return Path(course_dir) / ".autograder" / "releases" / name / sha256[:16]


def stamp(assignment, course_dir: Path) -> dict:
    """Stamp release/<name>/ with the source's label and hash, and archive the pair."""
    source_path, release_path = assignment.source_path(course_dir), assignment.release_path(course_dir)
    source = nbformat.read(source_path, as_version=4)
    digest = source_sha256(source_path)
    label = str(source.metadata.get(LABEL_KEY, "")) or f"unlabelled-{digest[:8]}"
    release = nbformat.read(release_path, as_version=4)
    release.metadata.pop(LABEL_KEY, None)
    release.metadata[STAMP_KEY] = {"label": label, "source_sha256": digest}
    nbformat.write(release, release_path)
    keep = archive_dir(course_dir, assignment.name, digest)
    keep.mkdir(parents=True, exist_ok=True)
    write_atomically(keep / "source.ipynb", source_path.read_bytes())
    write_atomically(keep / "release.ipynb", release_path.read_bytes())
    return release.metadata[STAMP_KEY]


def release(assignment, course_dir: Path) -> dict:
    course_dir = Path(course_dir).resolve()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment.name, "--force",
                           "--log-level=WARN"], cwd=course_dir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment {assignment.name} failed:\n{done.stderr[-3000:]}")
    return stamp(assignment, course_dir)


def stamped_source(raw: bytes) -> str | None:
    """The source hash a submission's release stamp names, if the file is a notebook that carries one."""
    try:
        stamp_value = json.loads(raw.decode("utf-8-sig")).get("metadata", {}).get(STAMP_KEY, {})
        digest = stamp_value.get("source_sha256")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return None
    return digest if isinstance(digest, str) and len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest) \
        else None


def kept_release(course_dir: Path, name: str, sha256: str) -> tuple[Path, Path] | None:
    """(source, release) of an archived release, if it is kept."""
    keep = archive_dir(course_dir, name, sha256)
    if (keep / "source.ipynb").is_file() and (keep / "release.ipynb").is_file():
        if source_sha256(keep / "source.ipynb") == sha256:
            return keep / "source.ipynb", keep / "release.ipynb"
    return None


def carry_over(old: dict, new_release) -> tuple[dict, list[str]]:
    """The new release with the student's answers and added cells from ``old``; and a list of what was
    not carried (answers the new release no longer asks for)."""
    new = copy.deepcopy(new_release)
    answer_ids = {nbmeta.grade_id(c) for c in new.cells if nbmeta.is_answer(c)}
    answers, added, anchor, dropped = {}, {}, None, []
    for cell in old.get("cells", []):
        grade_id = nbmeta.grade_id(cell)
        if nbmeta.is_answer(cell) and grade_id:
            if grade_id in answer_ids:
                answers[grade_id] = cell
            else:
                dropped.append(grade_id)
            anchor = grade_id
        elif not nbmeta.meta(cell) and cell.get("cell_type") == "code" and not _is_release_demo(cell, new_release):
            added.setdefault(anchor, []).append(cell)
    cells = []
    for cell in new.cells:
        grade_id = nbmeta.grade_id(cell)
        if nbmeta.is_answer(cell) and grade_id in answers:
            carried = copy.deepcopy(cell)
            carried.source = "".join(answers[grade_id]["source"]) if isinstance(answers[grade_id]["source"], list) \
                else answers[grade_id]["source"]
            cells.append(carried)
        else:
            cells.append(cell)
        if nbmeta.is_answer(cell):
            cells += [nbformat.from_dict(copy.deepcopy(c)) for c in added.pop(grade_id, [])]
    for leftover in added.values():
        cells += [nbformat.from_dict(copy.deepcopy(c)) for c in leftover]
    new.cells = cells
    for cell in new.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return json.loads(json.dumps(new)), dropped


def _is_release_demo(cell, release) -> bool:
    source = "".join(cell["source"]) if isinstance(cell.get("source"), list) else cell.get("source", "")
    return any(c.cell_type == "code" and not nbmeta.meta(c) and c.source == source for c in release.cells)
