"""Budgets of the core assignment: run the reference notebook (source/) as a
student would, with 2 torch threads, and report whole-notebook time, the
training cell's time and the kernel's peak memory.

Budgets (issue): notebook <= 180 s, training <= 60 s, peak memory <= 2 GB.
Usage: .venv/bin/python benchmarks/bench_assignment.py
"""
import json
import os
import tempfile
import time
from pathlib import Path

from notebook_timer import time_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "assignment_budgets.json"


def main():
    env = dict(os.environ, COURSE_THREADS="2", MPLBACKEND="Agg")
    source = ROOT / "source" / "finetune_last_layer" / "finetune_last_layer.ipynb"
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        report = time_notebook(source, Path(work), env)
    wall = time.perf_counter() - wall
    cells = {c["grade_id"] or f"cell{c['index']}": c["seconds"] for c in report["cells"]}
    result = {
        "machine": f"{os.cpu_count()} cores, torch threads 2",
        "notebook_seconds": round(report["seconds"], 1),
        "training_cell_seconds": round(cells["run_training"], 1),
        "slowest_cells": sorted(((k, round(v, 1)) for k, v in cells.items()), key=lambda kv: -kv[1])[:6],
        "peak_rss_mb": round(report["peak_kib"] / 1024),
        "budgets": {"notebook_seconds": 180, "training_cell_seconds": 60, "peak_rss_mb": 2048},
        "process_wall_seconds": round(wall, 1),
    }
    result["within_budget"] = (result["notebook_seconds"] <= 180 and result["training_cell_seconds"] <= 60
                               and result["peak_rss_mb"] <= 2048)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
