"""Assignment plug-ins: one sub-package per assignment, each exporting ``ASSIGNMENT``.

Adding an assignment adds a folder here (and its notebook under ``source/``);
no other module of the grader changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from autograder.plugin import Assignment

_FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(_FOLDER)]) if m.ispkg and not m.name.startswith("_"))


def get(name: str) -> Assignment:
    if name not in names():
        raise KeyError(f"unknown assignment {name!r}; known: {', '.join(names()) or 'none'}")
    assignment = importlib.import_module(f"{__name__}.{name}").ASSIGNMENT
    if assignment.name != name:
        raise KeyError(f"the plug-in in {name}/ calls itself {assignment.name!r}")
    return assignment


def all_assignments() -> list[Assignment]:
    return [get(name) for name in names()]
