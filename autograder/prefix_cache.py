"""The frozen part's output on the reserved test split, kept on disk.

For every submission whose frozen tensors are proven bit-identical to the
pretrained ones, the hidden states entering the last encoder layer are the
same. Computing them costs one full forward pass over the test split (tens
of seconds on one thread), so they are computed once per machine, shared by
all workers and later runs, and only the last layer and the head run per
submission.

The file lives in ``<data dir>/grader/``, which the sandbox never mounts.
Its name is a hash of everything that determines its content (weights,
test texts and labels, tokenizer settings, library versions), so a change
to any of them simply makes a new file, and building it deletes the old
ones. A lock makes one process build it while the others wait; the write
is atomic, so a killed build leaves nothing half-written.
"""
from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path
from typing import Callable, Iterable

import torch
import transformers
from safetensors.torch import load_file, save

from autograder.store import write_atomically
from coursekit.paths import data_dir

FORMAT = "prefix-v1"
Batches = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (states, attention mask, labels)


def cache_key(encoder: torch.nn.Module, texts: Iterable[str], labels: Iterable[int], settings: str) -> str:
    digest = hashlib.sha256()
    for part in (FORMAT, torch.__version__, transformers.__version__, settings):
        digest.update(part.encode() + b"\0")
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode() + b"\0")
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    for text, label in zip(texts, labels):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:24]


def cache_path(key: str) -> Path:
    return data_dir() / "grader" / f"{FORMAT}-{key}.safetensors"


def _save(batches: Batches, path: Path) -> None:
    tensors = {}
    for i, (states, mask, labels) in enumerate(batches):
        tensors[f"{i}.states"], tensors[f"{i}.mask"], tensors[f"{i}.labels"] = states.contiguous(), mask.contiguous(), labels
    write_atomically(path, save(tensors))


def _load(path: Path, expected_labels: list[int]) -> Batches | None:
    """The stored batches, or None if the file is missing or does not hold what this key promises."""
    try:
        tensors = load_file(str(path))
    except Exception:
        return None
    batches, i = [], 0
    while f"{i}.states" in tensors:
        batches.append((tensors[f"{i}.states"], tensors[f"{i}.mask"], tensors[f"{i}.labels"]))
        i += 1
    stored_labels = [int(x) for _, _, labels in batches for x in labels]
    if len(tensors) != 3 * i or stored_labels != expected_labels:
        return None
    return batches


def load_or_build(key: str, expected_labels: list[int], build: Callable[[], Batches]) -> Batches:
    """The cached batches for key; built (once, under a lock) if missing or unusable."""
    path = cache_path(key)
    batches = _load(path, expected_labels)
    if batches is not None:
        return batches
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it right now
        batches = _load(path, expected_labels)  # ... and may have finished while we waited
        if batches is None:
            batches = build()
            _save(batches, path)
            _remove_stale(path)
        return batches


def _remove_stale(current: Path) -> None:
    """Delete the files of earlier keys (older weights, data or libraries): ~110 MB each, never read again."""
    for old in current.parent.glob("prefix-*.safetensors*"):
        if old.name not in (current.name, f"{current.name}.lock"):
            old.unlink(missing_ok=True)
