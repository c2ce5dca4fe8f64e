"""Run time and peak memory of every lecture notebook, as a student runs it.

Each notebook runs top to bottom in a fresh kernel with 2 torch threads, from
its own folder, in a child process of its own; the child reports the wall
time, its slowest cells and the kernel's peak resident memory (the largest
process the child waited for). Budget per notebook (issue): 180 s, 2 GB.

Usage: .venv/bin/python benchmarks/bench_lectures.py [NOTEBOOK ...]
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "lectures.json"
BUDGET = {"seconds": 180, "peak_rss_mb": 2048}

CHILD = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
cells = []
start = time.perf_counter()
with client.setup_kernel():
    for index, cell in enumerate(nb.cells):
        t = time.perf_counter()
        client.execute_cell(cell, index)
        if cell.cell_type == "code":
            cells.append((index, time.perf_counter() - t))
total = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, reaped at shutdown
print(json.dumps({"seconds": total, "cells": cells, "peak_kib": peak_kib}))
"""


def measure(path: Path) -> dict:
    env = dict(os.environ, COURSE_THREADS="2", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(path.parent)],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{path.name} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    slowest = sorted(report["cells"], key=lambda c: -c[1])[:3]
    row = {"seconds": round(report["seconds"], 1), "peak_rss_mb": round(report["peak_kib"] / 1024),
           "slowest_cells": [{"cell": index, "seconds": round(s, 1)} for index, s in slowest]}
    row["within_budget"] = row["seconds"] <= BUDGET["seconds"] and row["peak_rss_mb"] <= BUDGET["peak_rss_mb"]
    return row


def main():
    chosen = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    result = {"machine": f"{os.cpu_count()} cores, torch threads 2",
              "load_average_at_start": round(os.getloadavg()[0], 2), "budget_per_notebook": BUDGET, "notebooks": {}}
    start = time.perf_counter()
    for path in chosen:
        result["notebooks"][path.name] = row = measure(path)
        print(f"{path.name}: {row['seconds']} s, peak {row['peak_rss_mb']} MB", flush=True)
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    result["all_within_budget"] = all(r["within_budget"] for r in result["notebooks"].values())
    if not sys.argv[1:]:  # only a full run replaces the checked-in figures
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
