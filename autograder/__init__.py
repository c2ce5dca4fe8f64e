"""Trusted autograder for the course: ``python -m autograder grade ...``."""
import os
import sys

# jsonschema builds a grammar for its optional IRI format check when it is imported (0.9 s in the
# grader and again in every worker). nbformat's schemas never ask for that format, so the import is refused.
sys.modules.setdefault("rfc3987_syntax", None)

# nbgrader's gradebook runs its helper program (alembic) by name: the folder of this interpreter goes on
# PATH, so the grader works from a plain shell, from nbgrader's own commands and from tests alike.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

# Part of every result's key: bump it when grading logic changes, so a rerun regrades.
GRADER_VERSION = "9"
