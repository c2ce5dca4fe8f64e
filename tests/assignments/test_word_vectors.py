"""word_vectors plug-in: its trusted copies agree with the notebook, and its artifact checks refuse what they must.

The generic tests (tests/test_assignment.py, tests/autograder/test_restore_and_screen.py,
tests/autograder/test_corpus.py) cover release drift, leaks, validate/invert, rules,
calibration and the whole fixture corpus.
"""
import ast
import json
import tempfile
from pathlib import Path

import nbformat
import pytest
import torch
from safetensors.torch import save as save_safetensors

from autograder import nbmeta
from autograder.assignments.word_vectors import reference as ref
from autograder.assignments.word_vectors.artifacts import VOCAB, WEIGHTS, Checker
from coursekit import data
from coursekit.paths import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "source" / "word_vectors" / "word_vectors.ipynb"
BAR = 0.5


def _cells():
    return {nbmeta.grade_id(c): c.source for c in nbformat.read(SOURCE, as_version=4).cells if nbmeta.grade_id(c)}


def test_trusted_constants_are_the_notebooks():
    """The checker rebuilds the run with these constants: they must be the setup cell's."""
    tree = ast.parse(_cells()["setup"])
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("SEED", "N_TRAIN", "NUM_LABELS", "MIN_COUNT", "MAX_LEN"):
                found[name] = ast.literal_eval(node.value)
            elif name.endswith("_PATTERN"):
                found[name] = (ast.literal_eval(node.value.args[0]), len(node.value.args) > 1)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
            found["PAD, UNK"] = ast.literal_eval(node.value)
    assert found == {"SEED": ref.SEED, "N_TRAIN": ref.N_TRAIN, "NUM_LABELS": ref.NUM_LABELS, "MIN_COUNT": ref.MIN_COUNT,
                     "MAX_LEN": ref.MAX_LEN, "PAD, UNK": (ref.PAD, ref.UNK),
                     "URL_PATTERN": (ref.URL_PATTERN.pattern, True), "MENTION_PATTERN": (ref.MENTION_PATTERN.pattern, False),
                     "TOKEN_PATTERN": (ref.TOKEN_PATTERN.pattern, False)}
    assert 'load_dataset("tweets", n_train=N_TRAIN, seed=SEED)' in _cells()["run_training"]


def test_trusted_pipeline_answers_like_the_reference_solution():
    """reference.py's functions give the notebook's reference answers on real tweets."""
    cells = _cells()
    setup = "\n".join(line for line in cells["setup"].splitlines()
                      if not line.startswith(("sets =", "glove =", "print(", "seed_everything", "      f")))
    namespace: dict = {}
    exec(setup, namespace)
    for grade_id in ("tokenize", "build_vocab", "encode", "classifier", "training"):
        exec(cells[grade_id], namespace)
    texts = data.load_dataset("tweets", n_train=600, seed=3).train.texts
    assert [namespace["tokenize"](t) for t in texts] == [ref.tokenize(t) for t in texts]
    tokens = [ref.tokenize(t) for t in texts]
    vocab = ref.build_vocab(tokens)
    assert namespace["build_vocab"](tokens) == vocab and list(namespace["build_vocab"](tokens)) == list(vocab)
    theirs, mine = namespace["encode"](tokens + [[], ["x"] * 50], vocab), ref.encode(tokens + [[], ["x"] * 50], vocab)
    assert torch.equal(theirs[0], mine[0]) and torch.equal(theirs[1], mine[1])
    vectors = torch.randn(len(tokens) + 2, ref.MAX_LEN, 7)
    assert torch.equal(namespace["masked_mean"](vectors, mine[1]), ref.masked_mean(vectors, mine[1]))
    labels = [i % 3 for i in range(50)]
    guesses = [(i * 7) % 3 if i % 5 else 0 for i in range(50)]
    assert namespace["macro_f1"](labels, guesses) == ref.macro_f1(labels, guesses)


# --------------------------------------------------------------- artifact checks
@pytest.fixture(scope="module")
def checker():
    return Checker(BAR)


def _cache() -> Path:
    return Path(tempfile.mkdtemp(prefix="wv-cache-"))


def _honest(checker, seed=0):
    words, matrix, pooled = checker.expected(seed)
    generator = torch.Generator().manual_seed(1)
    tensors = {"embedding.weight": matrix.clone(), "head.weight": torch.randn(3, 50, generator=generator),
               "head.bias": torch.zeros(3)}
    return words, tensors


def _files(words, tensors):
    return {WEIGHTS: save_safetensors(tensors), VOCAB: json.dumps(words).encode()}


def _groups(report):
    return {c.group: c.passed for c in report.checks}


def test_an_honest_export_passes_every_check_but_the_bar_decides_the_score(checker):
    words, tensors = _honest(checker)
    report = checker.check(_files(words, tensors), _cache())
    assert {g: p for g, p in _groups(report).items() if g != "artifact:macro_f1"} == {
        "artifact:files": True, "artifact:vocabulary": True, "artifact:frozen": True, "artifact:trained": True}
    assert 0.0 <= report.measurements["heldout_macro_f1"] <= 1.0
    assert words[:2] == [ref.PAD, ref.UNK] and len(words) > 2000


def test_a_trained_head_reaches_the_bar_on_the_reserved_split(checker):
    words, tensors = _honest(checker)
    sample = data.load_dataset("tweets", n_train=ref.N_TRAIN, seed=0).train
    ids, mask = ref.encode([ref.tokenize(t) for t in sample.texts], {w: i for i, w in enumerate(words)})
    pooled = ref.masked_mean(torch.nn.functional.embedding(ids, tensors["embedding.weight"]), mask)
    head = torch.nn.Linear(50, 3)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(head(pooled), torch.tensor(sample.labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tensors.update({"head.weight": head.weight.detach().clone(), "head.bias": head.bias.detach().clone()})
    report = checker.check(_files(words, tensors), _cache())
    assert all(_groups(report).values()), report


def test_off_contract_exports_fail_every_check(checker):
    words, tensors = _honest(checker)
    buffer = __import__("io").BytesIO()
    torch.save(tensors, buffer)
    cases = {
        "nothing exported": {},
        "no vocabulary": {WEIGHTS: save_safetensors(tensors)},
        "pickle": {WEIGHTS: buffer.getvalue(), VOCAB: json.dumps(words).encode()},
        "vocabulary not JSON": {**_files(words, tensors), VOCAB: b"<pad> <unk>"},
        "vocabulary not a list": {**_files(words, tensors), VOCAB: json.dumps({"<pad>": 0}).encode()},
        "a word twice": _files(words + [words[5]], {**tensors, "embedding.weight": torch.zeros(len(words) + 1, 50)}),
        "extra tensor": _files(words, {**tensors, "backdoor": torch.zeros(1)}),
        "NaN head": _files(words, {**tensors, "head.bias": torch.tensor([float("nan"), 0.0, 0.0])}),
        "rows and words disagree": _files(words[:-1], tensors),
    }
    for name, exported in cases.items():
        assert not any(_groups(checker.check(exported, _cache())).values()), name


def test_a_vocabulary_not_built_from_the_training_sample_earns_nothing(checker):
    words, tensors = _honest(checker)
    validation_only = next(w for t in data.load_dataset("tweets").validation.texts for w in ref.tokenize(t)
                           if w not in set(words) and w in checker.glove)
    more = words + [validation_only]
    matrix = torch.cat([tensors["embedding.weight"], torch.from_numpy(checker.glove[validation_only].copy())[None]])
    report = checker.check(_files(more, {**tensors, "embedding.weight": matrix}), _cache())
    assert _groups(report)["artifact:files"] and not _groups(report)["artifact:vocabulary"]
    assert not _groups(report)["artifact:macro_f1"]
    swapped = words[:2] + [words[3], words[2]] + words[4:]
    assert not _groups(checker.check(_files(swapped, tensors), _cache()))["artifact:vocabulary"]


def test_rows_that_moved_or_a_head_that_never_trained_are_caught(checker):
    words, tensors = _honest(checker)
    moved = tensors["embedding.weight"].clone()
    moved[5, 0] = torch.nextafter(moved[5, 0], torch.tensor(10.0))  # one float step
    report = checker.check(_files(words, {**tensors, "embedding.weight": moved}), _cache())
    assert not _groups(report)["artifact:frozen"] and not _groups(report)["artifact:macro_f1"]
    unknown = next(i for i, w in enumerate(words) if i > 1 and w not in checker.glove)
    noisy = tensors["embedding.weight"].clone()
    noisy[unknown] = 0.01
    assert not _groups(checker.check(_files(words, {**tensors, "embedding.weight": noisy}), _cache()))["artifact:frozen"]
    zero_head = {**tensors, "head.weight": torch.zeros(3, 50)}
    assert not _groups(checker.check(_files(words, zero_head), _cache()))["artifact:trained"]
