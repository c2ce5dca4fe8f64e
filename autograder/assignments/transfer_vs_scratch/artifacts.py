"""Trusted checks of what the graded run's locked experiment cell exported.

The experiment cell trains both models at every (size, repeat) with the
student's functions and saves ``submission_export/curve.json`` (settings,
per point: subset indices of each model, seeds, the scratch vocabulary, the
two validation accuracies) and ``submission_export/curve.safetensors`` (the
probe's weights and the scratch model's weights of every point). This module
reads both in a process that never ran student code and decides:

* ``artifact:export``: both files are there and exactly on contract (strict
  JSON and safetensors, the fixed settings, every point once, exact shapes,
  no NaN);
* ``artifact:indices``: at every point both models used the same indices, and
  they are the ones the fixed settings give (the trusted copy of
  ``nested_subsets`` with the recorded seeds), and the seeds are the fixed ones;
* ``artifact:vocab``: every scratch vocabulary is exactly what ``build_vocab``
  makes from its own training subset (so no word of the validation split, or
  of the rest of the pool, got in);
* ``artifact:transfer_points`` / ``artifact:scratch_points``: every saved
  accuracy is what the saved weights score on the validation split here (to
  within ``EVAL_TOLERANCE`` predictions), and one sampled repeat per size is
  retrained here from the saved indices with the reference code, which must
  give the saved accuracy to within ``PROBE_TOLERANCE`` / ``SCRATCH_TOLERANCE``;
* ``artifact:bar``: the probe trained on the whole pool reaches the
  calibrated bar on the reserved test split.

Speed: MiniLM's features of the pool, the validation split and the reserved
test split are the same for every submission, so they are computed once per
machine (about 40 s on two threads) and kept in ``<data dir>/grader/``, which
the sandbox never sees; per submission only the sampled retraining runs
(about 3 s on one thread).
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from autograder.plugin import ArtifactReport
from autograder.result import Check
from autograder.store import write_atomically
from autograder.weights import ExportError, read_safetensors

from . import reference as ref

CURVE_JSON = "curve.json"
CURVE_WEIGHTS = "curve.safetensors"
MAX_JSON_BYTES = 16 * 2**20
MAX_VOCABULARY = 60_000
HIDDEN = 384
# Tolerances (see README.md, "Tolerances"): measured on honest variants, far below what a cheat changes.
EVAL_TOLERANCE = 2          # predictions out of 1,275: saved accuracy vs what the saved weights score here
PROBE_TOLERANCE = 0.005     # accuracy: a probe retrained here from the saved indices vs the saved accuracy
SCRATCH_TOLERANCE = 0.015   # accuracy: a scratch model retrained here vs the saved accuracy
GROUPS = ("artifact:export", "artifact:indices", "artifact:vocab", "artifact:transfer_points",
          "artifact:scratch_points", "artifact:bar")
FEATURES_FORMAT = "tvs-features-v1"
POINT_KEYS = {"size", "repeat", "subset_seed", "init_seed", "pretrained_indices", "scratch_indices", "vocabulary",
              "pretrained_accuracy", "scratch_accuracy"}


class BadExport(ValueError):
    pass


@contextmanager
def one_thread():
    """The sandbox trains on one thread; retraining here must too, or the arithmetic differs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------- features, once per machine
def _features_path(split: str, texts: list[str]) -> Path:
    import transformers

    from coursekit import assets
    from coursekit.paths import data_dir

    digest = hashlib.sha256()
    for part in (FEATURES_FORMAT, torch.__version__, transformers.__version__, split,
                 json.dumps(assets.load_manifest().get("minilm"), sort_keys=True), str(ref.MAX_LENGTH)):
        digest.update(part.encode() + b"\0")
    for text in texts:
        digest.update(text.encode() + b"\n")
    return data_dir() / "grader" / "transfer_vs_scratch" / f"{FEATURES_FORMAT}-{split}-{digest.hexdigest()[:20]}.npy"


_ENCODER = {}


def features(split: str, texts: list[str]) -> np.ndarray:
    """MiniLM's mean-pooled features of ``texts`` (the reference embed_texts); built once, under a lock."""
    path = _features_path(split, texts)
    wanted = (len(texts), HIDDEN)

    def load():
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        return array if array.shape == wanted and array.dtype == np.float32 else None

    array = load()
    if array is not None:
        return array
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        array = load()
        if array is None:
            from coursekit import models

            if not _ENCODER:
                _ENCODER["tokenizer"], _ENCODER["encoder"] = models.load_tokenizer(), models.load_encoder()
            array = ref.embed_texts(_ENCODER["encoder"], _ENCODER["tokenizer"], texts).numpy().astype(np.float32)
            import io

            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            write_atomically(path, buffer.getvalue())
            for old in path.parent.glob(f"{FEATURES_FORMAT}-{split}-*.npy"):
                if old != path:
                    old.unlink(missing_ok=True)
        return array


# ------------------------------------------------------------------------ the checker
class Checker:
    def __init__(self, bar: float, seed: int = ref.SEED):
        from autograder.heldout import reserved_test_split

        self.bar = bar
        self.seed = seed
        self.pool, self.validation = ref.pool_and_validation(seed)
        self.test = reserved_test_split(ref.DATASET)
        self.pool_tokens = [ref.tokenize(t) for t in self.pool.texts]
        self.validation_tokens = [ref.tokenize(t) for t in self.validation.texts]
        self.test_tokens = [ref.tokenize(t) for t in self.test.texts]
        self.validation_labels = np.array(self.validation.labels)
        self.test_labels = np.array(self.test.labels)
        self.pool_labels = np.array(self.pool.labels)
        self._features = {}

    def warm_up(self) -> None:
        """Load (or, once per machine, build) the frozen features of every split ahead of the first check."""
        for split in ("validation", "test", "pool"):
            self.split_features(split)

    def split_features(self, split: str) -> np.ndarray:
        if split not in self._features:
            texts = {"pool": self.pool.texts, "validation": self.validation.texts, "test": self.test.texts}[split]
            self._features[split] = features(f"{split}-seed{self.seed}" if split == "pool" else split, texts)
        return self._features[split]

    # ---------------------------------------------------------------- reading the export
    def read(self, exported: dict[str, bytes]) -> tuple[dict, list[dict], dict[str, torch.Tensor]]:
        raw_json, raw_weights = exported.get(CURVE_JSON), exported.get(CURVE_WEIGHTS)
        if raw_json is None or raw_weights is None:
            raise BadExport("the locked experiment cell did not save its results (did it run to the end?)")
        if len(raw_json) > MAX_JSON_BYTES:
            raise BadExport("curve.json is far larger than the experiment writes")
        try:
            record = json.loads(raw_json.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadExport("curve.json is not valid JSON") from None
        if not isinstance(record, dict) or set(record) != {"format", "settings", "points"} or \
                record["format"] != ref.FORMAT:
            raise BadExport("curve.json is not what the experiment cell writes")
        if record["settings"] != ref.settings(self.seed):
            raise BadExport("the experiment did not run with the fixed settings of the locked cells")
        points = record["points"]
        expected_keys = [(size, repeat) for repeat in range(ref.REPEATS) for size in ref.SIZES]
        if not isinstance(points, list) or len(points) != len(expected_keys):
            raise BadExport(f"curve.json must hold {len(expected_keys)} points (every size and repeat)")
        for point in points:
            self._check_point(point)
        if sorted((p["size"], p["repeat"]) for p in points) != sorted(expected_keys):
            raise BadExport("curve.json must hold every (size, repeat) exactly once")
        expected = {}
        for p in points:
            key = f"{p['size']}/{p['repeat']}"
            expected[f"pretrained/{key}/weight"] = torch.zeros(1, HIDDEN, dtype=torch.float64)
            expected[f"pretrained/{key}/bias"] = torch.zeros(1, dtype=torch.float64)
            expected[f"scratch/{key}/embedding.weight"] = torch.zeros(len(p["vocabulary"]), ref.EMBED_DIM)
            expected[f"scratch/{key}/linear.weight"] = torch.zeros(ref.NUM_LABELS, ref.EMBED_DIM)
            expected[f"scratch/{key}/linear.bias"] = torch.zeros(ref.NUM_LABELS)
        try:
            tensors = read_safetensors(raw_weights, expected)
        except ExportError as error:
            raise BadExport(f"curve.safetensors: {error}") from None
        return record, points, tensors

    def _check_point(self, point) -> None:
        if not isinstance(point, dict) or set(point) != POINT_KEYS:
            raise BadExport("a point of curve.json does not have the fields the experiment writes")
        for key in ("size", "repeat", "subset_seed", "init_seed"):
            if not _is_int(point[key]):
                raise BadExport(f"a point's {key} is not an integer")
        for key in ("pretrained_indices", "scratch_indices"):
            value = point[key]
            if not isinstance(value, list) or len(value) > ref.N_POOL or not all(_is_int(i) for i in value):
                raise BadExport(f"a point's {key} is not a list of indices")
            if any(not 0 <= i < len(self.pool) for i in value):
                raise BadExport(f"a point's {key} points outside the pool")
        vocabulary = point["vocabulary"]
        if not isinstance(vocabulary, list) or not 2 <= len(vocabulary) <= MAX_VOCABULARY or \
                not all(isinstance(w, str) and len(w) < 200 for w in vocabulary):
            raise BadExport("a point's vocabulary is not a list of words")
        for key in ("pretrained_accuracy", "scratch_accuracy"):
            value = point[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                    not 0 <= value <= 1:
                raise BadExport(f"a point's {key} is not an accuracy")

    # -------------------------------------------------------------------------- checks
    def check(self, exported: dict[str, bytes], cache_dir: Path | None = None,
              grading_key: bytes = b"") -> ArtifactReport:
        checks: list[Check] = []
        measurements: dict = {"heldout_accuracy": None, "bar": self.bar}

        def add(group: str, problems: list[str]) -> None:
            checks.append(Check(group, group, not problems, "; ".join(problems[:2])))

        try:
            record, points, tensors = self.read(exported)
        except BadExport as error:
            for group in GROUPS:
                checks.append(Check(group, group, False, str(error)))
            return ArtifactReport(checks, measurements)
        add("artifact:export", [])
        add("artifact:indices", self.check_indices(points))
        add("artifact:vocab", self.check_vocabularies(points))
        sample = self.sampled_repeats(exported[CURVE_JSON], grading_key)
        transfer, scratch = self.check_transfer(points, tensors, sample), self.check_scratch(points, tensors, sample)
        add("artifact:transfer_points", transfer["problems"])
        add("artifact:scratch_points", scratch["problems"])
        largest = [p for p in points if p["size"] == max(ref.SIZES)]
        test_accuracy = min(transfer["test"][(p["size"], p["repeat"])] for p in largest)
        measurements.update({
            "heldout_accuracy": round(test_accuracy, 4),
            "heldout_scratch_accuracy": round(min(scratch["test"][(p["size"], p["repeat"])] for p in largest), 4),
            "sampled_repeats": " ".join(f"{size}:{repeat}" for size, repeat in sorted(sample.items())),
            "largest_retrain_difference_probe": round(transfer["largest_difference"], 4),
            "largest_retrain_difference_scratch": round(scratch["largest_difference"], 4)})
        add("artifact:bar", [] if test_accuracy >= self.bar else [
            f"the probe trained on all {max(ref.SIZES)} snippets scores {test_accuracy:.3f} on the reserved test "
            f"split, below the bar {self.bar:.2f}"])
        return ArtifactReport(checks, measurements)

    def check_indices(self, points) -> list[str]:
        problems = []
        for p in sorted(points, key=lambda p: (p["repeat"], p["size"])):
            where = f"size {p['size']}, repeat {p['repeat']}"
            seed = ref.subset_seed(self.seed, p["repeat"])
            if p["subset_seed"] != seed or p["init_seed"] != ref.init_seed(self.seed, p["repeat"],
                                                                              ref.SIZES.index(p["size"])):
                problems.append(f"{where}: the seeds are not the fixed ones")
                continue
            if p["pretrained_indices"] != p["scratch_indices"]:
                problems.append(f"{where}: the two models were trained on different snippets")
                continue
            if p["pretrained_indices"] != ref.nested_subsets(ref.N_POOL, ref.SIZES, seed)[p["size"]]:
                problems.append(f"{where}: the subset is not the one nested_subsets gives for the fixed settings")
        return problems

    def check_vocabularies(self, points) -> list[str]:
        problems = []
        for p in sorted(points, key=lambda p: (p["repeat"], p["size"])):
            subset = p["scratch_indices"]
            wanted = list(ref.build_vocab_tokens([self.pool_tokens[i] for i in subset]))
            if p["vocabulary"] == wanted:
                continue
            seen = {w for i in subset for w in self.pool_tokens[i]} | {"<pad>", "<unk>"}
            outside = [w for w in p["vocabulary"] if w not in seen]
            where = f"size {p['size']}, repeat {p['repeat']}"
            if outside:
                problems.append(f"{where}: the vocabulary holds {len(outside)} words that are not in its training "
                                f"subset, e.g. {outside[0]!r}: build it from the subset only")
            else:
                problems.append(f"{where}: the vocabulary is not what build_vocab makes from its training subset")
        return problems

    def sampled_repeats(self, raw_json: bytes, grading_key: bytes = b"") -> dict[int, int]:
        """One repeat per size to retrain, drawn from an HMAC of the export under the grading's secret key: the
        student cannot know which points are retrained, and a regrade samples the same ones."""
        digest = hmac.new(grading_key, raw_json, hashlib.sha256).digest()
        return {size: digest[i] % ref.REPEATS for i, size in enumerate(ref.SIZES)}

    def check_transfer(self, points, tensors, sample) -> dict:
        validation, test, pool = (self.split_features("validation").astype(np.float64),
                                  self.split_features("test").astype(np.float64), self.split_features("pool"))
        problems, tested, largest = [], {}, 0.0
        for p in sorted(points, key=lambda p: (p["size"], p["repeat"])):
            key, where = f"{p['size']}/{p['repeat']}", f"size {p['size']}, repeat {p['repeat']}"
            weight = tensors[f"pretrained/{key}/weight"].numpy()
            bias = tensors[f"pretrained/{key}/bias"].numpy()
            correct = int(((validation @ weight.T + bias)[:, 0] > 0).astype(int)
                          .__eq__(self.validation_labels).sum())
            claimed = p["pretrained_accuracy"] * len(self.validation_labels)
            if abs(correct - claimed) > EVAL_TOLERANCE + 1e-6:
                problems.append(f"{where}: the saved probe accuracy {p['pretrained_accuracy']:.4f} is not what the "
                                f"saved probe scores on validation ({correct / len(self.validation_labels):.4f})")
            if p["size"] == max(ref.SIZES):
                tested[(p["size"], p["repeat"])] = float(np.mean(
                    ((test @ weight.T + bias)[:, 0] > 0).astype(int) == self.test_labels))
            if sample.get(p["size"]) == p["repeat"]:
                indices = p["pretrained_indices"]
                probe = ref.fit_probe(pool[indices], self.pool_labels[indices], C=ref.PROBE_C)
                again = float(np.mean(probe.predict(validation) == self.validation_labels))
                largest = max(largest, abs(again - p["pretrained_accuracy"]))
                if abs(again - p["pretrained_accuracy"]) > PROBE_TOLERANCE + 1e-9:
                    problems.append(f"{where}: retrained by the grader from the saved indices, the probe scores "
                                    f"{again:.4f} on validation, not the saved {p['pretrained_accuracy']:.4f} "
                                    f"(tolerance {PROBE_TOLERANCE})")
        return {"problems": problems, "test": tested, "largest_difference": largest}

    @staticmethod
    def _scratch_accuracy(model, vocab, token_lists, labels) -> float:
        """Accuracy of a BagOfEmbeddings: the mean of each text's first 64 word embeddings (<unk> included; an
        empty text averages to zeros), then the linear layer. Computed as an embedding bag: the same numbers as
        the reference forward, much faster than building padded batches."""
        flat, offsets = [], []
        for tokens in token_lists:
            offsets.append(len(flat))
            flat.extend(vocab.get(word, ref.UNK) for word in tokens[:64])
        with torch.no_grad():
            means = torch.nn.functional.embedding_bag(torch.tensor(flat, dtype=torch.long), model.embedding.weight,
                                                      torch.tensor(offsets, dtype=torch.long), mode="mean")
            predictions = model.linear(means).argmax(dim=-1).numpy()
        return float(np.mean(predictions == labels))

    def check_scratch(self, points, tensors, sample) -> dict:
        problems, tested, largest = [], {}, 0.0
        with one_thread():
            for p in sorted(points, key=lambda p: (p["size"], p["repeat"])):
                key, where = f"{p['size']}/{p['repeat']}", f"size {p['size']}, repeat {p['repeat']}"
                vocab = {word: i for i, word in enumerate(p["vocabulary"])}
                model = ref.BagOfEmbeddings(len(p["vocabulary"]), ref.EMBED_DIM)
                model.load_state_dict({name: tensors[f"scratch/{key}/{name}"]
                                       for name in ("embedding.weight", "linear.weight", "linear.bias")})
                model.eval()
                score = self._scratch_accuracy(model, vocab, self.validation_tokens, self.validation_labels)
                if len(vocab) != len(p["vocabulary"]) or \
                        abs(score - p["scratch_accuracy"]) * len(self.validation_labels) > EVAL_TOLERANCE + 1e-6:
                    problems.append(f"{where}: the saved scratch accuracy {p['scratch_accuracy']:.4f} is not what the "
                                    f"saved model scores on validation ({score:.4f})")
                if p["size"] == max(ref.SIZES):
                    tested[(p["size"], p["repeat"])] = self._scratch_accuracy(model, vocab, self.test_tokens,
                                                                              self.test_labels)
                if sample.get(p["size"]) == p["repeat"]:
                    indices = p["scratch_indices"]
                    retrained_vocab, retrained = ref.train_scratch_point(
                        [self.pool.texts[i] for i in indices], self.pool_labels[indices], p["init_seed"])
                    again = self._scratch_accuracy(retrained, retrained_vocab, self.validation_tokens,
                                                   self.validation_labels)
                    largest = max(largest, abs(again - p["scratch_accuracy"]))
                    if abs(again - p["scratch_accuracy"]) > SCRATCH_TOLERANCE + 1e-9:
                        problems.append(f"{where}: retrained by the grader from the saved indices, the scratch model "
                                        f"scores {again:.4f} on validation, not the saved {p['scratch_accuracy']:.4f} "
                                        f"(tolerance {SCRATCH_TOLERANCE})")
        return {"problems": problems, "test": tested, "largest_difference": largest}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
