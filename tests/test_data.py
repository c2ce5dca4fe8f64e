"""Datasets: cleaned, deterministic disjoint splits, the test split reserved."""
import hashlib
import inspect

import pytest

from coursekit import data


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_prepared_splits_are_clean_disjoint_and_stratified(name):
    spec = data.DATASETS[name]
    splits = {s: data.read_split(name, s) for s in data.FRACTIONS}
    texts = {s: set(part.texts) for s, part in splits.items()}
    assert not texts["train"] & texts["validation"]
    assert not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    total = sum(len(p) for p in splits.values())
    for s, part in splits.items():
        assert len(texts[s]) == len(part), "duplicates inside a split"
        assert all(t.strip() for t in part.texts)
        assert set(part.labels) == set(range(len(spec.label_names)))
        assert abs(len(part) / total - data.FRACTIONS[s]) < 0.01


def _digest(name):
    return {s: hashlib.sha256(data._split_file(name, s).read_bytes()).hexdigest() for s in data.FRACTIONS}


def test_splits_are_identical_when_rebuilt(tmp_path, monkeypatch):
    before = _digest("sms_spam")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))  # rebuild from the raw file elsewhere
    data.prepare("sms_spam", force=True)
    assert _digest("sms_spam") == before


def test_cleaning_drops_non_labels_empties_duplicates_and_conflicts():
    spec = data.DATASETS["rotten_tomatoes"]
    rows = [("Great  film", "fresh"), ("Great film", "fresh"), ("", "fresh"), ("A plot summary", "plot"),
            ("Mixed", "fresh"), ("Mixed", "rotten"), ("Bad", "rotten")]
    assert data.clean(rows, spec) == [("Great film", 1), ("Bad", 0)]


def test_rotten_tomatoes_sizes_match_the_documented_ones():
    counts = {s: data.read_split("rotten_tomatoes", s).class_counts() for s in data.FRACTIONS}
    assert counts == {"train": {"negative": 3769, "positive": 5157},
                      "validation": {"negative": 538, "positive": 737},
                      "test": {"negative": 1077, "positive": 1474}}


def test_student_loader_never_returns_reserved_test_examples():
    reserved = set(data.read_split("rotten_tomatoes", "test").texts)
    loaded = data.load_dataset("rotten_tomatoes")
    assert not reserved & set(loaded.train.texts)
    assert not reserved & set(loaded.validation.texts)
    assert set(vars(loaded)) == {"train", "validation"}
    # No parameter of the public loader can ask for a split by name.
    assert "split" not in str(inspect.signature(data.load_dataset))


def test_balanced_samples_are_seeded_and_equal_per_class():
    a = data.load_dataset("rotten_tomatoes", n_train=1000, balanced=True, seed=3)
    b = data.load_dataset("rotten_tomatoes", n_train=1000, balanced=True, seed=3)
    c = data.load_dataset("rotten_tomatoes", n_train=1000, balanced=True, seed=4)
    assert a.train.texts == b.train.texts and a.train.texts != c.train.texts
    assert a.train.class_counts() == {"negative": 500, "positive": 500}
    assert len(set(a.train.texts)) == 1000
