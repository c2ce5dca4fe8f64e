"""The transfer_vs_scratch corpus: submissions a class hands in, with the points each deserves.

Small on purpose (every full notebook costs about a minute of CI on one thread):

* honest: unusual but correct solutions; each keeps all 16 automatic points;
* mistake: plausible wrong answers, each losing exactly its share (its own cell, and a curve whose training used
  the function);
* attack: THREATS.md categories; each keeps at most what its honest part deserves.

Bad input (empty files, broken JSON, ...) is generic: see autograder/bad_inputs.py.
"""
from __future__ import annotations

import base64
import json

import nbformat

from autograder.fixtures import Fixture, Notebooks, add_cell, edit_cells, less, zero
from coursekit.paths import PROJECT_ROOT, data_dir

NAME = "transfer_vs_scratch"
FULL = {"test_nested_subsets": 2, "test_embed_texts": 2, "test_fit_probe": 1, "test_vocabulary": 2,
        "test_scratch_model": 2, "test_train_scratch": 1, "test_transfer_curve": 2, "test_scratch_curve": 2,
        "test_summary": 1, "test_plot": 1}
ZERO = zero(FULL)


# ----------------------------------------------------------------- honest
def honest(nb: Notebooks) -> dict[str, Fixture]:
    solved = nb.solved
    out = {}

    def add(name, what, notebook):
        out[f"ok_{name}"] = Fixture("honest", what, notebook, expected=dict(FULL))

    add("embedding_bag", "BagOfEmbeddings built on nn.EmbeddingBag(mode='mean', padding_idx=PAD)", solved({
        "scratch_model": [("        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD)",
                           "        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode=\"mean\", padding_idx=PAD)"),
                          ("        mask = (ids != PAD).unsqueeze(-1).to(self.embedding.weight.dtype)\n"
                           "        total = (self.embedding(ids) * mask).sum(dim=1)\n"
                           "        return self.linear(total / mask.sum(dim=1).clamp(min=1))",
                           "        return self.linear(self.embedding(ids))")]}))
    add("numpy_and_einsum", "numpy arrays for the subsets, einsum pooling with batches of 32 by default, an explicit "
        "solver, sklearn fed .numpy()", solved({
            "nested_subsets": [("    order = np.random.default_rng(seed).permutation(n_available)\n"
                                "    return {size: order[:size].tolist() for size in sizes}",
                                "    rng = np.random.default_rng(seed)\n    order = rng.permutation(n_available)\n"
                                "    subsets = {}\n    for size in sorted(sizes):\n        subsets[size] = order[:size]\n"
                                "    return subsets")],
            "embed_texts": [("def embed_texts(encoder, tokenizer, texts, batch_size=64,",
                             "def embed_texts(encoder, tokenizer, texts, batch_size=32,"),
                            ("            mask = batch[\"attention_mask\"].unsqueeze(-1).to(hidden.dtype)\n"
                             "            features[chosen] = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)",
                             "            weights = batch[\"attention_mask\"].to(hidden.dtype)\n"
                             "            summed = torch.einsum(\"bsd,bs->bd\", hidden, weights)\n"
                             "            for row, i in enumerate(chosen):\n"
                             "                features[i] = summed[row] / weights[row].sum()")],
            "fit_probe": [("    probe = LogisticRegression(C=C, max_iter=1000)\n"
                           "    probe.fit(np.asarray(features, dtype=np.float64), np.asarray(labels))\n    return probe",
                           "    X = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)\n"
                           "    return LogisticRegression(C=C, max_iter=1000, solver=\"lbfgs\").fit(X.astype(\"float64\"), "
                           "list(labels))")]}))
    add("manual_loops", "a compiled regex, most_common and a two-step sort, pad_sequence, a summary built row by row, "
        "plt.errorbar on the current axes", solved({
            "vocabulary": [("    return re.findall(TOKEN_PATTERN, text.lower())",
                            "    return WORD.findall(text.lower())"),
                           ("TOKEN_PATTERN = r\"[a-z0-9']+\"", "TOKEN_PATTERN = r\"[a-z0-9']+\"\nWORD = re.compile(TOKEN_PATTERN)"),
                           ("    counts = Counter(word for text in texts for word in tokenize(text))\n"
                            "    kept = sorted((word for word, count in counts.items() if count >= min_count), "
                            "key=lambda w: (-counts[w], w))",
                            "    counts = Counter()\n    for text in texts:\n        counts.update(tokenize(text))\n"
                            "    kept = [w for w in sorted(counts) if counts[w] >= min_count]  # alphabetical\n"
                            "    kept.sort(key=lambda w: -counts[w])  # a stable sort keeps ties alphabetical")],
            "scratch_model": [("    rows = [[vocab.get(word, UNK) for word in tokenize(text)][:max_len] for text in texts]\n"
                               "    width = max([1] + [len(row) for row in rows])\n"
                               "    ids = torch.full((len(texts), width), PAD, dtype=torch.long)\n"
                               "    for i, row in enumerate(rows):\n        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)\n"
                               "    return ids",
                               "    from torch.nn.utils.rnn import pad_sequence\n"
                               "    rows = [torch.tensor([vocab.get(w, UNK) for w in tokenize(t)][:max_len] or [PAD]) "
                               "for t in texts]\n    return pad_sequence(rows, batch_first=True, padding_value=PAD).long()")],
            "training": [("            loss = nn.functional.cross_entropy(model(ids[batch]), labels[batch])\n"
                          "            optimizer.zero_grad()\n",
                          "            optimizer.zero_grad(set_to_none=True)\n"
                          "            loss = nn.CrossEntropyLoss()(model(ids[batch]), labels[batch])\n")],
            "summarize": [("    frame = pd.DataFrame(results)\n"
                           "    table = frame.groupby([\"model\", \"size\"])[\"accuracy\"].agg([\"mean\", \"std\", \"min\", "
                           "\"max\", \"count\"])\n    return table.rename(columns={\"count\": \"repeats\"}).sort_index()",
                           "    groups = {}\n    for r in results:\n"
                           "        groups.setdefault((r[\"model\"], r[\"size\"]), []).append(r[\"accuracy\"])\n"
                           "    rows = []\n    for key in sorted(groups):\n        values = np.array(groups[key])\n"
                           "        rows.append({\"mean\": values.mean(), \"std\": values.std(ddof=1), \"min\": values.min(),\n"
                           "                     \"max\": values.max(), \"repeats\": len(values)})\n"
                           "    index = pd.MultiIndex.from_tuples(sorted(groups), names=[\"model\", \"size\"])\n"
                           "    return pd.DataFrame(rows, index=index)")],
            "plot_curves": [("    for model in summary.index.get_level_values(\"model\").unique():\n"
                             "        rows = summary.loc[model]\n"
                             "        ax.errorbar(rows.index, rows[\"mean\"], yerr=rows[\"std\"], marker=\"o\", capsize=3, "
                             "label=model)\n    ax.set_xscale(\"log\")",
                             "    plt.sca(ax)\n    for (model, rows) in summary.groupby(level=\"model\"):\n"
                             "        sizes = rows.index.get_level_values(\"size\")\n"
                             "        plt.errorbar(list(sizes), rows[\"mean\"].values, yerr=rows[\"std\"].values, "
                             "fmt=\"-s\", label=str(model))\n    plt.xscale(\"log\")")]}))
    explore = solved()
    for after, code in (("nested_subsets", "import os, sys, warnings\nos.environ['TOKENIZERS_PARALLELISM'] = 'false'\n"
                                           "warnings.warn('just checking')\nprint('debug', file=sys.stderr)\n"
                                           "SIZES, REPEATS = [10, 20], 1  # trying things out before the experiment\n"
                                           "print(nested_subsets(30, SIZES, seed=3))"),
                        ("fit_probe", "%time _f = embed_texts(encoder, tokenizer, ['hi there', 'a dull film'])\n"
                                      "print(_f.shape)"),
                        ("training", "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"
                                     "torch.manual_seed(123)\nPROBE_C = 10.0  # the locked cell sets it back"),
                        ("plot_curves", "%%capture\nprint(summarize([{'model': 'm', 'size': 1, 'repeat': 0, 'accuracy': 1.0}]))")):
        explore = add_cell(explore, code, after)
    add("exploration_cells", "exploration cells: os/sys/warnings, stderr, settings tried out before the locked cells, "
        "%time, %%capture, a plot, a seed", explore)
    legacy = solved()
    for number, cell in enumerate(legacy["cells"]):
        cell["id"] = f"student-{number:03d}"
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].replace("\n", "\r\n")
        if cell["cell_type"] == "code":
            cell["execution_count"] = 90 - number
            cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")]
    legacy = json.loads(json.dumps(legacy))
    legacy["metadata"]["kernelspec"] = {"name": "nlp-course", "display_name": "NLP (venv)", "language": "python"}
    add("legacy_file", "saved as nbformat 3 with CRLF line endings, new cell ids, a custom kernel and stale outputs",
        nbformat.v3.convert.downgrade(nbformat.from_dict(legacy)))
    return out


# ----------------------------------------------------------------- mistakes
def mistakes(nb: Notebooks) -> dict[str, Fixture]:
    solved = nb.solved
    out = {}

    def add(name, what, notebook, *lost):
        out[f"mistake_{name}"] = Fixture("mistake", what, notebook, expected=less(FULL, *lost))

    add("independent_subsets", "a fresh random draw for every size: the subsets are not nested", solved({
        "nested_subsets": [("    order = np.random.default_rng(seed).permutation(n_available)\n"
                            "    return {size: order[:size].tolist() for size in sizes}",
                            "    rng = np.random.default_rng(seed)\n"
                            "    return {size: rng.choice(n_available, size, replace=False).tolist() for size in sizes}")]}),
        "test_nested_subsets", "test_transfer_curve", "test_scratch_curve")
    add("mean_over_padding", "embed_texts averages over the padding too", solved({"embed_texts": [(
        "            mask = batch[\"attention_mask\"].unsqueeze(-1).to(hidden.dtype)\n"
        "            features[chosen] = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)",
        "            features[chosen] = hidden.mean(dim=1)")]}), "test_embed_texts", "test_transfer_curve")
    add("vocab_sees_validation", "build_vocab adds the validation snippets' words 'so that nothing is unknown'", solved({
        "vocabulary": [("    counts = Counter(word for text in texts for word in tokenize(text))",
                        "    texts = list(texts) + list(validation.texts)  # no unknown words at validation time\n"
                        "    counts = Counter(word for text in texts for word in tokenize(text))")]}),
        "test_vocabulary", "test_scratch_curve")
    add("population_std", "summarize uses NumPy's population standard deviation (ddof=0)", solved({"summarize": [(
        "agg([\"mean\", \"std\", \"min\", \"max\", \"count\"])",
        "agg([\"mean\", lambda a: np.std(a), \"min\", \"max\", \"count\"])\n"
        "    table.columns = [\"mean\", \"std\", \"min\", \"max\", \"count\"]")]}), "test_summary")
    add("linear_axis", "plot_curves leaves the x-axis linear", solved({"plot_curves": [(
        "    ax.set_xscale(\"log\")\n", "")]}), "test_plot")
    return out


# ----------------------------------------------------------------- attacks
ROOT, DATA = PROJECT_ROOT, data_dir()


def attacks(nb: Notebooks) -> dict[str, Fixture]:
    release = nb.submission()
    solved = nb.solved
    out = {}

    def add(name, category, what, notebook, allowed=None):
        out[f"atk_{name}"] = Fixture("attack", what, notebook, allowed=dict(allowed or ZERO), category=category)

    def cell(code, after="nested_subsets", base=None):
        return add_cell(base if base is not None else release, code, after)

    from autograder import nbmeta

    add("edited_tests", "tests", "every test cell replaced by print('ok')",
        edit_cells(release, lambda c: {**c, "source": "print('ok')"} if nbmeta.is_test(c) else c))
    add("always_equal", "monkeypatch", "functions return objects whose __eq__ always says True; numpy and torch "
        "comparisons patched to pass",
        cell("import numpy, torch\nclass AlwaysEqual(dict):\n    def __eq__(self, other):\n        return True\n"
             "    __hash__ = None\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
             "def nested_subsets(n, sizes, seed):\n    return AlwaysEqual({s: AlwaysEqual() for s in sizes})\n"
             "def summarize(results):\n    return AlwaysEqual()\ndef tokenize(text):\n    return AlwaysEqual()"))
    add("read_hidden", "read secrets", "reads source/, the grader's plug-in and the reserved test split, and prints them",
        cell(f"import glob\nfor p in ['{ROOT}/source/{NAME}/{NAME}.ipynb', '{ROOT}/autograder/assignments/{NAME}/reference.py'] + "
             f"glob.glob('{DATA}/datasets/*/test.jsonl') + glob.glob('{DATA}/grader/*/*'):\n    try:\n"
             "        print(p, open(p).read()[:300])\n    except Exception as e:\n        print('blocked', p, type(e).__name__)"))
    add("encoded_code", "indirect internals", "base64-encoded code that makes numpy's permutation and pandas' DataFrame "
        "comparisons lie", cell("import base64\nexec(base64.b64decode(" + repr(base64.b64encode(
            b"import numpy, pandas\nnumpy.random.Generator.permutation = lambda self, n: numpy.arange(n)\n"
            b"pandas.DataFrame.__eq__ = lambda self, other: True\n").decode()) + ").decode())"))
    add("os_exit_after_part_a", "crash", "Part A solved, then os._exit(0): Part A's points are kept",
        cell("import os\nos._exit(0)", "nested_subsets",
             nb.submission({"nested_subsets": nb.reference_answers()["nested_subsets"]})),
        {**ZERO, "test_nested_subsets": 2})
    add("html_script", "feedback", "outputs HTML with a script, event handlers and a remote image",
        cell("from IPython.display import HTML, display\ndisplay(HTML(\"<script>alert('pwned')</script>"
             "<img src=x onerror=alert(1)><img src='http://example.com/t.png'>\"))\nprint('<script>alert(3)</script>')"))
    # Artifact smuggling and machine-learning tricks on top of an otherwise honest solution.
    add("fake_accuracy", "artifact", "a full solution, then a cell that rewrites the saved curve with better accuracies",
        add_cell(solved(), "import json\n_record = json.loads(open('submission_export/curve.json').read())\n"
                           "for _p in _record['points']:\n    _p['pretrained_accuracy'] = min(1.0, _p['pretrained_accuracy'] + 0.05)\n"
                           "    _p['scratch_accuracy'] = min(1.0, _p['scratch_accuracy'] + 0.08)\n"
                           "open('submission_export/curve.json', 'w').write(json.dumps(_record))", "answer_advice"),
        less(FULL, "test_transfer_curve", "test_scratch_curve"))
    add("probe_peeks_when_graded", "ML", "fit_probe trains on the validation features too, but only on MiniLM-sized "
        "features (it passes the checks on small ones)", solved({"fit_probe": [(
            "    probe.fit(np.asarray(features, dtype=np.float64), np.asarray(labels))",
            "    X, y = np.asarray(features, dtype=np.float64), np.asarray(labels)\n"
            "    if X.shape[1] == 384 and 'features_validation' in globals():\n"
            "        X = np.concatenate([X, features_validation.numpy()])\n"
            "        y = np.concatenate([y, np.array(validation.labels)])\n    probe.fit(X, y)")]}),
        less(FULL, "test_transfer_curve"))
    add("scratch_trains_on_validation", "ML", "train_scratch also trains on the validation snippets when the model is "
        "as large as the real one", solved({"training": [(
            "    model.train()\n    losses = []\n",
            "    model.train()\n    losses = []\n    if model.embedding.weight.shape[0] > 500 and 'vocab' in globals():\n"
            "        _extra = encode(validation.texts, vocab)\n"
            "        _width = max(ids.shape[1], _extra.shape[1])\n"
            "        ids = torch.cat([nn.functional.pad(ids, (0, _width - ids.shape[1])),\n"
            "                         nn.functional.pad(_extra, (0, _width - _extra.shape[1]))])\n"
            "        labels = torch.cat([labels, torch.tensor(validation.labels)])\n")]}),
        less(FULL, "test_scratch_curve"))
    return out


def corpus() -> dict[str, Fixture]:
    nb = Notebooks.of(NAME)
    fixtures = {"unchanged_release": Fixture("baseline", "the released notebook, unchanged", nb.submission(),
                                             expected=dict(ZERO)),
                "reference": Fixture("baseline", "the instructor's solution", nb.solved(), expected=dict(FULL))}
    for part in (honest, mistakes, attacks):
        fixtures.update(part(nb))
    return fixtures
