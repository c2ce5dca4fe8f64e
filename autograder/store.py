"""Finished results on disk, one file per key.

A key names everything that decides a grade: the assignment and its plug-in
version, the grader version, the hash of the source notebook the checks come
from, the submission's hash and the seed. A change to any of them (a new
release, a regrading rule) makes a new key, so a rerun regrades exactly the
submissions it must. Each result is written atomically (temporary file +
rename) the moment it is known, so a batch killed at any point loses no
finished grade. A grader fault is stored too (the TA sees it) but never
counts as finished: the next run grades that submission again.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from autograder import GRADER_VERSION
from autograder.result import GradeResult


def write_atomically(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    def __init__(self, out_dir: Path, assignment: str):
        self.folder = Path(out_dir) / ".store" / assignment
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(student: str, sha256: str, seed: int, plugin_version: str, source_sha256: str) -> str:
        return (f"{student}--{sha256[:20]}--g{GRADER_VERSION}a{plugin_version}"
                f"--src{source_sha256[:12]}--s{seed}")

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def has_final(self, key: str) -> bool:
        try:
            return self.load(key).is_final
        except (OSError, ValueError, TypeError):
            return False

    def save(self, key: str, result: GradeResult, executed: dict | None, numbers: dict) -> None:
        if executed is not None:  # notebook first: a result file always has its notebook
            write_atomically(self.folder / f"{key}.ipynb", json.dumps(
                {"notebook": executed, "student_numbers": {str(k): v for k, v in numbers.items()}}).encode())
        write_atomically(self.path(key), result.to_json().encode())

    def load(self, key: str) -> GradeResult:
        return GradeResult.from_json(self.path(key).read_text())

    def executed(self, key: str) -> tuple[dict | None, dict[int, int | None]]:
        path = self.folder / f"{key}.ipynb"
        if not path.exists():
            return None, {}
        stored = json.loads(path.read_text())
        return stored["notebook"], {int(k): v for k, v in stored["student_numbers"].items()}

    def results(self) -> list[GradeResult]:
        return [GradeResult.from_json(p.read_text()) for p in sorted(self.folder.glob("*.json"))]
