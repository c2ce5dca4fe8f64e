"""Stage 1 of grading: execute an untrusted notebook inside a bubblewrap sandbox.

Only plain data comes back: the parent rebuilds the executed notebook from its
own copy of the cells plus the per-cell outputs the runner streams out, and
gets allowlisted export files as raw bytes. Nothing is unpickled, every frame
is size-capped, and any garbage gives status "sandbox_error".

Process chain (when running as root)::

    unshare --mount  (private mount namespace, still root)
      sh: mount --bind <python install> <run dir>/python   (/root is 0700)
        setpriv --reuid U --regid U --clear-groups   (U: a uid of this sandbox's own)
          bwrap --unshare-all --die-with-parent ...  (unprivileged user namespace)
            python -I /run/stage1/runner.py  (nbclient + ipykernel)

The whole chain is one process group (``start_new_session``); a notebook
timeout SIGKILLs the group, and ``--die-with-parent`` plus the PID namespace
take every sandboxed process (even ones that called setsid) with it.

Each sandbox running at the same time gets its own uid from a block no account
uses (``_claimed_uid``). The process limit is counted per uid, so with one
shared uid a fork bomb in one student's sandbox would stop the notebook graded
next to it from starting a thread. Each also gets a memory cgroup of its own
(``autograder.memcap``), so RAM is capped for all its processes and scratch together.
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder import memcap

SANDBOX_UID_BASE = 2_000_000_000   # far above any account and the usual subordinate-uid ranges
SANDBOX_UID_SLOTS = 64               # sandboxes that can run at once on one machine
UID_LOCK_DIR = Path(tempfile.gettempdir()) / "autograder-sandbox-uids"
SANDBOX_HOME = "/home/student"
RUNNER_DIR = "/run/stage1"
RUNNER_SOURCE = Path(__file__).resolve().parent / "stage1_runner.py"
RAW_DATA_ASSETS = ("rotten-tomatoes", "sms-spam", "tweets-3class")
STUDENT_SPLIT_FILES = ("train.jsonl", "validation.jsonl", "manifest.json")
_STDERR_TAIL = 64 * 1024
_LOG_CAP = 256 * 1024


@dataclass(frozen=True)
class Limits:
    cell_timeout_s: float = 300
    notebook_timeout_s: float = 900          # whole run, wall clock, enforced by the parent
    address_space_bytes: int = 8 * 2**30    # RLIMIT_AS per process
    memory_bytes: int = 4 * 2**30            # RAM of the whole sandbox, tmpfs included (a memory cgroup)
    max_processes: int = 256                 # RLIMIT_NPROC for the sandbox uid (processes + threads)
    max_file_bytes: int = 256 * 2**20        # RLIMIT_FSIZE, also the cap per exported file
    max_open_files: int = 1024
    scratch_bytes: int = 512 * 2**20         # size of the home/cwd tmpfs and of the /tmp tmpfs
    output_bytes: int = 16 * 2**20           # cap on the executed notebook's outputs returned
    threads: int = 1                          # OMP/MKL/torch threads inside


@dataclass
class Stage1Result:
    status: str            # "ok" | "timeout" | "kernel_died" | "sandbox_error" | "output_too_large"
    reason: str
    executed: dict | None
    exported: dict[str, bytes] = field(default_factory=dict)
    wall_seconds: float = 0.0
    cell_seconds: list[float] = field(default_factory=list)
    log: str = ""          # runner diagnostics and stderr tail (untrusted text, for debugging)
    answers: str = ""      # what the challenge harness printed (untrusted text, parsed by autograder.challenges)
    started: bool = True   # False: the sandbox never started (a fault of the grader's machine, not the notebook's)
    challenge_note: str = ""  # why the functions could not be checked, or how they were
    challenge_seconds: float = 0.0  # of wall_seconds, the part the challenge harness took


# ----------------------------------------------------------------- paths
def _venv() -> Path:
    prefix = Path(sys.prefix)
    if prefix != Path(sys.base_prefix) and (prefix / "bin" / "python").exists():
        return prefix
    return Path(__file__).resolve().parent.parent / ".venv"


def _python_install() -> Path:
    cfg = _venv() / "pyvenv.cfg"
    try:
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                return Path(os.path.realpath(value.strip())).parent
    except OSError:
        pass
    return Path(os.path.realpath(sys.base_prefix))


def _student_data() -> tuple[Path, list[Path], list[Path]]:
    """(data dir, readable files, hidden folders) -- from coursekit, not hard-coded."""
    from coursekit import assets, data
    from coursekit.paths import data_dir

    root = data_dir().resolve()
    files = [root / "verified-assets.json"]
    for name in data.DATASETS:
        folder = root / "datasets" / name
        files += [folder / f for f in STUDENT_SPLIT_FILES]
    hidden = []
    for asset in RAW_DATA_ASSETS:
        try:
            hidden.append(Path(assets.package_folder(assets.get(asset))).resolve())
        except Exception:
            pass
    return root, files, hidden


# ------------------------------------------------------------ availability
_AVAILABLE: tuple[bool, str] | None = None


def is_sandbox_uid(uid: int) -> bool:
    return SANDBOX_UID_BASE <= uid < SANDBOX_UID_BASE + SANDBOX_UID_SLOTS


def _uids_running() -> set[int]:
    uids = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                uids.add(os.stat(f"/proc/{pid}").st_uid)
            except OSError:
                pass
    return uids


@contextlib.contextmanager
def _claimed_uid():
    """A sandbox uid no other sandbox on this machine holds, until the block ends.

    The claim is an flock on a root-only lock file, so it ends with the process that
    holds it, even after SIGKILL. A uid that still owns a process (a sandbox that is
    still dying) is skipped.
    """
    if os.geteuid() != 0:
        yield os.geteuid()  # unprivileged: bwrap can only map our own uid
        return
    UID_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    for slot in range(SANDBOX_UID_SLOTS):
        uid = SANDBOX_UID_BASE + slot
        fd = os.open(UID_LOCK_DIR / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            if uid in _uids_running():
                continue
            yield uid
            return
        finally:
            os.close(fd)
    raise RuntimeError(f"all {SANDBOX_UID_SLOTS} sandbox uids are in use")


# A shell loop run as root in the sandbox's private mount namespace: bind each host folder onto its
# stand-in under the run folder, then drop to the sandbox uid. The sandbox uid may not be able to
# reach the host folders themselves (a checkout under a 0700 home or mktemp folder, the Python
# install under /root), but it can always reach the run folder.
_BIND_AS_ROOT = ('while [ "$1" != "--" ]; do '
                 'mount --bind -o ro "$1" "$2" 2>/dev/null || mount --bind "$1" "$2" || exit 97; shift 2; done; '
                 'shift; exec "$@"')


def _launcher(binds: list[tuple[Path, Path]], uid: int) -> list[str]:
    """Root only: (host folder, stand-in under the run folder) pairs, bound before privileges are dropped."""
    if os.geteuid() != 0:
        return []  # unprivileged: bwrap maps our own uid inside its user namespace
    chain = ["unshare", "--mount", "--propagation", "private", "--"]
    if binds:
        chain += ["/bin/sh", "-c", _BIND_AS_ROOT, "stage1"]
        for host, stand_in in binds:
            chain += [str(host), str(stand_in)]
        chain += ["--"]
    chain += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return chain


def sandbox_available() -> tuple[bool, str]:
    global _AVAILABLE
    if _AVAILABLE is not None:
        return _AVAILABLE
    tools = ["bwrap"] + (["unshare", "setpriv", "mount"] if os.geteuid() == 0 else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        _AVAILABLE = (False, f"{', '.join(missing)} not found (install bubblewrap / util-linux)")
        return _AVAILABLE
    try:
        with _claimed_uid() as uid:
            cmd = _launcher([], uid) + ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                                     "--unshare-all", "--die-with-parent", "--", "id", "-u"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        _AVAILABLE = (False, f"bwrap could not start: {error}")
        return _AVAILABLE
    if proc.returncode != 0:
        _AVAILABLE = (False, "bwrap failed (are unprivileged user namespaces disabled?): "
                      + proc.stderr.strip()[-300:])
    else:
        _AVAILABLE = (True, "")
    return _AVAILABLE


# ------------------------------------------------------------ the sandbox
def _env(limits: Limits, home: str, venv: Path) -> dict[str, str]:
    threads = str(max(1, int(limits.threads)))
    env = {
        "HOME": home,
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "COURSE_THREADS": threads,
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
        "JUPYTER_DATA_DIR": f"{home}/.local/share/jupyter",
        "JUPYTER_RUNTIME_DIR": f"{home}/.local/share/jupyter/runtime",
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        "XDG_CACHE_HOME": f"{home}/.cache",
        "HF_HOME": f"{home}/.cache/huggingface",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    if os.environ.get("COURSE_DATA"):
        env["COURSE_DATA"] = os.environ["COURSE_DATA"]
    # The course package is bound at its own path; the kernel finds it there whatever the venv's own
    # path entries say (they may name another checkout, which the sandbox does not show).
    from coursekit import paths as ck_paths

    env["PYTHONPATH"] = str(Path(ck_paths.PACKAGE_DIR).resolve().parent)
    return env


def _host_folders(venv: Path, python_install: Path) -> list[Path]:
    """Host folders the sandbox reads: the Python install, the venv, coursekit, NLTK data and caches."""
    from coursekit import paths as ck_paths

    data_root, _, _ = _student_data()
    folders = [python_install, venv, Path(ck_paths.PACKAGE_DIR).resolve()]
    folders += [data_root / sub for sub in ("nltk_data", "cache") if (data_root / sub).is_dir()]
    return folders


def _stand_in(run_dir: Path, index: int) -> Path:
    return run_dir / "host" / str(index)


def _bwrap_args(run_dir: Path, limits: Limits, venv: Path, python_install: Path) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox"]
    for top in ("usr", "bin", "lib", "lib64", "sbin", "etc"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    # The writable tmpfs folders first: the project, its venv or the data may live under /tmp
    # (a CI clone does), and a later tmpfs on /tmp would hide their binds.
    args += ["--dev", "/dev", "--proc", "/proc",
             "--size", str(int(limits.scratch_bytes)), "--tmpfs", "/tmp",
             "--size", str(int(limits.scratch_bytes)), "--tmpfs", SANDBOX_HOME,
             "--size", str(4 * 2**20), "--tmpfs", "/dev/shm"]
    for index, folder in enumerate(_host_folders(venv, python_install)):
        source = _stand_in(run_dir, index) if os.geteuid() == 0 else folder
        args += ["--ro-bind", str(source), str(folder)]

    _, files, hidden = _student_data()
    for i, src in enumerate(files):
        copy_path = run_dir / "data" / f"{i}"
        if copy_path.is_file():
            args += ["--ro-bind", str(copy_path), str(src)]
    for folder in hidden:
        if folder.is_dir():
            args += ["--size", "4096", "--tmpfs", str(folder), "--remount-ro", str(folder)]

    args += ["--ro-bind", str(run_dir / "runner.py"), f"{RUNNER_DIR}/runner.py",
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_HOME, "--clearenv"]
    for key, value in _env(limits, SANDBOX_HOME, venv).items():
        args += ["--setenv", key, value]
    args += ["--", str(venv / "bin" / "python"), "-I", f"{RUNNER_DIR}/runner.py"]
    return args


def _run_root() -> str:
    """Where run folders go: the temp folder if the sandbox uid can reach it (a TMPDIR inside a 0700
    folder would not do), else /tmp."""
    temp = Path(tempfile.gettempdir())
    reachable = all(os.stat(p).st_mode & 0o001 for p in [temp, *temp.parents])
    return str(temp) if reachable else "/tmp"


def _prepare_run_dir(python_install: Path) -> Path:
    run_dir = Path(tempfile.mkdtemp(prefix="stage1-", dir=_run_root()))
    os.chmod(run_dir, 0o755)
    (run_dir / "data").mkdir(mode=0o755)
    (run_dir / "host").mkdir(mode=0o755)
    for index, _ in enumerate(_host_folders(_venv(), python_install)):
        _stand_in(run_dir, index).mkdir(mode=0o755)
    shutil.copyfile(RUNNER_SOURCE, run_dir / "runner.py")
    os.chmod(run_dir / "runner.py", 0o644)
    # The prepared splits are 0600 root files: readable copies, bound read-only.
    _, files, _ = _student_data()
    for i, src in enumerate(files):
        try:
            shutil.copyfile(src, run_dir / "data" / f"{i}")
            os.chmod(run_dir / "data" / f"{i}", 0o444)
        except OSError:
            pass
    return run_dir


def _preexec(limits: Limits, sandboxed: bool, memory_cap: memcap.MemoryCap | None = None):
    def apply() -> None:
        if memory_cap is not None:
            memory_cap.enter()
        try:  # if the machine runs out of memory anyway, the kernel kills sandboxed processes first
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write("1000")
        except OSError:
            pass
        def cap(which, value):
            value = int(value)
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
        cap(resource.RLIMIT_AS, limits.address_space_bytes)
        cap(resource.RLIMIT_FSIZE, limits.max_file_bytes)
        cap(resource.RLIMIT_NOFILE, limits.max_open_files)
        cap(resource.RLIMIT_CORE, 0)
        if sandboxed or os.geteuid() != 0:
            cap(resource.RLIMIT_NPROC, limits.max_processes)
    return apply


# ------------------------------------------------------------ the protocol
class _ProtocolError(Exception):
    pass


class _Reader:
    """Incremental, capped parser of the runner's frames."""

    def __init__(self, limits: Limits, allowlist: tuple[str, ...], answers_cap: int = 0,
                 on_exports: Callable[[dict[str, bytes]], None] | None = None):
        self.on_exports = on_exports
        self.exports_complete = False
        self.buf = bytearray()
        self.cells: dict[int, dict] = {}
        self.exported: dict[str, bytes] = {}
        self.done: dict | None = None
        self.log = bytearray()
        self.notebook_bytes = 0
        self.export_bytes = 0
        self.limits = limits
        self.allowlist = allowlist
        self.output_exceeded = False
        self.answers: str | None = None
        self.answers_cap = answers_cap

    def _frame_cap(self, kind: bytes) -> int:
        if kind == b"E":
            return self.limits.max_file_bytes + 2 + 1024
        if kind == b"L":
            return 65536 + 16
        if kind == b"R":
            return self.answers_cap
        return self.limits.output_bytes

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            if len(self.buf) < 7:
                if self.buf and not b"S1".startswith(bytes(self.buf[:2])):
                    raise _ProtocolError("garbage on the result channel")
                return
            if self.buf[:2] != b"S1":
                raise _ProtocolError("garbage on the result channel")
            kind = bytes(self.buf[2:3])
            if kind not in (b"C", b"E", b"D", b"L", b"R", b"X"):
                raise _ProtocolError(f"unknown frame kind {kind!r}")
            (length,) = struct.unpack(">I", self.buf[3:7])
            if kind in (b"C", b"D") and self.notebook_bytes + length > self.limits.output_bytes:
                self.output_exceeded = True
                raise _ProtocolError("the executed notebook exceeds the output cap")
            if length > self._frame_cap(kind):
                if kind == b"E":
                    raise _ProtocolError("an exported file exceeds the size cap")
                raise _ProtocolError(f"frame of {length} bytes exceeds the cap")
            if len(self.buf) < 7 + length:
                return
            payload = bytes(self.buf[7:7 + length])
            del self.buf[:7 + length]
            self._handle(kind, payload)

    def _handle(self, kind: bytes, payload: bytes) -> None:
        if self.done is not None:
            raise _ProtocolError("data after the final frame")
        if kind == b"L":
            if len(self.log) < _LOG_CAP:
                self.log += payload[: _LOG_CAP - len(self.log)] + b"\n"
            return
        if kind == b"R":
            if self.answers is not None:
                raise _ProtocolError("a second set of challenge answers")
            self.answers = payload.decode("utf-8", "replace")
            return
        if kind == b"X":
            if self.exports_complete or payload:
                raise _ProtocolError("a second or non-empty end-of-exports frame")
            self.exports_complete = True
            if self.on_exports is not None:
                try:
                    self.on_exports(dict(self.exported))
                except Exception:  # the caller's business; the run goes on
                    pass
            return
        if kind == b"E":
            if self.exports_complete:
                raise _ProtocolError("an export after the end of the exports")
            if len(payload) < 2:
                raise _ProtocolError("bad export frame")
            (name_len,) = struct.unpack(">H", payload[:2])
            try:
                name = payload[2:2 + name_len].decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtocolError("bad export name") from None
            if name not in self.allowlist or name in self.exported:
                raise _ProtocolError(f"unexpected export {name[:80]!r}")
            body = payload[2 + name_len:]
            if len(body) > self.limits.max_file_bytes:
                raise _ProtocolError("an exported file exceeds the size cap")
            self.exported[name] = body
            return
        self.notebook_bytes += len(payload)
        try:
            obj = json.loads(payload)
        except (ValueError, RecursionError):
            raise _ProtocolError("undecodable frame") from None
        if not isinstance(obj, dict):
            raise _ProtocolError("frame is not an object")
        if kind == b"D":
            status = obj.get("status")
            if status not in ("ok", "timeout", "kernel_died", "sandbox_error"):
                raise _ProtocolError("bad final status")
            reason, note = obj.get("reason"), obj.get("challenge_note")
            seconds = obj.get("challenge_seconds")
            self.done = {"status": status, "reason": reason[:2000] if isinstance(reason, str) else "",
                         "truncated": obj.get("truncated") is True,
                         "challenge_note": note[:2000] if isinstance(note, str) else "",
                         "challenge_seconds": float(seconds) if isinstance(seconds, (int, float))
                         and not isinstance(seconds, bool) and 0 <= seconds < 1e6 else 0.0}
            return
        index, outputs = obj.get("index"), obj.get("outputs")
        if (not isinstance(index, int) or isinstance(index, bool) or not isinstance(outputs, list)
                or not all(isinstance(o, dict) and isinstance(o.get("output_type"), str) for o in outputs)):
            raise _ProtocolError("malformed cell frame")
        count = obj.get("execution_count")
        seconds = obj.get("seconds")
        self.cells[index] = {
            "outputs": outputs,
            "execution_count": count if isinstance(count, int) and not isinstance(count, bool) else None,
            "seconds": float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
            and 0 <= seconds < 1e7 else 0.0,
        }


def _rebuild(notebook: dict, cells: dict[int, dict]) -> tuple[dict, list[float]]:
    executed = copy.deepcopy(notebook)
    seconds = []
    nb_cells = executed.get("cells", [])
    for index, cell in enumerate(nb_cells):
        if cell.get("cell_type") != "code":
            continue
        got = cells.get(index)
        if got is None:
            continue
        cell["outputs"] = got["outputs"]
        cell["execution_count"] = got["execution_count"]
        seconds.append(got["seconds"])
    return executed, seconds


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


def run_notebook(notebook: dict, *, limits: Limits = Limits(), export_allowlist: tuple[str, ...] = (),
                 challenges: dict | None = None, extra_readonly: tuple[Path, ...] = (),
                 unsafe_no_sandbox: bool = False,
                 on_exports: Callable[[dict[str, bytes]], None] | None = None) -> Stage1Result:
    """Execute ``notebook`` (nbformat-4 dict, outputs cleared) in the sandbox, then answer ``challenges``.

    ``on_exports(files)`` is called, from this thread, as soon as a notebook that ran to the end has sent every
    export, while the challenges still run; the files are also in the result, which is what counts.

    ``challenges``: {"runtime": source, "harness": source, "specs": [...], "call_timeout_s", "response_cap_bytes",
    "total_s"}; see autograder/harness_runtime.py.
    """
    start = time.monotonic()
    export_allowlist = tuple(export_allowlist)

    def fail(status: str, reason: str) -> Stage1Result:  # before the sandbox process exists
        return Stage1Result(status, reason, None, {}, time.monotonic() - start, [], started=False)

    try:
        payload = json.dumps({
            "config": {"cell_timeout_s": limits.cell_timeout_s, "output_bytes": limits.output_bytes,
                       "max_file_bytes": limits.max_file_bytes, "export_allowlist": list(export_allowlist),
                       "challenges": challenges},
            "notebook": notebook,
        }).encode()
    except (TypeError, ValueError) as error:
        return fail("sandbox_error", f"notebook is not JSON-serialisable: {error}")

    venv = _venv()
    python_install = _python_install()
    run_dir: Path | None = None
    scratch: Path | None = None
    claim = contextlib.ExitStack()  # the sandbox's uid and memory cgroup, held until its last process is gone
    cap, no_cap = None, "not sandboxed"
    try:
        if unsafe_no_sandbox:
            scratch = Path(tempfile.mkdtemp(prefix="stage1-unsafe-"))
            cmd = [str(venv / "bin" / "python"), "-I", str(RUNNER_SOURCE)]
            env = _env(limits, str(scratch), venv)
            cwd = str(scratch)
        else:
            ok, why = sandbox_available()
            if not ok:
                return fail("sandbox_error", why)
            try:
                run_dir = _prepare_run_dir(python_install)
                args = _bwrap_args(run_dir, limits, venv, python_install)
            except Exception as error:  # e.g. coursekit missing, unreadable data folder
                return fail("sandbox_error", f"could not prepare the sandbox: {error!r}")
            extra = []
            for path in extra_readonly:
                path = Path(path).resolve()
                extra += ["--ro-bind", str(path), str(path)]
            if extra:
                cut = args.index("--remount-ro", args.index("--dev"))
                args[cut:cut] = extra
            try:
                uid = claim.enter_context(_claimed_uid())
            except (OSError, RuntimeError) as error:
                return fail("sandbox_error", f"no sandbox uid free: {error}")
            cap, no_cap = memcap.MemoryCap.create(f"autograder-sandbox-{uid}", limits.memory_bytes)
            if cap is not None:
                claim.callback(cap.remove)
            binds = [(folder, _stand_in(run_dir, i)) for i, folder in enumerate(_host_folders(venv, python_install))]
            cmd = _launcher(binds, uid) + args
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
            cwd = "/"
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, cwd=cwd, close_fds=True,
                                    start_new_session=True,
                                    preexec_fn=_preexec(limits, not unsafe_no_sandbox, cap))
        except (OSError, subprocess.SubprocessError) as error:
            return fail("sandbox_error", f"could not start the sandbox: {error}")
        result = _supervise(proc, payload, notebook, limits, export_allowlist, start, challenges, on_exports)
        if cap is None:
            result.log += f"\n(no memory cap: {no_cap}; the address-space limit still applies)"
        elif cap.oom_kills():
            over = f"the notebook went over the sandbox's memory limit ({limits.memory_bytes / 2**30:g} GiB)"
            if result.status == "kernel_died":
                result.reason = f"{over}; the kernel was killed"
            else:
                result.log += f"\n{over}: the kernel killed a process"
        return result
    finally:
        claim.close()
        for path in (run_dir, scratch):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)


def _feed_stdin(proc: subprocess.Popen, payload: bytes) -> None:
    try:
        proc.stdin.write(payload)
    except (OSError, ValueError):
        pass
    finally:
        try:
            proc.stdin.close()
        except (OSError, ValueError):
            pass


def _supervise(proc: subprocess.Popen, payload: bytes, notebook: dict, limits: Limits,
               allowlist: tuple[str, ...], start: float, challenges: dict | None,
               on_exports: Callable[[dict[str, bytes]], None] | None = None) -> Stage1Result:
    writer = threading.Thread(target=_feed_stdin, args=(proc, payload), daemon=True)
    writer.start()
    answers_cap = (int(challenges["response_cap_bytes"]) * 2 * len(challenges["specs"]) + 65536) if challenges else 0
    reader = _Reader(limits, allowlist, answers_cap, on_exports)
    stderr_tail = bytearray()
    # The notebook's own limit, plus the challenges' (and a replay of the cells before a stop, at most the notebook's).
    extra = float(challenges["total_s"]) + 180 + limits.notebook_timeout_s if challenges else 0.0
    deadline = start + float(limits.notebook_timeout_s) + extra
    status, reason = None, ""
    streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    for fd in streams:
        os.set_blocking(fd, False)
    try:
        while streams:
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timeout"
                reason = f"the notebook exceeded the {limits.notebook_timeout_s:g} s time limit"
                break
            ready, _, _ = select.select(list(streams), [], [], min(left, 1.0))
            for fd in ready:
                try:
                    data = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    del streams[fd]
                    continue
                if streams[fd] == "err":
                    stderr_tail += data
                    del stderr_tail[:-_STDERR_TAIL]
                    continue
                try:
                    reader.feed(data)
                except _ProtocolError as error:
                    if reader.output_exceeded:
                        status, reason = "output_too_large", str(error)
                    else:
                        status, reason = "sandbox_error", f"bad data from the sandbox: {error}"
                    raise StopIteration from None
    except StopIteration:
        pass
    except MemoryError:
        status, reason = "sandbox_error", "out of memory while reading the sandbox's results"
    finally:
        if status is not None or streams:
            _kill_group(proc)
        try:
            returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = proc.wait()
        # Whatever the runner left behind in its namespace dies with it; make sure the
        # launcher's process group is gone too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pipe in (proc.stdout, proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        writer.join(timeout=5)

    done = reader.done
    if status is None:
        if done is not None:
            status, reason = done["status"], done["reason"]
            if done["truncated"] and status == "ok":
                status, reason = "output_too_large", "the notebook printed more than the output cap; outputs truncated"
        elif returncode == 97:
            status, reason = "sandbox_error", "could not bind the Python installation, the venv or the course data into the sandbox"
        else:
            status = "sandbox_error" if not reader.cells else "kernel_died"
            reason = (f"the sandbox ended without a result (exit code {returncode})"
                      if not reader.cells else
                      f"the runner was killed before finishing (exit code {returncode})")
    executed, seconds = (None, [])
    if reader.cells or done is not None:
        executed, seconds = _rebuild(notebook, reader.cells)
    log = (bytes(reader.log) + b"\n--- stderr ---\n" + bytes(stderr_tail)).decode("utf-8", "replace")
    exported = reader.exported if status not in ("sandbox_error",) else {}
    return Stage1Result(status, reason, executed, exported, time.monotonic() - start, seconds, log,
                        answers=reader.answers or "", challenge_note=(done or {}).get("challenge_note", ""),
                        challenge_seconds=(done or {}).get("challenge_seconds", 0.0))
