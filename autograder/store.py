"""Finished results on disk, one file per (submission hash, grader version, seed).

Each result is written atomically (temporary file + rename) the moment it is
known, so a batch killed at any point loses no finished grade, and a rerun
skips every key that is already there.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from autograder import GRADER_VERSION


def write_atomically(path: Path, data: bytes) -> None:
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
    def __init__(self, out_dir: Path):
        self.folder = Path(out_dir) / ".store"
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(student: str, sha256: str, seed: int) -> str:
        return f"{student}--{sha256[:20]}--v{GRADER_VERSION}--s{seed}"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def save(self, key: str, result: dict, executed: dict | None) -> None:
        if executed is not None:  # notebook first: a result file always has its notebook
            write_atomically(self.folder / f"{key}.ipynb", json.dumps(executed).encode())
        write_atomically(self.path(key), json.dumps(result, indent=1, sort_keys=True).encode())

    def load(self, key: str) -> dict:
        return json.loads(self.path(key).read_text())

    def executed(self, key: str) -> dict | None:
        path = self.folder / f"{key}.ipynb"
        return json.loads(path.read_text()) if path.exists() else None
