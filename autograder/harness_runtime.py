"""Challenge runtime: runs INSIDE the student's kernel, after the notebook.

The sandbox runner sends this file's source, an assignment's harness (which
defines ``CALLS``, a table from challenge kind to a function) and the
challenge specs into the kernel as one extra cell. :func:`run_all` then
answers every challenge in a forked child of the kernel, one child per call:

* a call cannot see or change what another call did (each child starts
  from the kernel as the notebook left it and exits when done);
* a call that hangs, crashes, exits or floods is killed and reported as
  such, and the next call runs anyway;
* what comes back is plain JSON (numbers, strings, lists, tensors as raw
  bytes), capped in size.

Nothing here decides anything: the trusted grader compares the answers with
the reference solution's answers to the same challenges. Student code in
the kernel can tamper with this runtime, but then it only changes what the
kernel reports, and reporting the right answer to inputs it never saw
before means computing it.

Only the standard library and torch are used; the autograder package is not
visible inside the sandbox.
"""
import base64
import json
import math
import os
import random
import select
import signal
import sys
import tempfile
import time
import traceback

RESPONSE_MARK = "@@grader-response@@ "
MAX_TENSOR_ELEMENTS = 1 << 21


class Unanswerable(Exception):
    """The student's function returned something that cannot be reported (wrong type, too large)."""


def to_plain(value, root=None, depth=0):
    """``value`` as JSON-ready data; modules inside ``root`` are reported by their dotted path."""
    torch = sys.modules.get("torch")  # only what the notebook already imported can come back
    if depth > 20:
        raise Unanswerable("the value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.numel() > MAX_TENSOR_ELEMENTS:
            raise Unanswerable(f"a tensor with {tensor.numel()} elements is too large to report")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        data = tensor.contiguous().numpy().tobytes()
        return {"__tensor__": {"dtype": str(tensor.dtype).replace("torch.", ""), "shape": list(tensor.shape),
                               "b64": base64.b64encode(data).decode("ascii")}}
    if torch is not None and isinstance(value, torch.nn.Module):
        path = None
        if root is not None:
            path = next((name for name, module in root.named_modules() if module is value), None)
        return {"__module__": path, "type": type(value).__name__}
    if torch is not None and isinstance(value, torch.Size):
        return [int(v) for v in value]
    if isinstance(value, (list, tuple)):
        return [to_plain(v, root, depth + 1) for v in value]
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):  # dict, BatchEncoding, OrderedDict
        return {"__dict__": [[to_plain(k, root, depth + 1), to_plain(value[k], root, depth + 1)]
                             for k in list(value.keys())]}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_plain(value.item(), root, depth + 1)
    return {"__object__": type(value).__name__}


def reset_globals(seed):
    """Undo global switches a notebook may have flipped, and seed every generator it has loaded."""
    random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_grad_enabled(True)
        torch.set_default_dtype(torch.float32)
        torch.manual_seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)


def _child(namespace, spec, calls, write_fd):
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    os.chdir(tempfile.mkdtemp(prefix="challenge-"))
    try:
        reset_globals(int(spec.get("seed", 0)))
        call = calls[spec["kind"]]
        answer = {"ok": True, "value": call(namespace, spec["args"])}
    except Unanswerable as error:
        answer = {"ok": False, "error": str(error)[:500]}
    except BaseException as error:  # the student's code may raise anything, SystemExit included
        answer = {"ok": False, "error": "".join(traceback.format_exception_only(type(error), error)).strip()[:500]}
    try:
        data = json.dumps(answer).encode()
    except (TypeError, ValueError) as error:
        data = json.dumps({"ok": False, "error": f"the answer could not be reported: {error}"[:500]}).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(write_fd, view):]


def answer(namespace, spec, calls, timeout_s, cap_bytes):
    """One challenge in a forked child: {"ok": True, "value": ...} or {"ok": False, "error": ...}."""
    try:
        read_fd, write_fd = os.pipe()
    except OSError as error:
        return {"ok": False, "error": f"the call could not start: {error.strerror}"}
    try:
        pid = os.fork()
    except OSError as error:  # e.g. the notebook's own processes used up the process limit
        os.close(read_fd)
        os.close(write_fd)
        return {"ok": False, "error": f"the call could not start: {error.strerror}"}
    if pid == 0:  # child
        try:
            os.close(read_fd)
            _child(namespace, spec, calls, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks, size, problem = [], 0, None
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"did not finish within {timeout_s:g} s"
                break
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            block = os.read(read_fd, 1 << 20)
            if not block:
                break
            size += len(block)
            if size > cap_bytes:
                problem = f"returned more than {cap_bytes // 1024} KiB"
                break
            chunks.append(block)
    finally:
        os.close(read_fd)
        if problem is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    if problem is not None:
        return {"ok": False, "error": f"the call {problem}"}
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        how = f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "ended without an answer"
        return {"ok": False, "error": f"the call {how}"}


def run_all(namespace, specs, calls, timeout_s, cap_bytes, total_s, prepare=None):
    """Answer every spec, printing one line per answer; ``prepare(namespace, specs)`` runs once, before the calls,
    in the kernel itself: what it imports or builds, every forked call inherits instead of redoing it."""
    if prepare is not None:
        try:
            prepare(namespace, specs)
        except BaseException:  # the calls then fail one by one, each with its own reason
            pass
    deadline = time.monotonic() + total_s
    for spec in specs:
        left = deadline - time.monotonic()
        if left <= 0:
            reply = {"ok": False, "error": f"not run: the checks of this notebook used up their {total_s:g} s"}
        else:
            started = time.monotonic()
            reply = answer(namespace, spec, calls, min(left, timeout_s * float(spec.get("time_factor", 1))), cap_bytes)
            reply["seconds"] = round(time.monotonic() - started, 3)
        reply["name"] = spec["name"]
        print(RESPONSE_MARK + json.dumps(reply), flush=True)
