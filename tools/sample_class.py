"""Write the sample class of `make demo`: for every assignment, its reference solution, a plausible
mistake, an attack and a broken file, as SUBMISSIONS/<assignment>/<student>.ipynb, taken from the
assignment's own fixture corpus (autograder/assignments/<name>/fixtures.py)."""
import json
import sys
from pathlib import Path

from autograder import assignments

BROKEN = b'{"cells": [{"cell_type": "code", "source": "print(1)"'  # a truncated save


def pick(corpus: dict) -> dict[str, object]:
    """The reference, the first mistake, the first in-kernel tampering attack, a second attack."""
    chosen = {"reference": corpus["reference"]}
    mistakes = [s for s, f in corpus.items() if f.kind == "mistake"]
    attacks = [s for s, f in corpus.items() if f.kind == "attack" and f.category in ("monkeypatch", "artifact", "tests")]
    for student in mistakes[:1] + attacks[:2]:
        chosen[student] = corpus[student]
    return chosen


def main(folder: Path) -> None:
    for assignment in assignments.all_assignments():
        target = folder / assignment.name
        target.mkdir(parents=True, exist_ok=True)
        print(f"{assignment.name}:")
        for student, fixture in pick(assignment.fixtures()).items():
            (target / f"{student}.ipynb").write_bytes(fixture.file_bytes())
            print(f"  {student:32} {fixture.what}")
        (target / "broken_file.ipynb").write_bytes(BROKEN)
        print(f"  {'broken_file':32} a notebook whose save was cut off")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
