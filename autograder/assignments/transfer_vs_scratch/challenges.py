"""The transfer_vs_scratch challenges: what is drawn for each grading, and how answers are judged.

Every spec is plain data; ``harness.py`` builds the inputs from it inside the
sandbox. Texts are random sequences of English words (from MiniLM's
vocabulary) with capitals, digits, apostrophes and punctuation mixed in, so no
answer can be looked up in advance.
"""
from __future__ import annotations

import json
import random

import numpy as np

from autograder import challenges as ch

REAL_VOCAB = 30522  # MiniLM's tokenizer: random encoders read real token ids
ODD_TOKENS = ["It's", "don't", "10/10", "B-movie", "naïve", "Café", "!!!", "...", "—", "A+", "2,000", "'90s", "😀",
              "SO", "Oscar-worthy", "won't", "90-minute", "(sigh)", "well...", "NOT"]


def sentence(rng: random.Random, low: int, high: int, pool: list[str] | None = None, odd: float = 0.15) -> str:
    chosen = []
    for _ in range(rng.randint(low, high)):
        if rng.random() < odd:
            chosen.append(rng.choice(ODD_TOKENS))
        else:
            word = rng.choice(pool or ch.words())
            chosen.append(word.capitalize() if rng.random() < 0.2 else word)
    text = " ".join(chosen)
    return text + rng.choice(["", ".", "!", "?", ","]) if text else text


def draw(rng: random.Random) -> list[dict]:
    d, r = ch.Drawer(rng), rng
    # Part A: nested subsets of fresh pools; one request larger than the pool.
    for _ in range(2):
        n = r.randint(30, 3000)
        sizes = sorted(r.sample(range(1, n + 1), r.randint(2, 5)))
        r.shuffle(sizes)
        d.add("nested_subsets", "nested_subsets", f"nested_subsets({n}, {sizes}, seed)",
              {"n_available": n, "sizes": sizes, "seed": r.randrange(2**31)})
    n = r.randint(20, 400)
    sizes = [r.randint(1, n), n + r.randint(1, 50)]
    d.add("nested_subsets", "nested_subsets", f"nested_subsets({n}, {sizes}, seed) with a size above the pool",
          {"n_available": n, "sizes": sizes, "seed": r.randrange(2**31)})
    # Part B: MiniLM on fresh texts (one call with a short max_length), and random BERT encoders.
    d.add("embed_texts", "embed_texts", "embed_texts with MiniLM on texts of mixed lengths",
          {"encoder": "minilm", "texts": [sentence(r, 1, 25) for _ in range(r.randint(5, 8))],
           "batch_size": r.randint(2, 3), "max_length": 64}, time_factor=2)
    d.add("embed_texts", "embed_texts", "embed_texts with MiniLM and a short max_length",
          {"encoder": "minilm", "texts": [sentence(r, 8, 30) for _ in range(3)] + [sentence(r, 1, 2)],
           "batch_size": 2, "max_length": r.randint(6, 12)}, time_factor=2)
    for _ in range(2):
        heads = r.choice([1, 2, 4])
        config = {"hidden": heads * r.choice([4, 6, 8]), "heads": heads, "layers": r.randint(1, 3), "vocab": REAL_VOCAB,
                  "seed": r.randrange(2**31)}
        d.add("embed_texts", "embed_texts", f"embed_texts with a random {config['layers']}-layer BERT of width "
              f"{config['hidden']}", {"encoder": config, "texts": [sentence(r, 1, 20) for _ in range(r.randint(4, 7))],
                                      "batch_size": r.randint(2, 4), "max_length": 64}, time_factor=2)
    for _ in range(2):
        C = r.choice([0.05, 0.3, 1.0, 4.0])
        d.add("fit_probe", "fit_probe", f"fit_probe on random features with C={C}",
              {"n": r.randint(40, 120), "dim": r.randint(3, 12), "noise": r.choice([0.3, 0.6, 1.0]), "C": C,
               "n_new": 12, "input_seed": r.randrange(2**31)})
    # Part C: vocabulary.
    d.add("tokenize", "tokenize", "tokenize on texts with capitals, digits, apostrophes, punctuation and accents",
          {"texts": [sentence(r, 2, 12, odd=0.4) for _ in range(6)] + ["", "!!! ...", "ÉTÉ Zoë's 3D-film"]})
    for min_count in (1, r.choice([2, 3])):
        pool = r.sample(ch.words(), r.randint(6, 14))
        d.add("build_vocab", "build_vocab", f"build_vocab with min_count={min_count}",
              {"texts": [sentence(r, 1, 9, pool=pool, odd=0.1) for _ in range(r.randint(6, 12))],
               "min_count": min_count})
    for _ in range(2):
        pool = r.sample(ch.words(), r.randint(8, 14))
        known = r.sample(pool, len(pool) // 2)
        max_len = r.randint(3, 7)
        d.add("encode", "encode", f"encode with unknown words, an empty text and max_len={max_len}",
              {"words": [w.lower() for w in known], "max_len": max_len,
               "texts": [sentence(r, 1, 5, pool=pool, odd=0.1) for _ in range(3)] + ["", sentence(r, 9, 12, pool=pool)]})
    pool = r.sample(ch.words(), r.randint(8, 14))
    max_len = r.randint(20, 64)
    d.add("encode", "encode", f"encode on short texts with max_len={max_len}: pad to the longest text only",
          {"words": [w.lower() for w in r.sample(pool, len(pool) // 2)], "max_len": max_len,
           "texts": [sentence(r, 1, 8, pool=pool, odd=0.1) for _ in range(r.randint(3, 5))]})
    for _ in range(2):
        vocab_size = r.randint(5, 60)
        lengths = [r.randint(1, 9) for _ in range(r.randint(3, 6))] + [0]
        r.shuffle(lengths)
        d.add("BagOfEmbeddings", "bag", f"BagOfEmbeddings({vocab_size}, dim, labels) on a padded batch",
              {"vocab_size": vocab_size, "dim": r.randint(3, 16), "num_labels": r.randint(2, 4), "lengths": lengths,
               "input_seed": r.randrange(2**31), "weight_seed": r.randrange(2**31)})
    for _ in range(2):
        count = r.randint(7, 15)
        d.add("train_scratch", "train_scratch", "train_scratch on the grader's small model",
              {"vocab_size": r.randint(10, 40), "dim": r.randint(4, 8), "num_labels": r.randint(2, 3),
               "lengths": [r.randint(1, 8) for _ in range(count)], "epochs": r.randint(2, 3),
               "batch_size": r.randint(2, 5), "lr": r.choice([0.1, 0.3, 0.5]), "input_seed": r.randrange(2**31),
               "weight_seed": r.randrange(2**31), "label_seed": r.randrange(2**31),
               "shuffle_seed": r.randrange(2**31)}, time_factor=2)
    # Part D: the table and the plot.
    for _ in range(2):
        models = r.sample(["pretrained", "scratch", "glove", "tfidf", "finetuned"], r.randint(2, 3))
        sizes = sorted(r.sample([50, 100, 200, 300, 500, 1000, 3000], r.randint(2, 4)))
        rows = []
        for model in models:
            for size in sizes:
                for repeat in range(r.randint(2, 5)):
                    rows.append([model, size, repeat, round(r.uniform(0.5, 0.95), 4)])
        r.shuffle(rows)
        d.add("summarize", "summarize", f"summarize on {len(rows)} results of {len(models)} models", {"rows": rows})
    models = r.sample(["pretrained", "scratch", "glove", "tfidf"], 2)
    sizes = sorted(r.sample([50, 100, 200, 300, 500, 1000, 3000], r.randint(3, 5)))
    table = [[m, s, round(r.uniform(0.55, 0.9), 4), round(r.uniform(0.002, 0.04), 4)] for m in models for s in sizes]
    d.add("plot_curves", "plot", f"plot_curves on a table of {', '.join(models)} at {len(sizes)} sizes", {"table": table})
    return d.specs


# ---------------------------------------------------------------------- judging
def judge(spec: dict, student, reference) -> tuple[bool, str]:
    return JUDGES[spec["kind"]](spec, student, reference)


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else text[:97] + "..."


def judge_nested_subsets(spec, student, reference):
    if "raised" in reference:
        if student.get("raised") == "ValueError":
            return True, ""
        return False, "a size larger than n_available must raise ValueError, not return fewer indices"
    if "raised" in student:
        return False, "raised ValueError although every size fits in n_available"
    mine, theirs = ch.mapping(student["subsets"]), ch.mapping(reference["subsets"])
    if set(mine) != set(theirs):
        return False, f"expected one entry per size {sorted(int(k) for k in theirs)}, got {sorted(mine)[:6]}"
    for key, wanted in theirs.items():
        got = mine[key]
        if len(got) != len(wanted):
            return False, f"the subset of size {key} holds {len(got)} indices"
        if len(set(got)) != len(got):
            return False, f"the subset of size {key} repeats indices: draw without replacement"
        if any(not 0 <= i < spec["args"]["n_available"] for i in got):
            return False, f"the subset of size {key} holds indices outside range(n_available)"
    ordered = sorted(theirs, key=int)
    for small, large in zip(ordered, ordered[1:]):
        if not set(mine[small]) <= set(mine[large]):
            return False, f"the subset of size {small} is not inside the subset of size {large}: subsets must be nested"
    if any(mine[k] != theirs[k] for k in theirs):
        return False, "not the first indices of np.random.default_rng(seed).permutation(n_available), in that order"
    return True, ""


def judge_embed_texts(spec, student, reference):
    mine, theirs = ch.tensor(student["features"]), ch.tensor(reference["features"])
    if mine.shape != theirs.shape:
        return False, f"returned shape {list(mine.shape)}, expected {list(theirs.shape)} (len(texts), hidden_size)"
    if ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        return True, ""
    matched = [any(np.allclose(row, other, rtol=1e-4, atol=1e-5) for other in theirs) for row in mine]
    if all(matched):
        return False, "the rows are right but in the wrong places: row i must hold the features of texts[i]"
    return False, ("the rows differ from the mean of last_hidden_state over each text's real tokens (mask 1, never "
                   "padding; truncation to max_length; the encoder in eval mode)")


def judge_fit_probe(spec, student, reference):
    if student.get("type") != "LogisticRegression":
        return False, f"return the fitted sklearn LogisticRegression, not {student.get('type')}"
    mine, theirs = ch.tensor(student["coef"]), ch.tensor(reference["coef"])
    if mine.shape != theirs.shape:
        return False, f"coef_ has shape {list(mine.shape)}, expected {list(theirs.shape)}"
    if not (ch.close(mine, theirs, rtol=1e-3, atol=1e-4)
            and ch.close(ch.tensor(student["intercept"]), ch.tensor(reference["intercept"]), rtol=1e-3, atol=1e-4)
            and ch.close(ch.tensor(student["probabilities"]), ch.tensor(reference["probabilities"]), rtol=0, atol=1e-4)):
        return False, (f"the fitted weights differ from LogisticRegression(C={spec['args']['C']}, max_iter=1000) "
                       "on the features as they are (no scaling), as float64")
    return True, ""


def judge_tokenize(spec, student, reference):
    for text, mine, theirs in zip(spec["args"]["texts"], student, reference):
        if mine != theirs:
            return False, f"tokenize({text!r}) returned {_short(mine)}, expected {_short(theirs)}"
    return len(student) == len(reference), "one result per text"


def judge_build_vocab(spec, student, reference):
    mine = {w: i for w, i in student}
    theirs = {w: i for w, i in reference}
    extra = sorted(set(mine) - set(theirs))
    if extra:
        return False, (f"the vocabulary holds {len(extra)} words that are not in the texts it was given (or occur "
                       f"fewer than min_count times), e.g. {extra[0]!r}: build it from the given texts only")
    missing = sorted(set(theirs) - set(mine))
    if missing:
        return False, f"the vocabulary lacks {len(missing)} words, e.g. {missing[0]!r}"
    if mine.get("<pad>") != 0 or mine.get("<unk>") != 1:
        return False, "<pad> must have id 0 and <unk> id 1"
    wrong = [w for w in theirs if mine[w] != theirs[w]]
    if wrong:
        return False, (f"wrong id for {wrong[0]!r} ({mine[wrong[0]]}, expected {theirs[wrong[0]]}): most frequent "
                       "first, ties in alphabetical order, counting every occurrence")
    return True, ""


def judge_encode(spec, student, reference):
    if student.get("dtype") != "torch.int64":
        return False, f"the ids must be torch.long, got {student.get('dtype')}"
    mine, theirs = ch.tensor(student["ids"]), ch.tensor(reference["ids"])
    if mine.shape != theirs.shape:
        return False, (f"returned shape {list(mine.shape)}, expected {list(theirs.shape)}: one row per text, as wide "
                       f"as the longest row after truncation to max_len={spec['args']['max_len']}")
    if not np.array_equal(mine, theirs):
        return False, "the ids differ: UNK (1) for unknown words, the first max_len words, PAD (0) on the right"
    return True, ""


def judge_bag(spec, student, reference):
    args = spec["args"]
    if student.get("embedding_type") not in ("Embedding", "EmbeddingBag") or \
            student.get("embedding_shape") != [args["vocab_size"], args["dim"]]:
        return False, (f"self.embedding must be nn.Embedding({args['vocab_size']}, {args['dim']}, padding_idx=PAD), got "
                       f"{student.get('embedding_type')} {student.get('embedding_shape')}")
    if student.get("linear_type") != "Linear" or student.get("linear_shape") != [args["num_labels"], args["dim"]]:
        return False, (f"self.linear must be nn.Linear({args['dim']}, {args['num_labels']}), got "
                       f"{student.get('linear_type')} {student.get('linear_shape')}")
    mine, theirs = ch.tensor(student["logits"]), ch.tensor(reference["logits"])
    if mine.shape != theirs.shape:
        return False, f"logits of shape {list(mine.shape)}, expected {list(theirs.shape)}"
    if not np.isfinite(mine).all():
        return False, "the logits hold NaN or inf: a row with no real token must average to zeros"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        return False, "the logits differ from linear(mean of the embeddings of the real tokens; padding never counts)"
    return True, ""


def judge_train_scratch(spec, student, reference):
    mine, theirs = student["losses"], reference["losses"]
    if len(mine) != len(theirs):
        return False, f"returned {len(mine)} losses for {len(theirs)} batches: one loss per batch, every epoch"
    if not all(isinstance(v, (int, float)) for v in mine):
        return False, "the losses must be numbers (loss.item())"
    if not ch.close(np.array(mine, dtype=np.float64), np.array(theirs, dtype=np.float64), rtol=1e-3, atol=1e-5):
        return False, ("the batch losses differ from cross-entropy of the model's logits on each batch "
                       "(forward, loss, zero the gradients, backward, step, in the order given)")
    trained_mine, trained_theirs = ch.mapping(student["trained"]), ch.mapping(reference["trained"])
    for name, value in trained_theirs.items():
        if name not in trained_mine or not ch.close(ch.tensor(trained_mine[name]), ch.tensor(value), rtol=1e-3, atol=1e-5):
            return False, "the weights after training differ from one optimizer step per batch (zero the gradients first)"
    return True, ""


def judge_summarize(spec, student, reference):
    mine = {tuple(key): i for i, key in enumerate(student["index"])}
    theirs = {tuple(key): i for i, key in enumerate(reference["index"])}
    if set(mine) != set(theirs):
        return False, f"expected one row per (model, size), {len(theirs)} rows; got {len(mine)}"
    missing = [c for c in ("mean", "std", "min", "max", "repeats") if c not in student["values"]]
    if missing:
        return False, f"missing columns {missing} (got {student['columns'][:8]})"
    order = sorted(theirs)
    if [tuple(key) for key in student["index"]] != order:
        return False, "sort the rows by model, then size (sort_index())"
    for column in ("mean", "min", "max", "repeats", "std"):
        got = np.array([_number(student["values"][column][mine[key]]) for key in order])
        wanted = np.array([_number(reference["values"][column][theirs[key]]) for key in order])
        if not np.allclose(got, wanted, rtol=1e-9, atol=1e-9, equal_nan=True):
            if column == "std":
                return False, "std must be the sample standard deviation (ddof=1, pandas' default), per (model, size)"
            return False, f"the {column!r} column is wrong"
    return True, ""


def _number(value):
    if isinstance(value, dict) and "__float__" in value:
        return float("nan")
    return float(value)


def judge_plot(spec, student, reference):
    if student["xscale"] != "log":
        return False, f"the x-axis must be logarithmic (ax.set_xscale('log')), got {student['xscale']!r}"
    bars = {b["label"]: b for b in student["bars"]}
    for wanted in reference["bars"]:
        got = bars.get(wanted["label"])
        if got is None:
            return False, (f"no error-bar curve labelled {wanted['label']!r}: one ax.errorbar(..., label=model) per "
                           f"model (found {sorted(bars)[:4]})")
        if len(got["x"]) != len(wanted["x"]) or not np.allclose(got["x"], wanted["x"]) or \
                not np.allclose(got["y"], wanted["y"], atol=1e-9):
            return False, f"the curve of {wanted['label']!r} must go through its means at its sizes"
        if sorted(zip(got["lows"], got["highs"])) != [] and len(got["lows"]) == len(wanted["lows"]) and \
                np.allclose(sorted(got["lows"]), sorted(wanted["lows"]), atol=1e-9) and \
                np.allclose(sorted(got["highs"]), sorted(wanted["highs"]), atol=1e-9):
            continue
        return False, f"the error bars of {wanted['label']!r} must span mean - std to mean + std (yerr=std)"
    if not student["xlabel"] or not student["ylabel"]:
        return False, "label both axes"
    if not student["legend"] or not all(b["label"] in student["legend"] for b in reference["bars"]):
        return False, "add a legend that names each model"
    return True, ""


JUDGES = {
    "nested_subsets": judge_nested_subsets,
    "embed_texts": judge_embed_texts,
    "fit_probe": judge_fit_probe,
    "tokenize": judge_tokenize,
    "build_vocab": judge_build_vocab,
    "encode": judge_encode,
    "bag": judge_bag,
    "train_scratch": judge_train_scratch,
    "summarize": judge_summarize,
    "plot": judge_plot,
}
