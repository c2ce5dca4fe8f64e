"""Trusted checks of what the word_vectors training cell exported.

The locked training cell trains the frozen-GloVe classifier with the
student's functions and exports it with the student's ``export_model`` to
``submission_export/classifier.safetensors`` and ``submission_export/vocab.json``.
This module reads both in a process that never ran student code:

* ``artifact:files``: strict safetensors (no pickle, exactly ``embedding.weight``
  (V × 50), ``head.weight`` (3 × 50) and ``head.bias`` (3), float32, finite) and a
  JSON list of V distinct words, both within size caps;
* ``artifact:vocabulary``: the words equal, in order, the vocabulary the reference
  pipeline builds from the training sample the locked cell used (``N_TRAIN``
  tweets drawn with ``SEED``). So no word comes from validation or test tweets;
* ``artifact:frozen``: every row of the embedding is GloVe's, bit for bit (zeros for
  ``<pad>``, ``<unk>`` and words GloVe lacks): the embedding stayed frozen;
* ``artifact:trained``: the head, which starts at zero, changed;
* ``artifact:macro_f1``: macro-F1 on the reserved test split at or above the bar.
  The test tweets are tokenized and encoded by the reference pipeline with the
  (verified) vocabulary, averaged over GloVe rows with padding left out, and
  classified by the exported head.

These points count only together with the challenges of every function the
training used (see ``__init__.py``): a file that other code wrote earns nothing.
Once the vocabulary and the rows are verified, the averaged test vectors are the
same for every submission of a seed, so they are computed once per checker.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from autograder.heldout import reserved_test_split
from autograder.plugin import ArtifactReport
from autograder.result import Check
from autograder.weights import ExportError, bit_identical, read_safetensors
from coursekit import data, models

from . import reference as ref

WEIGHTS, VOCAB = "classifier.safetensors", "vocab.json"
GROUPS = ("artifact:files", "artifact:vocabulary", "artifact:frozen", "artifact:trained", "artifact:macro_f1")
MAX_VOCAB_BYTES = 4 * 2**20
MAX_WORDS = 200_000


class Checker:
    def __init__(self, bar: float):
        self.bar = bar
        self.glove = models.load_glove()
        self.test = reserved_test_split(ref.DATASET)
        self._test_tokens = None
        self._by_seed: dict[int, tuple[list[str], torch.Tensor, torch.Tensor]] = {}

    def warm_up(self) -> None:
        """Tokenize the test split and build the expected matrix for the locked cells' seed ahead of the first check."""
        self.expected(ref.SEED)

    # ---------------------------------------------------------- what an honest run exports
    def expected(self, seed: int) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """(vocabulary words in id order, GloVe matrix, averaged test vectors) for the training sample of ``seed``."""
        if seed not in self._by_seed:
            sample = data.load_dataset(ref.DATASET, n_train=ref.N_TRAIN, seed=seed).train
            vocab = ref.build_vocab([ref.tokenize(text) for text in sample.texts])
            words = sorted(vocab, key=vocab.get)
            matrix = ref.embedding_matrix(words, self.glove)
            if self._test_tokens is None:
                self._test_tokens = [ref.tokenize(text) for text in self.test.texts]
            ids, mask = ref.encode(self._test_tokens, vocab)
            with torch.no_grad():
                pooled = ref.masked_mean(torch.nn.functional.embedding(ids, matrix), mask)
            self._by_seed[seed] = (words, matrix, pooled)
        return self._by_seed[seed]

    # ----------------------------------------------------------------------- checks
    def check(self, exported: dict[str, bytes], cache_dir: Path, seed: int = ref.SEED,
              grading_key: bytes = b"") -> ArtifactReport:
        """Every check runs on every submission: no random choice, so ``grading_key`` is not needed."""
        checks: list[Check] = []
        measurements: dict = {"heldout_macro_f1": None, "bar": self.bar}

        def fail_rest(reason: str) -> ArtifactReport:
            for group in GROUPS:
                if not any(c.group == group for c in checks):
                    checks.append(Check(group, group, False, reason))
            return ArtifactReport(checks, measurements)

        raw_weights, raw_vocab = exported.get(WEIGHTS), exported.get(VOCAB)
        if raw_weights is None or raw_vocab is None:
            missing = " and ".join(name for name, raw in ((WEIGHTS, raw_weights), (VOCAB, raw_vocab)) if raw is None)
            return fail_rest(f"the locked training cell did not export {missing} (did it run to the end?)")
        words, matrix, pooled = self.expected(seed)
        try:
            exported_words = self._read_words(raw_vocab)
        except ExportError as error:
            return fail_rest(f"vocab.json could not be read: {error}")
        shapes = {"embedding.weight": torch.zeros(len(exported_words), ref.DIM),
                  "head.weight": torch.zeros(ref.NUM_LABELS, ref.DIM), "head.bias": torch.zeros(ref.NUM_LABELS)}
        try:
            tensors = read_safetensors(raw_weights, shapes)
        except ExportError as error:
            return fail_rest(f"classifier.safetensors could not be read: {error}")
        checks.append(Check("artifact:files", "artifact:files", True))

        if exported_words != words:
            extra = sum(1 for w in exported_words if w not in set(words))
            missing = sum(1 for w in words if w not in set(exported_words))
            reason = ("the exported vocabulary is not the one built from the training sample: "
                      + (f"{extra} words too many, {missing} missing" if extra or missing else "the order of ids differs"))
            return fail_rest(reason)
        checks.append(Check("artifact:vocabulary", "artifact:vocabulary", True))

        rows_kept = bit_identical(tensors["embedding.weight"], matrix)
        checks.append(Check("artifact:frozen", "artifact:frozen", rows_kept,
                            "" if rows_kept else "the exported embedding differs from GloVe's rows: it must stay "
                                                 "frozen, with zero rows for <pad>, <unk> and words GloVe lacks"))
        head_trained = bool(tensors["head.weight"].abs().sum() > 0)
        checks.append(Check("artifact:trained", "artifact:trained", head_trained,
                            "" if head_trained else "the head is still zero: it did not train"))
        if not rows_kept:
            return fail_rest("the macro-F1 is measured only for a model whose embedding holds GloVe's rows")
        score = self.macro_f1(pooled, tensors, seed)
        measurements["heldout_macro_f1"] = round(score, 4)
        passed = score >= self.bar
        checks.append(Check("artifact:macro_f1", "artifact:macro_f1", passed,
                            "" if passed else f"macro-F1 on the reserved test split is {score:.3f}, below the bar {self.bar:.2f}"))
        return ArtifactReport(checks, measurements)

    @staticmethod
    def _read_words(raw: bytes) -> list[str]:
        if len(raw) > MAX_VOCAB_BYTES:
            raise ExportError("the file is far larger than a vocabulary")
        try:
            words = json.loads(raw)
        except (ValueError, RecursionError):
            raise ExportError("it is not JSON") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ExportError("it must be a JSON list of words")
        if not 2 <= len(words) <= MAX_WORDS or len(set(words)) != len(words):
            raise ExportError("it must list each word once, <pad> and <unk> first")
        return words

    def macro_f1(self, pooled: torch.Tensor, tensors: dict[str, torch.Tensor], seed: int) -> float:
        head = torch.nn.Linear(ref.DIM, ref.NUM_LABELS)
        head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})
        with torch.no_grad():
            predictions = head(pooled).argmax(dim=-1).tolist()
        return ref.macro_f1(self.test.labels, predictions)
