"""transfer_vs_scratch plug-in: its trusted copies agree with the notebook, its judges fail what they must with a
reason a student can act on, and its artifact checks refuse what they must.

The generic tests (tests/test_assignment.py, tests/autograder/test_restore_and_screen.py,
tests/autograder/test_corpus.py) cover release drift, leaks, validate/invert, rules,
calibration and the whole fixture corpus. Nothing here runs a notebook or builds MiniLM features.
"""
import ast
import json
import random

import nbformat
import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from autograder import challenges as gch
from autograder import harness_runtime as runtime
from autograder import nbmeta
from autograder.assignments import get
from autograder.assignments.transfer_vs_scratch import reference as ref
from autograder.assignments.transfer_vs_scratch.artifacts import CURVE_JSON, CURVE_WEIGHTS, GROUPS, Checker
from coursekit.paths import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "source" / "transfer_vs_scratch" / "transfer_vs_scratch.ipynb"
ASSIGNMENT = get("transfer_vs_scratch")


def _cells():
    return {nbmeta.grade_id(c): c.source for c in nbformat.read(SOURCE, as_version=4).cells if nbmeta.grade_id(c)}


def _constants(source: str) -> dict:
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            names = [target.id] if isinstance(target, ast.Name) else \
                [t.id for t in target.elts] if isinstance(target, ast.Tuple) else []
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            values = [value] if len(names) == 1 else list(value)
            found.update(zip(names, values))
    return found


def test_trusted_constants_are_the_notebooks():
    cells = _cells()
    setup, experiment, vocabulary = _constants(cells["setup"]), _constants(cells["experiment"]), _constants(cells["vocabulary"])
    assert (setup["SEED"], setup["N_POOL"], setup["MAX_LENGTH"]) == (ref.SEED, ref.N_POOL, ref.MAX_LENGTH)
    assert (experiment["SIZES"], experiment["REPEATS"], experiment["PROBE_C"]) == (ref.SIZES, ref.REPEATS, ref.PROBE_C)
    assert (experiment["EMBED_DIM"], experiment["EPOCHS"], experiment["BATCH_SIZE"], experiment["LEARNING_RATE"]) == \
        (ref.EMBED_DIM, ref.EPOCHS, ref.BATCH_SIZE, ref.LEARNING_RATE)
    assert (vocabulary["TOKEN_PATTERN"], vocabulary["PAD"], vocabulary["UNK"]) == (ref.TOKEN_PATTERN, ref.PAD, ref.UNK)
    assert 'load_dataset("rotten_tomatoes", n_train=N_POOL, seed=SEED)' in cells["setup"]
    for seed_formula in ("subset_seed = 1000 * SEED + repeat", "init_seed = 1000 * SEED + 10 * repeat + position"):
        assert seed_formula in cells["experiment"]
    assert ref.subset_seed(0, 3) == 3 and ref.init_seed(2, 3, 4) == 2034
    assert "FORMAT" not in cells["experiment"] and f'"format": "{ref.FORMAT}"' in cells["experiment"]


def _solution_namespace() -> dict:
    cells = _cells()
    imports = "\n".join(line for line in cells["setup"].splitlines() if line.startswith(("import ", "from ")))
    namespace: dict = {}
    exec(imports + "\nMAX_LENGTH = 64\n", namespace)
    for grade_id in ("nested_subsets", "embed_texts", "fit_probe", "vocabulary", "scratch_model", "training",
                     "summarize", "plot_curves"):
        exec(cells[grade_id], namespace)
    return namespace


def test_trusted_functions_answer_like_the_reference_solution():
    from coursekit import data

    ns = _solution_namespace()
    texts = data.load_dataset("rotten_tomatoes", n_train=300, seed=5).train.texts
    assert ns["nested_subsets"](500, [3, 50, 7], 9) == ref.nested_subsets(500, [3, 50, 7], 9)
    assert [ns["tokenize"](t) for t in texts] == [ref.tokenize(t) for t in texts]
    for min_count in (1, 2, 3):
        assert list(ns["build_vocab"](texts, min_count).items()) == list(ref.build_vocab(texts, min_count).items())
    vocab = ref.build_vocab(texts[:100])
    assert torch.equal(ns["encode"](texts[100:], vocab), ref.encode(texts[100:], vocab))
    torch.manual_seed(0)
    theirs = ns["BagOfEmbeddings"](len(vocab), 8)
    mine = ref.BagOfEmbeddings(len(vocab), 8)
    mine.load_state_dict(theirs.state_dict())
    ids = ref.encode(texts[:20], vocab)
    assert torch.equal(theirs(ids), mine(ids))
    rows = [{"model": m, "size": s, "repeat": r, "accuracy": random.Random(r + s).random()}
            for m in ("a", "b") for s in (10, 20) for r in range(3)]
    assert ns["summarize"](rows).equals(ref.summarize(rows))
    start = _cells()["experiment"]
    assert "model.embedding.weight.normal_(0.0, 0.1, generator=generator)" in start and \
        "model.linear.weight.uniform_(-EMBED_DIM ** -0.5, EMBED_DIM ** -0.5, generator=generator)" in start


def _harness():
    namespace = dict(vars(runtime))
    exec(ASSIGNMENT.harness_source(), namespace)
    return namespace


KINDS_WITHOUT_MODELS = ("nested_subsets", "fit_probe", "tokenize", "build_vocab", "encode", "bag", "train_scratch",
                        "summarize", "plot")


def _answers(harness, namespace, specs):
    out = {}
    for spec in specs:
        runtime.reset_globals(spec["seed"])
        try:
            out[spec["name"]] = {"ok": True, "value": json.loads(json.dumps(harness["CALLS"][spec["kind"]](namespace, spec["args"])))}
        except Exception as error:
            out[spec["name"]] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return out


@pytest.fixture(scope="module")
def drawn():
    import matplotlib

    matplotlib.use("Agg")
    specs = [s for s in ASSIGNMENT.draw_challenges(random.Random(11)) if s["kind"] in KINDS_WITHOUT_MODELS]
    harness = _harness()
    reference = _answers(harness, _solution_namespace(), specs)
    assert all(a["ok"] for a in reference.values()), reference
    return specs, harness, reference


MISTAKES = {
    "nested_subsets": ("independent draws", "nested_subsets",
                       "def nested_subsets(n, sizes, seed):\n    rng = np.random.default_rng(seed)\n"
                       "    if max(sizes) > n: raise ValueError\n"
                       "    return {s: rng.choice(n, s, replace=False).tolist() for s in sizes}", "nested"),
    "tokenize": ("no lower-casing", "tokenize", "def tokenize(text):\n    return re.findall(r\"[A-Za-z0-9']+\", text)",
                 "tokenize("),
    "build_vocab": ("sees other words", "build_vocab",
                    "_real = build_vocab\ndef build_vocab(texts, min_count=1):\n"
                    "    return _real(list(texts) + ['leaked validation words'], min_count)", "not in the texts"),
    "encode": ("pads to max_len", "encode",
               "_real_encode = encode\ndef encode(texts, vocab, max_len=64):\n    ids = _real_encode(texts, vocab, max_len)\n"
               "    return torch.nn.functional.pad(ids, (0, max_len - ids.shape[1]))", "shape"),
    "bag": ("mean over padding", "BagOfEmbeddings",
            "class BagOfEmbeddings(nn.Module):\n    def __init__(self, v, dim=64, num_labels=2):\n        super().__init__()\n"
            "        self.embedding = nn.Embedding(v, dim, padding_idx=0)\n        self.linear = nn.Linear(dim, num_labels)\n"
            "    def forward(self, ids):\n        return self.linear(self.embedding(ids).mean(dim=1))", "padding never"),
    "train_scratch": ("no zero_grad", "train_scratch",
                      "def train_scratch(model, optimizer, ids, labels, epochs, batch_size, generator):\n    losses = []\n"
                      "    for _ in range(epochs):\n        for b in torch.randperm(len(ids), generator=generator).split(batch_size):\n"
                      "            loss = nn.functional.cross_entropy(model(ids[b]), labels[b])\n            loss.backward()\n"
                      "            optimizer.step()\n            losses.append(loss.item())\n    return losses", "zero the gradients"),
    "summarize": ("population std", "summarize",
                  "def summarize(results):\n    t = pd.DataFrame(results).groupby(['model', 'size'])['accuracy']"
                  ".agg(['mean', lambda a: np.std(a), 'min', 'max', 'count'])\n"
                  "    t.columns = ['mean', 'std', 'min', 'max', 'repeats']\n    return t", "ddof=1"),
    "plot": ("linear axis", "plot_curves",
             "_real_plot = plot_curves\ndef plot_curves(summary):\n    ax = _real_plot(summary)\n    ax.set_xscale('linear')\n"
             "    return ax", "logarithmic"),
    "fit_probe": ("scaled features", "fit_probe",
                  "def fit_probe(features, labels, C):\n    from sklearn.preprocessing import StandardScaler\n"
                  "    X = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))\n"
                  "    return LogisticRegression(C=C, max_iter=1000).fit(X, labels)", "no scaling"),
}


@pytest.mark.parametrize("kind", sorted(MISTAKES))
def test_a_plausible_mistake_fails_its_challenge_with_a_useful_reason(drawn, kind):
    specs, harness, reference = drawn
    what, function, code, words = MISTAKES[kind]
    namespace = _solution_namespace()
    exec(code, namespace)
    chosen = [s for s in specs if s["kind"] == kind]
    checks = gch.judge_all(ASSIGNMENT, chosen, _answers(harness, namespace, chosen), reference, "missing")
    failed = [c for c in checks if not c.passed]
    assert failed, what
    assert any(words in c.reason for c in failed), [c.reason for c in failed]


def test_the_reference_passes_every_challenge(drawn):
    specs, harness, reference = drawn
    namespace = _solution_namespace()
    checks = gch.judge_all(ASSIGNMENT, specs, _answers(harness, namespace, specs), reference, "missing")
    assert all(c.passed for c in checks), [c.reason for c in checks if not c.passed]


# ------------------------------------------------------------------ artifacts (no MiniLM features needed)
@pytest.fixture(scope="module")
def checker():
    return Checker(bar=0.7)


def honest_export(checker) -> tuple[dict, dict]:
    """A well-formed export with the fixed subsets and their vocabularies (the weights are random)."""
    generator = torch.Generator().manual_seed(0)
    points, tensors = [], {}
    for repeat in range(ref.REPEATS):
        seed = ref.subset_seed(ref.SEED, repeat)
        subsets = ref.nested_subsets(ref.N_POOL, ref.SIZES, seed)
        for position, size in enumerate(ref.SIZES):
            indices = subsets[size]
            vocab = ref.build_vocab([checker.pool.texts[i] for i in indices])
            key = f"{size}/{repeat}"
            tensors[f"pretrained/{key}/weight"] = torch.randn(1, 384, dtype=torch.float64, generator=generator)
            tensors[f"pretrained/{key}/bias"] = torch.zeros(1, dtype=torch.float64)
            tensors[f"scratch/{key}/embedding.weight"] = torch.randn(len(vocab), ref.EMBED_DIM, generator=generator)
            tensors[f"scratch/{key}/linear.weight"] = torch.randn(2, ref.EMBED_DIM, generator=generator)
            tensors[f"scratch/{key}/linear.bias"] = torch.zeros(2)
            points.append({"size": size, "repeat": repeat, "subset_seed": seed,
                           "init_seed": ref.init_seed(ref.SEED, repeat, position), "pretrained_indices": indices,
                           "scratch_indices": list(indices), "vocabulary": list(vocab), "pretrained_accuracy": 0.5,
                           "scratch_accuracy": 0.5})
    return {"format": ref.FORMAT, "settings": ref.settings(), "points": points}, tensors


def _files(record, tensors) -> dict:
    return {CURVE_JSON: json.dumps(record).encode(), CURVE_WEIGHTS: save_safetensors(tensors)}


@pytest.fixture(scope="module")
def honest(checker):
    return honest_export(checker)


def test_an_honest_export_reads_and_its_subsets_and_vocabularies_pass(checker, honest):
    record, points, tensors = checker.read(_files(*honest))
    assert checker.check_indices(points) == [] and checker.check_vocabularies(points) == []


def _changed(honest, change):
    import copy

    record, tensors = copy.deepcopy(honest[0]), dict(honest[1])
    change(record, tensors)
    return record, tensors


@pytest.mark.parametrize("case, change, words", [
    ("missing weights", lambda r, t: t.pop("scratch/100/0/linear.bias"), "missing"),
    ("NaN weights", lambda r, t: t.__setitem__("pretrained/100/0/bias", torch.tensor([float("nan")], dtype=torch.float64)), "NaN"),
    ("other settings", lambda r, t: r["settings"].__setitem__("epochs", 50), "fixed settings"),
    ("a point missing", lambda r, t: r["points"].pop(), "every size and repeat"),
    ("a point twice", lambda r, t: r["points"].__setitem__(1, r["points"][0]), "exactly once"),
    ("a fake accuracy", lambda r, t: r["points"][0].__setitem__("scratch_accuracy", 1.5), "not an accuracy"),
    ("an index outside the pool", lambda r, t: r["points"][0]["pretrained_indices"].__setitem__(0, 10**6), "outside the pool"),
    ("an extra field", lambda r, t: r["points"][0].__setitem__("note", "hi"), "fields"),
])
def test_an_export_off_contract_fails_every_artifact_check(checker, honest, case, change, words):
    report = checker.check(_files(*_changed(honest, change)))
    assert [c.group for c in report.checks] == list(GROUPS) and not any(c.passed for c in report.checks), case
    assert all(words in c.reason for c in report.checks), (case, report.checks[0].reason)


def test_missing_files_and_pickles_are_refused(checker, honest):
    files = _files(*honest)
    assert "did not save" in checker.check({CURVE_JSON: files[CURVE_JSON]}).checks[0].reason
    pickled = {CURVE_JSON: files[CURVE_JSON], CURVE_WEIGHTS: b"\x80\x04" + b"0" * 100}
    assert "pickle" in checker.check(pickled).checks[0].reason


def test_different_subsets_for_the_two_models_or_other_seeds_are_caught(checker, honest):
    def swap(record, tensors):
        record["points"][3]["scratch_indices"] = record["points"][3]["scratch_indices"][::-1]

    record, points, tensors = checker.read(_files(*_changed(honest, swap)))
    assert "different snippets" in checker.check_indices(points)[0]

    def other_draw(record, tensors):
        point = record["points"][2]
        point["pretrained_indices"] = point["scratch_indices"] = ref.nested_subsets(ref.N_POOL, ref.SIZES, 99)[point["size"]]

    record, points, tensors = checker.read(_files(*_changed(honest, other_draw)))
    assert "not the one nested_subsets gives" in checker.check_indices(points)[0]


def test_a_vocabulary_with_words_from_outside_its_subset_is_caught(checker, honest):
    def leak(record, tensors):
        point = record["points"][0]
        point["vocabulary"].append("zzzvalidationword")
        key = f"{point['size']}/{point['repeat']}"
        tensors[f"scratch/{key}/embedding.weight"] = torch.zeros(len(point["vocabulary"]), ref.EMBED_DIM)

    record, points, tensors = checker.read(_files(*_changed(honest, leak)))
    problems = checker.check_vocabularies(points)
    assert len(problems) == 1 and "'zzzvalidationword'" in problems[0] and "subset only" in problems[0]


def test_retraining_a_scratch_point_here_gives_bit_identical_weights():
    """The tolerance absorbs honest variants; the reference itself must reproduce exactly on one thread."""
    from autograder.assignments.transfer_vs_scratch.artifacts import one_thread

    texts = [f"word{i % 7} film{i % 3} good" if i % 2 else f"bad word{i % 5}" for i in range(60)]
    labels = np.array([i % 2 for i in range(60)])
    with one_thread():
        first = ref.train_scratch_point(texts, labels, 5)[1].state_dict()
        second = ref.train_scratch_point(texts, labels, 5)[1].state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_the_sample_of_retrained_points_is_one_repeat_per_size_repeatable_and_secret(checker):
    key = b"k" * 32
    sample = checker.sampled_repeats(b"some export", key)
    assert sorted(sample) == ref.SIZES and all(0 <= r < ref.REPEATS for r in sample.values())
    assert sample == checker.sampled_repeats(b"some export", key)
    # Without the key nobody can tell which repeats are retrained: over other keys every repeat of a size comes up.
    drawn = [checker.sampled_repeats(b"some export", bytes([i]) * 32) for i in range(60)]
    assert all({d[size] for d in drawn} == set(range(ref.REPEATS)) for size in ref.SIZES)
