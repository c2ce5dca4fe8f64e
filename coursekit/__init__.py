"""coursekit: the one helper package shared by the lectures, the assignments,
the tests and the autograder of the transfer-learning-for-NLP course.

Importing it sets quiet, offline-first defaults for Hugging Face libraries
(see :mod:`coursekit.quiet`) before any of them is imported.
"""
from coursekit import quiet as _quiet

_quiet.apply_defaults()

from coursekit.seeding import seed_everything  # noqa: E402
from coursekit.assets import AssetError, AssetMissingError, AssetCorruptError  # noqa: E402

__all__ = ["seed_everything", "AssetError", "AssetMissingError", "AssetCorruptError"]
__version__ = "1.0.0"
