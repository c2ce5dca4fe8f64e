"""Budgets of every graded assignment: run each reference notebook (source/) as a
student would, with 2 torch threads, and report whole-notebook time, the slowest
cells and the kernel's peak memory.

Budget per notebook (issues): at most 180 s and 2 GB on 2 cores.
Usage: .venv/bin/python benchmarks/bench_assignment.py [ASSIGNMENT ...]
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from notebook_timer import time_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "assignment_budgets.json"
BUDGET = {"notebook_seconds": 180, "peak_rss_mb": 2048}


def measure(name: str) -> dict:
    from autograder import assignments

    source = assignments.get(name).source_path(ROOT)
    env = dict(os.environ, COURSE_THREADS="2", MPLBACKEND="Agg")
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        report = time_notebook(source, Path(work), env)
    cells = {c["grade_id"] or f"cell{c['index']}": c["seconds"] for c in report["cells"]}
    row = {"notebook_seconds": round(report["seconds"], 1),
           "slowest_cells": sorted(((k, round(v, 1)) for k, v in cells.items()), key=lambda kv: -kv[1])[:6],
           "peak_rss_mb": round(report["peak_kib"] / 1024), "process_wall_seconds": round(time.perf_counter() - wall, 1)}
    row["within_budget"] = row["notebook_seconds"] <= BUDGET["notebook_seconds"] and row["peak_rss_mb"] <= BUDGET["peak_rss_mb"]
    return row


def main():
    from autograder import assignments

    chosen = sys.argv[1:] or assignments.names()
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    results = dict(previous.get("assignments", {}))
    for name in chosen:
        results[name] = measure(name)
        print(name, json.dumps(results[name]), flush=True)
    report = {"machine": f"{os.cpu_count()} cores, torch threads 2", "budget_per_notebook": BUDGET,
              "load_average_at_start": round(os.getloadavg()[0], 2), "assignments": results,
              "all_within_budget": all(r["within_budget"] for r in results.values())}
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
