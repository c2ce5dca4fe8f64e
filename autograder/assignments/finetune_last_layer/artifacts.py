"""Trusted checks of what the graded run's locked training cell exported.

The locked cell trains with the student's functions and saves the trained
classifier to ``submission_export/trained_classifier.safetensors``. This
module reads that file in a process that never ran student code: strict
safetensors (no pickle, exact keys and shapes, no NaN), every frozen tensor
bit-identical to the pretrained one, the last layer changed, and accuracy
on the reserved test split against the calibrated bar.

The accuracy checks are worth points only together with the challenges of
every function the training used (see ``__init__.py``): a weights file that
other code wrote earns nothing, because a student whose functions pass their
challenges reaches the bar without it.

Speed: the frozen part's output on the test split is the same for every
submission that kept it frozen, so it is computed once per machine
(``autograder.prefix_cache``); only the last layer and the head run per
submission. Accuracy is also kept per weights digest, so identical weights
(every student whose code trains exactly like the reference) are measured once.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import torch

from autograder import prefix_cache
from autograder.heldout import reserved_test_split
from autograder.plugin import ArtifactReport
from autograder.result import Check
from autograder.store import write_atomically
from autograder.weights import ExportError, bit_identical, read_safetensors
from coursekit import models
from coursekit.training import batches_by_length

SNAPSHOT = "trained_classifier.safetensors"
TEST_BATCH = 64
DATASET = "rotten_tomatoes"
MAX_LENGTH = 64
NUM_LABELS = 2


def mean_pool(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class Checker:
    def __init__(self, bar: float):
        self.bar = bar
        self.tokenizer = models.load_tokenizer()
        self.encoder = models.load_encoder()
        self.pretrained = {f"encoder.{k}": v.detach().clone() for k, v in self.encoder.state_dict().items()}
        hidden = self.encoder.config.hidden_size
        self.expected = dict(self.pretrained)
        self.expected["head.weight"] = torch.zeros(NUM_LABELS, hidden)
        self.expected["head.bias"] = torch.zeros(NUM_LABELS)
        self.last_layer = f"encoder.encoder.layer.{self.encoder.config.num_hidden_layers - 1}."
        self.trainable_prefixes = (self.last_layer, "head.")
        self.test = reserved_test_split(DATASET)
        self._order = None
        self._prefix_batches = None

    def warm_up(self) -> None:
        """Load (or, once per machine, build) the frozen prefix on the test split ahead of the first check."""
        self._prefix()

    # ------------------------------------------------------------ checks
    def check(self, exported: dict[str, bytes], cache_dir: Path, grading_key: bytes = b"") -> ArtifactReport:
        """Every check runs on every submission: no random choice, so ``grading_key`` is not needed."""
        raw = exported.get(SNAPSHOT)
        checks: list[Check] = []
        measurements: dict = {"heldout_accuracy": None, "bar": self.bar}

        def fail_rest(reason: str) -> ArtifactReport:
            for group in ("artifact:snapshot", "artifact:frozen", "artifact:trained", "artifact:accuracy"):
                if not any(c.group == group for c in checks):
                    checks.append(Check(group, group, False, reason))
            return ArtifactReport(checks, measurements)

        if raw is None:
            return fail_rest("the locked training cell did not save a trained classifier (did it run to the end?)")
        try:
            tensors = read_safetensors(raw, self.expected)
        except ExportError as error:
            return fail_rest(f"the trained classifier could not be read: {error}")
        checks.append(Check("artifact:snapshot", "artifact:snapshot", True))

        must_freeze = [k for k in self.pretrained if not k.startswith(self.trainable_prefixes)]
        moved = [k for k in must_freeze if not bit_identical(tensors[k], self.pretrained[k])]
        layer = [k for k in self.pretrained if k.startswith(self.last_layer)]
        trained = [k for k in layer if not bit_identical(tensors[k], self.pretrained[k])]
        checks.append(Check("artifact:frozen", "artifact:frozen", not moved,
                            f"{len(moved)} tensors that must stay frozen changed in training, e.g. {moved[0]}" if moved else ""))
        checks.append(Check("artifact:trained", "artifact:trained", bool(trained),
                            "" if trained else "the last encoder layer did not change: it did not train"))
        accuracy = self.accuracy_cached(raw, tensors, exact_prefix=not moved, cache_dir=cache_dir)
        measurements["heldout_accuracy"] = round(accuracy, 4)
        passed = accuracy >= self.bar
        checks.append(Check("artifact:accuracy", "artifact:accuracy", passed,
                            "" if passed else f"held-out accuracy {accuracy:.3f} is below the bar {self.bar:.2f}"))
        return ArtifactReport(checks, measurements)

    # ----------------------------------------------------------- accuracy
    def accuracy_cached(self, raw: bytes, tensors, exact_prefix: bool, cache_dir: Path) -> float:
        """Accuracy on the reserved split; kept per digest of the weights (and of this checker's settings)."""
        digest = hashlib.sha256(raw).hexdigest()
        path = Path(cache_dir) / "accuracy" / f"{digest[:32]}.json"
        try:
            stored = json.loads(path.read_text())
            if stored.get("digest") == digest:
                return float(stored["accuracy"])
        except (OSError, ValueError, KeyError):
            pass
        value = self.accuracy(tensors, fast=exact_prefix)
        write_atomically(path, json.dumps({"digest": digest, "accuracy": value}).encode())
        return value

    def _index_batches(self) -> list[list[int]]:
        if self._order is None:
            texts = list(self.test.texts)
            ids = self.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
            tokens = {text: len(row) for text, row in zip(texts, ids)}
            self._order = batches_by_length(texts, TEST_BATCH, length=tokens.__getitem__)
        return self._order

    def _batches(self):
        for chosen in self._index_batches():
            batch = self.tokenizer([self.test.texts[i] for i in chosen], padding="longest", truncation=True,
                                   max_length=MAX_LENGTH, return_tensors="pt")
            yield batch, torch.tensor([self.test.labels[i] for i in chosen])

    @torch.no_grad()
    def _compute_prefix(self):
        return [(self.encoder(**batch, output_hidden_states=True).hidden_states[-2], batch["attention_mask"], labels)
                for batch, labels in self._batches()]

    def _prefix(self):
        """Hidden states entering the last layer, from the pretrained weights; on disk, shared by all workers."""
        if self._prefix_batches is None:
            settings = (f"{DATASET}|{MAX_LENGTH}|{TEST_BATCH}|{type(self.tokenizer).__name__}"
                        f"|{len(self.tokenizer)}|sorted by tokens")
            key = prefix_cache.cache_key(self.encoder, self.test.texts, self.test.labels, settings)
            labels = [self.test.labels[i] for chosen in self._index_batches() for i in chosen]
            self._prefix_batches = prefix_cache.load_or_build(key, labels, self._compute_prefix)
        return self._prefix_batches

    def _head(self, tensors) -> torch.nn.Linear:
        head = torch.nn.Linear(self.encoder.config.hidden_size, NUM_LABELS)
        head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})
        return head

    @torch.no_grad()
    def prefix_logits(self, tensors):
        """(logits, labels) per test batch, running only the last layer and the head on the cached prefix.

        Exact only when every frozen tensor equals the pretrained one (the prefix was built from those).
        """
        head = self._head(tensors)
        layer = copy.deepcopy(self.encoder.encoder.layer[-1])
        layer.load_state_dict({k[len(self.last_layer):]: v for k, v in tensors.items() if k.startswith(self.last_layer)})
        layer.eval()
        for states, mask, labels in self._prefix():
            additive = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
            out = layer(states, attention_mask=additive)
            out = out[0] if isinstance(out, tuple) else out
            yield head(mean_pool(out, mask)), labels

    @torch.no_grad()
    def accuracy(self, tensors, fast: bool) -> float:
        correct = 0
        if fast:
            for logits, labels in self.prefix_logits(tensors):
                correct += (logits.argmax(-1) == labels).sum().item()
        else:
            head = self._head(tensors)
            encoder = copy.deepcopy(self.encoder)
            encoder.load_state_dict({k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")})
            encoder.eval()
            for batch, labels in self._batches():
                hidden = encoder(**batch).last_hidden_state
                correct += (head(mean_pool(hidden, batch["attention_mask"])).argmax(-1) == labels).sum().item()
        return correct / len(self.test)
