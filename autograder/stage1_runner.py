"""Stage 1 runner: executes one notebook INSIDE the grading sandbox.

This file is run by the sandbox's Python (``python -I runner.py``); it must only
use the standard library plus nbclient/nbformat, and never import the rest of
the autograder (which is not visible inside the sandbox).

Protocol
--------
stdin:  one JSON document ``{"config": {...}, "notebook": {...}}`` (read fully,
        then closed, so the student's code cannot read the notebook -- and any
        hidden tests in it -- from a file).
stdout: a stream of binary frames, written to a private duplicate of the
        original stdout; fds 0/1/2 are pointed at /dev/null before the kernel
        starts, so the kernel never inherits the result channel.

        frame = b"S1" + kind (1 byte) + length (4 bytes, big endian) + payload
        kind b"C": JSON {"index", "outputs", "execution_count", "seconds"} for one cell
        kind b"E": 2-byte name length + UTF-8 name + raw file bytes (an export)
        kind b"X": empty; the notebook ran to the end and every export has been sent (the grader may
                   start checking the exports while the challenges run)
        kind b"R": UTF-8 text the challenge harness printed (answers, one per line)
        kind b"D": JSON {"status", "reason", "truncated", "challenge_note"} (last frame)

After the notebook (and after its exports are read), the runner executes
the challenge harness in the same kernel, if the config has ``challenges``.
When the notebook stopped early (a cell timed out or the kernel died), the
harness runs in a fresh kernel that first re-runs, silently, the cells before
the one that stopped: the functions defined up to there still get checked.
        kind b"L": UTF-8 log text (diagnostics only)

The parent trusts none of it: the student's code runs as the same uid and can
kill this process or write to its pipes; the parent validates and caps
every frame and rebuilds the notebook from its own copy of the cells.
"""
import ctypes
import json
import os
import stat
import struct
import sys
import time
import traceback

OUT_FD = None  # private result channel
CellTimeoutError = DeadKernelError = None  # nbclient's, imported when the runner starts
EXPORT_DIR = "submission_export"


def _write_frame(kind: bytes, payload: bytes) -> None:
    data = b"S1" + kind + struct.pack(">I", len(payload)) + payload
    view = memoryview(data)
    while view:
        try:
            written = os.write(OUT_FD, view)
        except InterruptedError:
            continue
        view = view[written:]


def _log(text: str) -> None:
    try:
        _write_frame(b"L", text.encode("utf-8", "replace")[:65536])
    except OSError:
        pass


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8", "replace")


def _make_private() -> None:
    """No ptrace and no /proc/<pid>/fd or /mem access for the student's processes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_DUMPABLE = 4
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:  # pragma: no cover - best effort
        pass


def _isolate_stdio() -> None:
    global OUT_FD
    OUT_FD = os.dup(1)  # non-inheritable by default (PEP 446)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _read_input(cap: int) -> dict:
    chunks, total = [], 0
    while True:
        block = os.read(0, 1 << 20)
        if not block:
            break
        total += len(block)
        if total > cap:
            raise ValueError("input too large")
        chunks.append(block)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return json.loads(b"".join(chunks))


def _truncate_outputs(outputs: list, budget: int) -> tuple[list, bool]:
    """Keep outputs while they fit into ``budget`` bytes of JSON; cut the rest."""
    kept, used, cut = [], 0, False
    for out in outputs:
        size = len(_json_bytes(out))
        if used + size <= budget:
            kept.append(out)
            used += size
            continue
        cut = True
        room = budget - used - 200
        if out.get("output_type") == "stream" and room > 0:
            text = out.get("text", "")
            if isinstance(text, list):
                text = "".join(text)
            short = dict(out)
            short["text"] = text[: room // 4]  # worst case 4 bytes per char
            kept.append(short)
            used += len(_json_bytes(short))
        break
    if cut:
        kept.append({"output_type": "stream", "name": "stderr",
                     "text": "\n[output truncated by the autograder: too much output]\n"})
    return kept, cut


def _export_files(allowlist: list, cap: int) -> None:
    """Send allowlisted regular files from ./submission_export (no symlinks followed)."""
    try:
        dir_fd = os.open(EXPORT_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        for name in allowlist:
            if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_size > cap:
                    _log(f"export {name!r} skipped (not a regular file or larger than {cap} bytes)")
                    continue
                chunks, total = [], 0
                while total <= cap:
                    block = os.read(fd, min(1 << 20, cap + 1 - total))
                    if not block:
                        break
                    chunks.append(block)
                    total += len(block)
                if total > cap:
                    _log(f"export {name!r} skipped (grew beyond {cap} bytes)")
                    continue
                raw = name.encode("utf-8")
                _write_frame(b"E", struct.pack(">H", len(raw)) + raw + b"".join(chunks))
            finally:
                os.close(fd)
    finally:
        os.close(dir_fd)


def run(payload: dict) -> None:
    global CellTimeoutError, DeadKernelError
    # jsonschema's optional IRI checker builds a parser grammar on import (0.9 s, once per notebook
    # here); nbformat never needs it to load a notebook, so its import is refused.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    config = payload["config"]
    nb = nbformat.from_dict(payload["notebook"])
    for cell in nb.get("cells", []):  # on-disk form may split sources into lists of lines
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", {})
    budget = max(1024, int(config["output_bytes"] * 0.9) - 4096)
    state = {"used": 0, "truncated": False, "live": 0}

    class CappedClient(NotebookClient):
        """Drops output messages once the notebook's output budget is spent,
        so a flood never piles up in this process's memory."""

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content") or {}
            if cell_index is not None and cell_index == state.get("harness_index"):
                # The harness's answers: kept apart from the notebook's outputs, with a cap of their own.
                if msg.get("msg_type") == "stream" and content.get("name") == "stdout":
                    text = content.get("text") or ""
                    if state["harness_bytes"] + len(text) <= harness_cap:
                        state["harness_text"].append(text)
                        state["harness_bytes"] += len(text)
                return None
            if state.get("replaying"):
                return None
            if msg.get("msg_type") == "stream":
                size = len(content.get("text") or "")
            else:
                size = len(json.dumps(content.get("data") or {}, default=str))
            state["live"] += size
            if state["used"] + state["live"] > budget * 2:
                state["truncated"] = True
                return None
            return super().output(outs, msg, display_id, cell_index)

    challenges = config.get("challenges")
    harness_cap = (int(challenges["response_cap_bytes"]) * 2 * len(challenges["specs"]) + 65536) if challenges else 0
    client_class = CappedClient
    client = CappedClient(
        nb,
        timeout=config["cell_timeout_s"],
        kernel_name="python3",
        allow_errors=True,
        record_timing=False,
        interrupt_on_timeout=False,
        resources={"metadata": {"path": os.getcwd()}},
        startup_timeout=120,
        # The exports are read before the kernel goes (below), so nothing needs its graceful exit,
        # which took about 0.7 s per notebook (atexit handlers of torch and friends).
        shutdown_kernel="immediate",
    )

    status, reason = "ok", ""
    export_allowlist, export_cap = config.get("export_allowlist", []), int(config["max_file_bytes"])
    exported = False

    def emit(index, cell, seconds):
        outputs = [dict(o) for o in cell.get("outputs", [])]
        remaining = budget - state["used"]
        outputs, cut = _truncate_outputs(json.loads(_json_bytes(outputs)), max(0, remaining))
        if cut:
            state["truncated"] = True
        frame = _json_bytes({"index": index, "outputs": outputs,
                             "execution_count": cell.get("execution_count"),
                             "seconds": round(seconds, 3)})
        state["used"] += len(frame)
        state["live"] = 0
        _write_frame(b"C", frame)

    stopped_at = None  # index of the cell the notebook stopped at (timeout, kernel died)
    answered = False
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                start = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status = "timeout"
                    reason = f"cell {index} exceeded the {config['cell_timeout_s']} s cell time limit"
                except DeadKernelError:
                    status = "kernel_died"
                    reason = f"the kernel died while running cell {index}"
                except Exception as error:  # CellExecutionError etc.
                    _log("cell error: " + "".join(traceback.format_exception_only(type(error), error)))
                emit(index, cell, time.monotonic() - start)
                if status != "ok":
                    stopped_at = index
                    break
            _export_files(export_allowlist, export_cap)
            exported = True
            if status == "ok":
                _write_frame(b"X", b"")
                if challenges:
                    answered = _answer_challenges(client, nb, challenges, state)
    except DeadKernelError:
        if status == "ok":
            status, reason = "kernel_died", "the kernel died"
    except Exception as error:
        if status == "ok":
            status = "sandbox_error"
            reason = "could not run the notebook: " + "".join(
                traceback.format_exception_only(type(error), error)).strip()
        _log(traceback.format_exc())

    if not exported:  # the kernel failed to start or died: whatever it left on disk
        _export_files(export_allowlist, export_cap)
    note = ""
    if challenges and not answered:
        if status in ("timeout", "kernel_died") and stopped_at is not None:
            answered, note = _answer_after_replay(nb, stopped_at, config, client_class, challenges, state)
        else:
            note = "the functions could not be checked: " + (reason or "the kernel did not answer")
    _write_frame(b"D", _json_bytes({"status": status, "reason": reason, "truncated": state["truncated"],
                                    "challenge_note": note,
                                    "challenge_seconds": round(state.get("challenge_seconds", 0.0), 3)}))


def _harness_code(challenges: dict) -> str:
    """One cell: load the runtime and the assignment's harness into a private namespace, then answer."""
    return (
        "(lambda _h, _ns: (\n"
        f"    exec(compile({challenges['runtime']!r}, '<grader-runtime>', 'exec'), _h),\n"
        f"    exec(compile({challenges['harness']!r}, '<grader-harness>', 'exec'), _h),\n"
        "    _h['run_all'](_ns, __import__('json').loads(" + repr(json.dumps(challenges["specs"])) + "), _h['CALLS'],\n"
        f"                  {float(challenges['call_timeout_s'])!r}, {int(challenges['response_cap_bytes'])!r},\n"
        f"                  {float(challenges['total_s'])!r}, _h.get('prepare')),\n"
        "    None)[-1])({'__name__': 'grader_harness'}, __import__('IPython').get_ipython().user_ns)\n"
    )


def _answer_challenges(client, nb, challenges: dict, state: dict) -> bool:
    """Run the harness cell in the client's kernel and forward what it printed. True if it ran."""
    import nbformat

    cell = nbformat.v4.new_code_cell(_harness_code(challenges))
    budget = float(challenges["total_s"])
    state["harness_text"] = []
    state["harness_bytes"] = 0
    state["harness_index"] = len(nb.cells)
    nb.cells.append(cell)  # nbclient writes the executed cell back at its index
    old_timeout = client.timeout
    client.timeout = int(budget + 30)
    started = time.monotonic()
    try:
        client.execute_cell(cell, state["harness_index"])
    except Exception as error:  # the answers printed so far still count
        _log("harness: " + "".join(traceback.format_exception_only(type(error), error)))
    finally:
        client.timeout = old_timeout
        nb.cells.pop()
        state["harness_index"] = None
        state["challenge_seconds"] = state.get("challenge_seconds", 0.0) + time.monotonic() - started
    _write_frame(b"R", "".join(state["harness_text"]).encode("utf-8", "replace"))
    return True


MAX_REPLAYS = 3


def _answer_after_replay(nb, stopped_at: int, config: dict, client_class, challenges: dict, state: dict):
    """A fresh kernel runs the notebook again without the cell that stopped it (outputs dropped), then the
    harness: functions defined before and after that cell still get checked. A cell that stops the
    replay too is left out in the next one, up to MAX_REPLAYS times."""
    import nbformat

    skipped = [stopped_at]
    for _ in range(MAX_REPLAYS):
        replay = nbformat.from_dict(json.loads(json.dumps(nb)))
        for index in skipped:
            replay.cells[index] = nbformat.v4.new_markdown_cell("(left out: this cell stopped the notebook)")
        client = client_class(replay, timeout=config["cell_timeout_s"], kernel_name="python3", allow_errors=True,
                              record_timing=False, interrupt_on_timeout=False,
                              resources={"metadata": {"path": os.getcwd()}}, startup_timeout=120,
                              shutdown_kernel="immediate")
        state["replaying"] = True
        stopped = None
        try:
            with client.setup_kernel():
                for index, cell in enumerate(replay.cells):
                    if cell.cell_type != "code":
                        continue
                    try:
                        client.execute_cell(cell, index)
                    except (CellTimeoutError, DeadKernelError):
                        stopped = index
                        break
                if stopped is None:
                    state["replaying"] = False
                    cells = ", ".join(f"cell {i}" for i in skipped)
                    return _answer_challenges(client, replay, challenges, state), (
                        f"the notebook stopped at cell {stopped_at}; the functions were checked in a fresh kernel "
                        f"that ran the notebook again without {cells}")
        except Exception as error:
            _log("replay: " + traceback.format_exc())
            if stopped is None:
                return False, (f"the functions could not be checked: the notebook could not be run again "
                               f"({type(error).__name__})")
        finally:
            state["replaying"] = False
        skipped.append(stopped)
    return False, "the functions could not be checked: the notebook kept stopping when run again"


def main() -> int:
    _make_private()
    _isolate_stdio()
    try:
        payload = _read_input(1 << 30)
        run(payload)
    except BaseException:
        _log(traceback.format_exc())
        try:
            _write_frame(b"D", _json_bytes({"status": "sandbox_error",
                                            "reason": "runner failed: " + traceback.format_exc(limit=2)[-500:],
                                            "truncated": False}))
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
