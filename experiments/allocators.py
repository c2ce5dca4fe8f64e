"""Would another memory allocator make the assignment's notebook faster on one thread?

The grader runs each sandboxed notebook on one torch thread (two workers share
the two cores), so single-thread speed sets its throughput. This runs the
reference notebook (N_TRAIN 500) with glibc's malloc, jemalloc and tcmalloc
preloaded, one after another, then glibc again to show the noise.

Latest answer (experiments/results/allocators.json): no measurable gain. The
two glibc runs differed by 8%, more than any allocator's effect; tcmalloc
(55.7 s) matched the second glibc run (55.9 s) and jemalloc was slowest. A
grader benchmark run with tcmalloc preloaded in the sandbox (grader_throughput.json)
gave a mean notebook time of 64.4 s, against 64.8 s without. The sandbox keeps glibc.

Needs Debian libjemalloc2 and libtcmalloc-minimal4 (a missing library is skipped by the
loader with a warning, and the run silently uses glibc).

Usage: .venv/bin/python benchmarks/bench_allocators.py
"""
import json
import os
import tempfile
from pathlib import Path

from notebook_timer import time_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "allocators.json"
SOURCE = ROOT / "source" / "finetune_last_layer" / "finetune_last_layer.ipynb"
ALLOCATORS = {"glibc": "", "jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4", "glibc again": ""}


def run(notebook: Path, preload: str) -> dict:
    env = dict(os.environ, COURSE_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg", LD_PRELOAD=preload)
    report = time_notebook(notebook, notebook.parent, env)
    cells = {c["grade_id"]: c["seconds"] for c in report["cells"] if c["grade_id"]}
    return {"notebook_seconds": round(report["seconds"], 1), "training_seconds": round(cells["run_training"], 1),
            "evaluate_seconds": round(cells["evaluate"], 1)}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        notebook = Path(tmp) / "reference_500.ipynb"
        notebook.write_text(SOURCE.read_text().replace("N_TRAIN = 1000", "N_TRAIN = 500"))
        result = {"machine": f"{os.cpu_count()} cores, torch threads 1", "n_train": 500,
                  "load_average_at_start": round(os.getloadavg()[0], 2), "runs": {}}
        for name, preload in ALLOCATORS.items():
            result["runs"][name] = run(notebook, preload)
            print(name, result["runs"][name], flush=True)
    base = (result["runs"]["glibc"]["notebook_seconds"] + result["runs"]["glibc again"]["notebook_seconds"]) / 2
    result["speedup_over_glibc"] = {name: round(base / r["notebook_seconds"], 3)
                                    for name, r in result["runs"].items() if not name.startswith("glibc")}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
