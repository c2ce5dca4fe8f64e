"""Run one notebook top to bottom in a fresh kernel, timing every code cell.

Shared by the benchmarks that time notebooks. Each run happens in a process of
its own, so the kernel's peak resident memory can be read from that process's
reaped children.

As a script: python benchmarks/notebook_timer.py NOTEBOOK WORKING_DIR
prints {"seconds", "cells": [{"index", "grade_id", "seconds"}], "peak_kib"}.
"""
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def time_notebook(notebook: Path, workdir: Path, env: dict[str, str]) -> dict:
    """Run the script below in a fresh process with env; its report, or SystemExit with the error."""
    done = subprocess.run([sys.executable, __file__, str(notebook), str(workdir)], capture_output=True, text=True,
                          env=env)
    if done.returncode:
        raise SystemExit(f"{Path(notebook).name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run(notebook: str, workdir: str) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}})
    cells = []
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            cell_start = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                cells.append({"index": index, "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id"),
                              "seconds": time.perf_counter() - cell_start})
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, reaped at shutdown
    return {"seconds": seconds, "cells": cells, "peak_kib": peak_kib}


if __name__ == "__main__":
    print(json.dumps(_run(sys.argv[1], sys.argv[2])))
