"""A memory cap for one sandbox: a child memory cgroup of the grader's own.

RLIMIT_AS bounds one process's address space, but a notebook can start many
processes, and the tmpfs scratch folders count against no rlimit at all. A
memory cgroup bounds everything the sandbox holds in RAM together, so one
student cannot push the machine into the OOM killer and take the notebook
graded next to it (or the grader) down. When the kernel kills inside the cap,
the grader says so in the reason.

cgroup v1 (``memory`` hierarchy) and v2 (``memory.max``) are both handled. Where
neither is writable (not root, a read-only cgroup mount) the cap is reported as
unavailable and the address-space limit remains the only memory bound.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_memory_cgroup() -> tuple[Path, str] | None:
    """(folder of this process's memory cgroup, "v1" or "v2"), if one is mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(",") and (CGROUP_ROOT / "memory").is_dir():
            return CGROUP_ROOT / "memory" / path.lstrip("/"), "v1"
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "" and (CGROUP_ROOT / "cgroup.controllers").is_file():
            return CGROUP_ROOT / path.lstrip("/"), "v2"
    return None


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class MemoryCap:
    """One sandbox's cgroup. ``create`` makes it; ``enter`` (in the child, before exec) joins it."""

    def __init__(self, folder: Path, version: str, limit_bytes: int):
        self.folder, self.version, self.limit_bytes = folder, version, limit_bytes
        self._procs = str(folder / "cgroup.procs").encode()

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> tuple[MemoryCap | None, str]:
        """The cap, or None and why not."""
        own = _own_memory_cgroup()
        if own is None:
            return None, "no memory cgroup is mounted"
        parent, version = own
        folder = parent / name
        try:
            if folder.is_dir():  # left by a grader that was killed: its processes died with it
                folder.rmdir()
            folder.mkdir()
        except OSError as error:
            return None, f"cannot create a memory cgroup under {parent}: {error.strerror}"
        cap = cls(folder, version, int(limit_bytes))
        try:
            if version == "v1":
                _write(folder / "memory.limit_in_bytes", str(cap.limit_bytes))
                if (folder / "memory.memsw.limit_in_bytes").exists():  # swap counts too
                    _write(folder / "memory.memsw.limit_in_bytes", str(cap.limit_bytes))
            else:
                _write(folder / "memory.max", str(cap.limit_bytes))
                if (folder / "memory.swap.max").exists():
                    _write(folder / "memory.swap.max", "0")
        except OSError as error:
            cap.remove()
            return None, f"cannot set the memory limit: {error.strerror}"
        return cap, ""

    def enter(self) -> None:
        """Move the calling process into the cap (safe in a ``preexec_fn``)."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")  # "0" means the writing process
        finally:
            os.close(fd)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the cap."""
        name = "memory.oom_control" if self.version == "v1" else "memory.events"
        try:
            for line in (self.folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        """Delete the cgroup once its processes are gone (they are being killed; give them a moment)."""
        for _ in range(50):
            try:
                self.folder.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
