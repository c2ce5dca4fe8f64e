"""The word_vectors corpus: submissions a real class hands in, with the points each deserves.

* honest: unusual but correct solutions; every one keeps all 18 automatic points;
* mistake: plausible wrong answers, each losing exactly its share (the cell it
  fails, and the score points when a function the training uses fails);
* attack: THREATS.md categories; each may keep at most what its honest part
  deserves (zero where it did no honest work).

Bad input (empty files, broken JSON, ...) is generic: see autograder/bad_inputs.py.
The corpus is kept small on purpose (CI time): the generic defences are shown
in depth by finetune_last_layer's corpus; this one covers what is specific to
this assignment, plus one attack per THREATS.md category.
"""
from __future__ import annotations

import json

import nbformat

from autograder import nbmeta
from autograder.fixtures import Fixture, Notebooks, add_cell, edit_cells, less, zero
from coursekit.paths import PROJECT_ROOT, data_dir

NAME = "word_vectors"
FULL = {"test_tokenize": 1, "test_build_vocab": 2, "test_encode": 2, "test_coverage": 2, "test_embedding": 2,
        "test_masked_mean": 2, "test_classifier": 1, "test_training": 1, "test_macro_f1": 1, "test_export": 1,
        "test_heldout_f1": 2, "test_word2vec": 1}
ZERO = zero(FULL)


# ------------------------------------------------------------ edits of the reference answers
# {grade_id of an answer cell: [(text in the reference answer, replacement)]}
IDIOMS = {
    "tokenize": [("    text = URL_PATTERN.sub(\" <url> \", text)\n    text = MENTION_PATTERN.sub(\" <user> \", text)\n"
                  "    return TOKEN_PATTERN.findall(text.lower())",
                  "    lowered = text.lower()  # lower-casing first changes nothing: the patterns ignore case\n"
                  "    lowered = re.sub(URL_PATTERN, ' <url> ', lowered)\n"
                  "    lowered = MENTION_PATTERN.sub(' <user> ', lowered)\n"
                  "    return [match.group(0) for match in TOKEN_PATTERN.finditer(lowered)]")],
    "build_vocab": [("    vocab = {PAD: 0, UNK: 1}\n    for word, count in counts.most_common():\n"
                     "        if count >= min_count and word not in vocab:\n            vocab[word] = len(vocab)\n    return vocab",
                     "    ranked = sorted(counts.items(), key=lambda pair: -pair[1])  # a stable sort keeps first-seen order\n"
                     "    kept = [word for word, count in ranked if count >= min_count]\n"
                     "    return {word: index for index, word in enumerate([PAD, UNK] + kept)}")],
    "encode": [("    ids = torch.full((len(token_lists), max_len), vocab[PAD], dtype=torch.long)\n"
                "    mask = torch.zeros(len(token_lists), max_len)\n    for row, tokens in enumerate(token_lists):\n"
                "        kept = [vocab.get(token, vocab[UNK]) for token in tokens[:max_len]]\n"
                "        ids[row, :len(kept)] = torch.tensor(kept, dtype=torch.long)\n        mask[row, :len(kept)] = 1.0\n"
                "    return ids, mask",
                "    rows = []\n    for tokens in token_lists:\n"
                "        row = [vocab[t] if t in vocab else vocab[UNK] for t in tokens][:max_len]\n"
                "        rows.append(row + [vocab[PAD]] * (max_len - len(row)))\n"
                "    ids = torch.tensor(rows, dtype=torch.int64).reshape(len(token_lists), max_len)\n"
                "    return ids, (ids != vocab[PAD]).float()  # <pad> is the only id 0")],
    "classifier": [("    weights = mask.unsqueeze(-1).to(vectors.dtype)\n"
                    "    return (vectors * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)",
                    "    real = mask.unsqueeze(-1) > 0\n    total = vectors.masked_fill(~real, 0.0).sum(dim=1)\n"
                    "    count = mask.sum(dim=1, keepdim=True)\n"
                    "    return torch.where(count > 0, total / count.clamp(min=1e-9), torch.zeros_like(total))")],
    "training": [("    y_true, y_pred = [int(y) for y in y_true], [int(y) for y in y_pred]\n    scores = []\n"
                  "    for c in range(num_labels):\n"
                  "        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)\n"
                  "        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)\n"
                  "        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)\n"
                  "        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)\n"
                  "    return sum(scores) / num_labels",
                  "    truth, guess = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)\n"
                  "    confusion = np.zeros((num_labels, num_labels))\n    np.add.at(confusion, (truth, guess), 1)\n"
                  "    tp = np.diag(confusion)\n    fp = confusion.sum(axis=0) - tp\n    fn = confusion.sum(axis=1) - tp\n"
                  "    denominator = 2 * tp + fp + fn\n"
                  "    f1 = np.divide(2 * tp, denominator, out=np.zeros(num_labels), where=denominator > 0)\n"
                  "    return float(f1.mean())")],
}
OTHER_API = {
    "embedding": [("    matrix = torch.zeros(len(vocab), kv.vector_size)\n    for word, row in vocab.items():\n"
                   "        if word not in (PAD, UNK) and word in kv:\n"
                   "            matrix[row] = torch.from_numpy(np.array(kv[word], dtype=np.float32))\n"
                   "    return nn.Embedding.from_pretrained(matrix, freeze=freeze, padding_idx=vocab[PAD])",
                   "    rows = np.zeros((len(vocab), kv.vector_size), dtype=np.float32)\n"
                   "    for word, index in vocab.items():\n"
                   "        if index > 1 and word in kv.key_to_index:\n"
                   "            rows[index] = kv.get_vector(word)\n"
                   "    embedding = nn.Embedding(len(vocab), kv.vector_size, padding_idx=0)\n"
                   "    with torch.no_grad():\n        embedding.weight.copy_(torch.from_numpy(rows))\n"
                   "    embedding.weight.requires_grad_(not freeze)\n    return embedding")],
    "training": [("        loss = nn.functional.cross_entropy(model(ids[chosen], mask[chosen]), labels[chosen])\n"
                  "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n"
                  "        losses.append(loss.item())",
                  "        optimizer.zero_grad(set_to_none=True)\n        criterion = nn.CrossEntropyLoss()\n"
                  "        logits = model(ids=ids[chosen], mask=mask[chosen])\n"
                  "        loss = criterion(logits, labels[chosen])\n        loss.backward()\n        optimizer.step()\n"
                  "        losses.append(float(loss))"),
                 ("    model.eval()\n    predictions = []\n    with torch.no_grad():\n"
                  "        for batch_ids, batch_mask in zip(ids.split(batch_size), mask.split(batch_size)):\n"
                  "            predictions.append(model(batch_ids, batch_mask).argmax(dim=-1))\n"
                  "    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)",
                  "    model.eval()\n    labels = []\n    with torch.no_grad():\n"
                  "        for begin in range(0, len(ids), batch_size):\n"
                  "            part = slice(begin, begin + batch_size)\n"
                  "            labels += torch.argmax(model(ids[part], mask[part]), dim=1).tolist()\n"
                  "    return torch.tensor(labels, dtype=torch.long)")],
    "export": [("    words = sorted(vocab, key=vocab.get)\n    (folder / \"vocab.json\").write_text(json.dumps(words))",
                "    words = [word for word, _ in sorted(vocab.items(), key=lambda pair: pair[1])]\n"
                "    with open(folder / 'vocab.json', 'w', encoding='utf-8') as handle:\n"
                "        json.dump(words, handle, ensure_ascii=False, indent=1)")],
    "word2vec": [("    return Word2Vec(sentences=token_lists, seed=seed, **WORD2VEC_SETTINGS).wv",
                  "    settings = dict(WORD2VEC_SETTINGS)\n    settings['seed'] = seed\n"
                  "    model = Word2Vec(**settings)\n    model.build_vocab(token_lists)\n"
                  "    model.train(token_lists, total_examples=model.corpus_count, epochs=model.epochs)\n"
                  "    return model.wv")],
}
MISTAKES = {
    "vocab_with_validation": ("build_vocab also counts the validation tweets' words, \"so that fewer words are unknown\"",
                              {"build_vocab": [("    counts = Counter(token for tokens in token_lists for token in tokens)",
                                                "    more = [tokenize(text) for text in sets.validation.texts]\n"
                                                "    counts = Counter(token for tokens in list(token_lists) + more for token in tokens)")]},
                              ("test_build_vocab", "test_heldout_f1")),
    "keeps_last_tokens": ("encode keeps the last max_len tokens of a long text instead of the first",
                          {"encode": [("tokens[:max_len]", "tokens[-max_len:]")]}, ("test_encode", "test_heldout_f1")),
    "random_oov_rows": ("pretrained_embedding gives words GloVe lacks a small random vector instead of zeros",
                        {"embedding": [("    matrix = torch.zeros(len(vocab), kv.vector_size)",
                                        "    matrix = torch.randn(len(vocab), kv.vector_size) * 0.1\n"
                                        "    matrix[vocab[PAD]] = 0.0")]},
                        ("test_embedding", "test_heldout_f1")),
    "mean_counts_padding": ("masked_mean zeroes the padding but divides by the full length",
                            {"classifier": [("weights.sum(dim=1).clamp(min=1.0)", "vectors.shape[1]")]},
                            ("test_masked_mean", "test_heldout_f1")),
    "weighted_f1": ("macro_f1 weights each class by its number of tweets (weighted F1)",
                    {"training": [("    return sum(scores) / num_labels",
                                   "    support = [sum(1 for t in y_true if t == c) for c in range(num_labels)]\n"
                                   "    return sum(s * n for s, n in zip(scores, support)) / max(1, sum(support))")]},
                    ("test_macro_f1",)),
    "word2vec_ignores_seed": ("train_word2vec leaves out the seed (gensim's default seed is used)",
                              {"word2vec": [("Word2Vec(sentences=token_lists, seed=seed, **WORD2VEC_SETTINGS)",
                                             "Word2Vec(sentences=token_lists, **WORD2VEC_SETTINGS)")]},
                              ("test_word2vec",)),
}


# ----------------------------------------------------------------- honest
def honest(nb: Notebooks) -> dict[str, Fixture]:
    solved = nb.solved
    out = {}

    def add(name, what, notebook):
        out[f"ok_{name}"] = Fixture("honest", what, notebook, expected=dict(FULL))

    add("other_idioms", "re.sub after lower-casing, a sorted() vocabulary, list-built ids with the mask from ids != 0, "
        "masked_fill and torch.where pooling, macro-F1 from a numpy confusion matrix", solved(IDIOMS))
    add("other_apis", "embedding filled with copy_ and requires_grad_, nn.CrossEntropyLoss with zero_grad first, "
        "predict over index slices, vocab.json with json.dump(ensure_ascii=False), Word2Vec built then trained",
        solved(OTHER_API))
    explore = solved()
    for after, code in (("tokenize", "import os, sys, warnings\nos.environ['TOKENIZERS_PARALLELISM'] = 'false'\n"
                                     "warnings.warn('just checking')\nprint('debug', file=sys.stderr)\n"
                                     "print(tokenize('Héllo @you ✈️ https://x.y'))"),
                        ("build_vocab", "%time small = build_vocab([['a', 'a']])\n!pip list 2>/dev/null | grep -i gensim"),
                        ("encode", "vocab = build_vocab(train_tokens, min_count=1)  # trying a bigger vocabulary\n"
                                   "train_ids, train_mask = encode(train_tokens, vocab, max_len=8)\nMAX_LEN\n"
                                   "torch.manual_seed(123)"),
                        ("classifier", "plt.plot([1, 2, 3])\nplt.show()\nvalidation = None\nsets = None")):
        explore = add_cell(explore, code, after)
    add("exploration", "exploration cells: os/sys/warnings, stderr, %time, !pip, a plot, a reseed, and the globals "
        "vocab, train_ids, validation and sets overwritten before the training cell", explore)
    formatted = solved({"tokenize": [('    """Lower-cased', '    # Ünïcödé: café, naïve, 😀, 中文\n    """Lower-cased')]})
    for count, cell in enumerate(formatted["cells"]):
        cell["id"] = f"student-{count:03d}"
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].replace("\n", "\r\n")
        if cell["cell_type"] == "code":
            cell["execution_count"] = 97 - count
            cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed!\n")]
    formatted["metadata"]["kernelspec"] = {"name": "nlp-course", "display_name": "NLP (venv)", "language": "python"}
    add("format", "unicode comments, CRLF line endings, new cell ids, stale outputs and counts, another kernel name",
        json.loads(json.dumps(formatted)))
    add("nbformat3", "saved as nbformat 3 by an old tool", nbformat.v3.convert.downgrade(nbformat.from_dict(solved())))
    return out


# ----------------------------------------------------------------- mistakes
def mistakes(nb: Notebooks) -> dict[str, Fixture]:
    return {f"mistake_{name}": Fixture("mistake", what, nb.solved(edits), expected=less(FULL, *lost))
            for name, (what, edits, lost) in MISTAKES.items()}


# ----------------------------------------------------------------- attacks
# An export made by the attacker's own code, after the locked training cell: the reference pipeline written out
# inline, no function of the notebook used. It would pass every artifact check; it earns nothing because the
# score needs the student's functions to pass their checks.
OWN_EXPORT = r'''
import json as _json, re as _re
from collections import Counter as _Counter
from pathlib import Path as _Path
import torch as _torch
from safetensors.torch import save_file as _save
from coursekit import data as _data, models as _models
_sample = _data.load_dataset("tweets", n_train=3000, seed=0)
def _tok(t):
    t = _re.sub(r"https?://\S+|www\.\S+", " <url> ", t, flags=_re.I)
    t = _re.sub(r"@\w+", " <user> ", t)
    return _re.findall(r"<url>|<user>|[a-z0-9]+(?=n't)|n't|'[a-z]+|[a-z0-9]+|[!?]", t.lower())
_tokens = [_tok(t) for t in _sample.train.texts]
_counts = _Counter(w for ts in _tokens for w in ts)
_words = ["<pad>", "<unk>"] + [w for w, c in _counts.most_common() if c >= 2]
_kv = _models.load_glove()
_rows = _torch.zeros(len(_words), 50)
for _i, _w in enumerate(_words):
    if _i > 1 and _w in _kv:
        _rows[_i] = _torch.from_numpy(_kv[_w].copy())
_index = {w: i for i, w in enumerate(_words)}
_ids = _torch.zeros(len(_tokens), 32, dtype=_torch.long)
for _r, _ts in enumerate(_tokens):
    _x = [_index.get(w, 1) for w in _ts][:32]
    _ids[_r, :len(_x)] = _torch.tensor(_x, dtype=_torch.long)
_m = (_ids != 0).float().unsqueeze(-1)
_pooled = (_rows[_ids] * _m).sum(1) / _m.sum(1).clamp(min=1)
_head = _torch.nn.Linear(50, 3)
_opt = _torch.optim.Adam(_head.parameters(), lr=0.05)
_y = _torch.tensor(_sample.train.labels)
for _ in range(300):
    _loss = _torch.nn.functional.cross_entropy(_head(_pooled), _y)
    _opt.zero_grad(); _loss.backward(); _opt.step()
_Path("submission_export").mkdir(exist_ok=True)
_save({"embedding.weight": _rows, "head.weight": _head.weight.detach().contiguous(),
       "head.bias": _head.bias.detach().contiguous()}, "submission_export/classifier.safetensors")
_Path("submission_export/vocab.json").write_text(_json.dumps(_words))
print("own export written")
'''.strip("\n")
ROOT, DATA = PROJECT_ROOT, data_dir()


def attacks(nb: Notebooks) -> dict[str, Fixture]:
    release = nb.submission()
    solved = nb.solved
    out = {}

    def add(name, category, what, notebook, allowed=None):
        out[f"atk_{name}"] = Fixture("attack", what, notebook, allowed=dict(allowed or ZERO), category=category)

    def cell(code, after="tokenize", base=None):
        return add_cell(base if base is not None else release, code, after)

    add("edited_tests", "tests", "every test cell replaced by print('ok') and marked as a 100-point answer",
        edit_cells(release, lambda c: {**c, "source": "print('ok')", "metadata": {"nbgrader": {
            **c["metadata"]["nbgrader"], "points": 100, "solution": True}}} if nbmeta.is_test(c) else c))
    add("forged_answers", "monkeypatch", "json.dumps patched so every challenge answer reports success with no value",
        cell("import json\n_real = json.dumps\njson.dumps = lambda obj, *a, **k: _real({'ok': True, 'value': None} "
             "if isinstance(obj, dict) and 'ok' in obj else obj, *a, **k)", "word2vec"))
    add("always_equal", "monkeypatch", "functions return objects whose __eq__ always says True",
        cell("class AlwaysEqual(list):\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
             "    def __float__(self):\n        return 1.0\n"
             "def tokenize(text):\n    return AlwaysEqual()\ndef build_vocab(token_lists, min_count=2):\n    return AlwaysEqual()\n"
             "def macro_f1(y_true, y_pred, num_labels=3):\n    return AlwaysEqual()\n"
             "def masked_mean(vectors, mask):\n    return AlwaysEqual()", "tokenize"))
    add("read_hidden", "read secrets", "reads source/, the grader's plug-in and the reserved test split, and prints them",
        cell(f"import glob\nfor p in ['{ROOT}/source/{NAME}/{NAME}.ipynb', '{ROOT}/autograder/assignments/{NAME}/harness.py'] + "
             f"glob.glob('{DATA}/datasets/*/test.jsonl'):\n    try:\n        print(p, open(p).read()[:300])\n"
             "    except Exception as e:\n        print('blocked', p, type(e).__name__)"))
    part_a = nb.submission({k: v for k, v in nb.reference_answers().items() if k in ("tokenize", "build_vocab")})
    add("os_exit_after_part_a", "crash", "Part A solved, then os._exit(0): Part A's points are kept",
        cell("import os\nos._exit(0)", "build_vocab", part_a), {**ZERO, "test_tokenize": 1, "test_build_vocab": 2})
    add("pasted_export", "artifact", "an unsolved notebook whose own code writes a correct-looking export after the "
        "training cell", cell(OWN_EXPORT, "word2vec"))
    mean_mistake = MISTAKES["mean_counts_padding"]
    add("export_over_mistake", "artifact", "the mean-counts-padding mistake, then a correct export written by other "
        "code over the graded run's", cell(OWN_EXPORT, "word2vec", solved(mean_mistake[1])), less(FULL, *mean_mistake[2]))
    add("train_embeddings_secretly", "ML", "embedding flags say frozen, but train_epoch unfreezes and trains the rows",
        solved({"training": [("    model.train()\n", "    model.train()\n    for p in model.parameters():\n"
                                                      "        if not p.requires_grad:\n            p.requires_grad_(True)\n"
                                                      "            optimizer.add_param_group({'params': [p], 'lr': 0.01})\n")]}),
        less(FULL, "test_training", "test_heldout_f1"))
    add("hard_coded_predictions", "ML", "predict returns class 0 for every row",
        solved({"training": [("    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)",
                              "    return torch.zeros(len(ids), dtype=torch.long)")]}), less(FULL, "test_training"))
    add("html_script", "feedback", "outputs HTML with a script, event handlers and a remote image",
        cell("from IPython.display import HTML, display\ndisplay(HTML(\"<script>alert('pwned')</script><img src=x onerror=alert(1)>"
             "<img src='http://example.com/track.png'>\"))\nprint('<script>alert(3)</script>')"))
    return out


def corpus() -> dict[str, Fixture]:
    nb = Notebooks.of(NAME)
    fixtures = {"unchanged_release": Fixture("baseline", "the released notebook, unchanged", nb.submission(), expected=dict(ZERO)),
                "reference": Fixture("baseline", "the instructor's solution", nb.solved(), expected=dict(FULL))}
    for part in (honest, mistakes, attacks):
        fixtures.update(part(nb))
    return fixtures
