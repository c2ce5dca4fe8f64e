"""Trusted autograder for the course: ``python -m autograder grade ...``."""

# Part of every result's key: bump it when grading logic changes, so a rerun regrades.
GRADER_VERSION = "5"
