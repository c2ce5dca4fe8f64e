"""The single place where randomness and CPU threads are pinned down.

Every notebook, test and the grader call :func:`seed_everything` so that a
run is repeatable on the same machine with the same thread count.
"""
import os
import random

DEFAULT_SEED = 0


def default_thread_count() -> int:
    """Threads for torch: ``COURSE_THREADS`` if set, else all cores (at most 4)."""
    from_env = os.environ.get("COURSE_THREADS")
    if from_env:
        return max(1, int(from_env))
    return max(1, min(4, os.cpu_count() or 1))


def seed_everything(seed: int = DEFAULT_SEED, threads: int | None = None) -> int:
    """Seed python, numpy and torch, fix torch's thread count; return the seed."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # word-vector lectures work without torch
        return seed
    torch.manual_seed(seed)
    torch.set_num_threads(threads or default_thread_count())
    return seed
