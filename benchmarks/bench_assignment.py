"""Budgets of the core assignment: run the reference notebook (source/) as a
student would, with 2 torch threads, and report whole-notebook time, the
training cell's time and the kernel's peak memory.

Budgets (issue): notebook <= 180 s, training <= 60 s, peak memory <= 2 GB.
Usage: .venv/bin/python benchmarks/bench_assignment.py
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "assignment_budgets.json"

CHILD = r"""
import json, sys, time, tempfile, resource
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
work = tempfile.mkdtemp()
times = []
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": work}})
start = time.perf_counter()
with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        t = time.perf_counter()
        client.execute_cell(cell, index)
        times.append((cell.metadata.get("nbgrader", {}).get("grade_id", f"cell{index}"), time.perf_counter() - t))
total = time.perf_counter() - start
print(json.dumps({"total": total, "cells": times}))
"""


def main():
    env = dict(os.environ, COURSE_THREADS="2", MPLBACKEND="Agg")
    source = ROOT / "source" / "finetune_last_layer" / "finetune_last_layer.ipynb"
    wall = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(source)], capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - wall
    report = json.loads(done.stdout.strip().splitlines()[-1])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # largest descendant: the kernel
    cells = dict(report["cells"])
    result = {
        "machine": f"{os.cpu_count()} cores, torch threads 2",
        "notebook_seconds": round(report["total"], 1),
        "training_cell_seconds": round(cells["run_training"], 1),
        "slowest_cells": sorted(((k, round(v, 1)) for k, v in cells.items()), key=lambda kv: -kv[1])[:6],
        "peak_rss_mb": round(peak_kib / 1024),
        "budgets": {"notebook_seconds": 180, "training_cell_seconds": 60, "peak_rss_mb": 2048},
        "process_wall_seconds": round(wall, 1),
    }
    result["within_budget"] = (result["notebook_seconds"] <= 180 and result["training_cell_seconds"] <= 60
                               and result["peak_rss_mb"] <= 2048)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
