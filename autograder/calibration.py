"""What every assignment's calibration script shares: run the reference solution once per seed, derive the bar.

An assignment's ``calibrate.py`` says which cell to time, what to print and
which metric the bar applies to; this module turns the source notebook into
one script per seed, runs it in a fresh process with the grader's thread
count, and applies the one rule for every bar (chosen on validation data only):

    bar = floor_to_0.01(min(validation metric over the seeds) - margin)
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import nbmeta

MARGIN = 0.02  # below the worst seed: absorbs thread-count and library-version noise
SEED_LINE = re.compile(r"^SEED = 0$", re.M)


def reference_script(source: Path, seed: int, timed_cell: str, result: str, stop_after: str | None = None) -> str:
    """The reference solution's code cells as one script (tests and demo cells left out), for one seed.

    The ``timed_cell`` is wrapped so that ``_timed_seconds`` holds its run time; ``result`` is a Python
    expression (a dict) printed as JSON after a ``RESULT`` marker; cells after ``stop_after`` are left out.
    """
    parts = []
    for cell in nbformat.read(source, as_version=4).cells:
        if cell.cell_type != "code" or nbmeta.is_test(cell) or nbmeta.is_free(cell):
            continue  # markdown, tests and demo cells
        code = nbmeta.without_solution_markers(cell.source)
        grade_id = nbmeta.grade_id(cell)
        if grade_id == "setup":
            code, found = SEED_LINE.subn(f"SEED = {seed}", code)
            if found != 1:
                raise ValueError(f"{source.name}: the setup cell must hold exactly one line 'SEED = 0'")
        if grade_id == timed_cell:
            code = f"import time as _t\n_start = _t.perf_counter()\n{code}\n_timed_seconds = _t.perf_counter() - _start\n"
        parts.append(code)
        if grade_id == stop_after:
            break
    parts.append(f'import json as _j\nprint("RESULT", _j.dumps({result}))')
    return "\n\n".join(parts)


def run_reference(script: str, threads: int) -> tuple[dict, dict[str, bytes], float]:
    """Run ``script`` in a fresh process in an empty folder; return its RESULT, the files it exported and wall time."""
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, COURSE_THREADS=str(threads), MPLBACKEND="Agg", TQDM_DISABLE="1")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the reference solution failed:\n{done.stderr[-3000:]}")
        wall = time.perf_counter() - start
        line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        exported = {p.name: p.read_bytes() for p in (Path(work) / "submission_export").iterdir()}
    return json.loads(line[len("RESULT "):]), exported, wall


def bar_below(validation: list[float], margin: float = MARGIN) -> float:
    return math.floor((min(validation) - margin) * 100) / 100


def spread(values: list[float], stdev: bool = False) -> dict:
    summary = {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values)}
    if stdev:
        summary["stdev"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
    return summary


def machine(threads: int, parallel: int) -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores, torch threads {threads}, {parallel} seeds at once"
