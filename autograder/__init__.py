"""Trusted autograder for the course: ``python -m autograder grade ...``."""
import sys

# jsonschema builds a grammar for its optional IRI format check when it is imported (0.9 s in the
# grader and again in every worker). nbformat's schemas never ask for that format, so the import is refused.
sys.modules.setdefault("rfc3987_syntax", None)

# Part of every result's key: bump it when grading logic changes, so a rerun regrades.
GRADER_VERSION = "8"
