"""Run time and peak memory of every lecture notebook, as a student runs it.

Each notebook runs top to bottom in a fresh kernel with 2 torch threads, from
its own folder, through notebook_timer.py; this reports the wall time, the
slowest cells and the kernel's peak resident memory. Budget per notebook
(issue): 180 s, 2 GB.

Usage: .venv/bin/python benchmarks/bench_lectures.py [--merge] [NOTEBOOK ...]

A full run (no NOTEBOOK) rewrites benchmarks/results/lectures.json. With
--merge, the named notebooks are measured and only their rows are replaced in
that file (useful when one lecture changed, or when the machine was busy
during the full run). Every row records the load average when it started, since
other jobs on a 2-core machine slow a notebook down several-fold.
"""
import json
import os
import sys
import time
from pathlib import Path

from notebook_timer import time_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "lectures.json"
BUDGET = {"seconds": 180, "peak_rss_mb": 2048}


def measure(path: Path) -> dict:
    load = round(os.getloadavg()[0], 2)
    report = time_notebook(path, path.parent, dict(os.environ, COURSE_THREADS="2", MPLBACKEND="Agg"))
    slowest = sorted(report["cells"], key=lambda c: -c["seconds"])[:3]
    row = {"load_average_at_start": load, "seconds": round(report["seconds"], 1), "peak_rss_mb": round(report["peak_kib"] / 1024),
           "slowest_cells": [{"cell": c["index"], "seconds": round(c["seconds"], 1)} for c in slowest]}
    row["within_budget"] = row["seconds"] <= BUDGET["seconds"] and row["peak_rss_mb"] <= BUDGET["peak_rss_mb"]
    return row


def main():
    args = sys.argv[1:]
    merge = "--merge" in args
    args = [a for a in args if a != "--merge"]
    chosen = [Path(p).resolve() for p in args] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    result = {"machine": f"{os.cpu_count()} cores, torch threads 2",
              "load_average_at_start": round(os.getloadavg()[0], 2), "budget_per_notebook": BUDGET, "notebooks": {}}
    start = time.perf_counter()
    for path in chosen:
        result["notebooks"][path.name] = row = measure(path)
        print(f"{path.name}: {row['seconds']} s, peak {row['peak_rss_mb']} MB", flush=True)
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    result["all_within_budget"] = all(r["within_budget"] for r in result["notebooks"].values())
    if not args:  # a full run replaces the checked-in figures
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    elif merge:  # replace only the measured rows
        stored = json.loads(OUT.read_text())
        stored["notebooks"].update(result["notebooks"])
        stored["notebooks"] = dict(sorted(stored["notebooks"].items()))
        stored["all_within_budget"] = all(r["within_budget"] for r in stored["notebooks"].values())
        stored["total_seconds"] = round(sum(r["seconds"] for r in stored["notebooks"].values()), 1)
        OUT.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
