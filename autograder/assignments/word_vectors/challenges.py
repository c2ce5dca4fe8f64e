"""The word_vectors challenges: what is drawn for each grading, and how answers are judged.

Every spec is plain data; ``harness.py`` builds the inputs from it inside the
sandbox. Texts are tweet-like strings made of everyday words, invented words
(which occur in no real tweet, so a vocabulary that holds one was built from
data it was not given), mentions, hashtags, links, contractions,
punctuation, digits and non-ASCII characters.
"""
from __future__ import annotations

import random
import string

import numpy as np

from autograder import challenges as ch

from . import reference as ref

COMMON = ("good", "bad", "great", "awful", "flight", "delay", "crew", "seat", "bag", "ticket", "game", "ball", "team",
          "coach", "phone", "car", "music", "show", "love", "hate", "thanks", "again", "never", "always", "today",
          "night", "service", "airport", "plane", "gate", "staff", "line", "hour", "time", "home", "best", "worst",
          "happy", "sad", "late", "early", "new", "old", "fun", "long", "free", "nice", "rude", "fast", "slow")
CONTRACTIONS = ("can't", "don't", "won't", "it's", "I'm", "they're", "Isn't", "you'll", "DIDN'T", "we've")
PUNCTUATION = ("!", "!!", "?", "?!", "...", ",", ".", ":)", ";-)", "&amp;", "$5", "-", "(", ")", '"', ":")
NON_ASCII = ("café", "naïve", "😀", "Õ¢_", "–", "über", "日本")
SYLLABLES = ("ba", "ko", "ri", "zu", "mel", "tor", "vex", "qui", "dra", "lin", "sor", "pex", "ju", "wam", "fen", "yol")


def invented(rng: random.Random, taken: set[str]) -> str:
    """A lower-case word that is in no dictionary (and not already taken)."""
    while True:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(("x", "q", "z", "zz"))
        if word not in taken:
            taken.add(word)
            return word


def _case(rng: random.Random, word: str) -> str:
    return rng.choice((word, word, word.capitalize(), word.upper()))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def tweet(rng: random.Random) -> str:
    """A tweet-like text exercising every rule of tokenize."""
    taken: set[str] = set()
    pieces = []
    for _ in range(rng.randint(6, 14)):
        kind = rng.random()
        if kind < 0.45:
            pieces.append(_case(rng, rng.choice(COMMON)))
        elif kind < 0.55:
            pieces.append(rng.choice(CONTRACTIONS))
        elif kind < 0.63:
            pieces.append("@" + invented(rng, taken) + rng.choice(("", "_", "_" + str(rng.randint(1, 99)))))
        elif kind < 0.71:
            pieces.append("#" + "".join(w.capitalize() for w in rng.sample(COMMON, 2)) + rng.choice(("", "2015")))
        elif kind < 0.78:
            pieces.append(rng.choice((f"http://t.co/{_alnum(rng, 10)}", f"https://www.{rng.choice(COMMON)}.com/{_alnum(rng, 4)}",
                                      f"www.{rng.choice(COMMON)}.org", f"HTTPS://T.CO/{_alnum(rng, 6)}")))
        elif kind < 0.88:
            pieces.append(rng.choice(PUNCTUATION))
        elif kind < 0.94:
            pieces.append(rng.choice(("2015", "49ers", "5th", "100", "3d")))
        else:
            pieces.append(rng.choice(NON_ASCII))
    glue = [rng.choice((" ", " ", " ", "  ", "")) if p in PUNCTUATION else " " for p in pieces]
    return "".join(p + g for p, g in zip(pieces, glue)).strip()


def zipf_tokens(rng: random.Random, pool: list[str], rows: int, low: int, high: int) -> list[list[str]]:
    """Token lists whose word counts vary (a few frequent words, many rare ones): ties and min_count matter."""
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    return [rng.choices(pool, weights, k=rng.randint(low, high)) for _ in range(rows)]


def _vocab_pairs(words: list[str]) -> list[list]:
    return [[ref.PAD, 0], [ref.UNK, 1]] + [[w, i + 2] for i, w in enumerate(words)]


def _model(r: random.Random, frozen: bool = True, head_scale: float = 0.5) -> dict:
    return {"vocab": r.randint(12, 60), "dim": r.randint(3, 12), "labels": r.randint(2, 4), "seed": r.randrange(2**31),
            "frozen": frozen, "head_scale": head_scale}


def _lengths(r: random.Random, rows: int, width: int, empty: bool = False) -> list[int]:
    lengths = [width] + [r.randint(1, width) for _ in range(rows - 1)]
    if empty:
        lengths[-1] = 0
    r.shuffle(lengths)
    return lengths


def draw(rng: random.Random) -> list[dict]:
    d = ch.Drawer(rng)
    r = rng
    # Part A: tokenize, on tweet-like texts (one call also holds an empty and a blank text).
    for i in range(3):
        texts = [tweet(r) for _ in range(r.randint(3, 5))] + (["", "   ... !?"] if i == 0 else [])
        d.add("tokenize", "tokenize", "tokenize on tweets with links, mentions, hashtags and contractions",
              {"texts": texts})
    # build_vocab: training token lists; "other" lists (standing in for validation) share some words and hold
    # invented words of their own; min_count default, 1 and 3.
    for min_count in (None, 1, 3):
        taken: set[str] = set()
        pool = [invented(r, taken) for _ in range(r.randint(10, 18))] + r.sample(COMMON, 4)
        r.shuffle(pool)
        train = zipf_tokens(r, pool, r.randint(8, 14), 2, 9)
        seen = sorted({t for tokens in train for t in tokens})
        other_only = [invented(r, taken) for _ in range(r.randint(4, 8))]
        other = [r.sample(seen, min(2, len(seen))) + r.choices(other_only, k=r.randint(2, 5)) for _ in range(r.randint(4, 8))]
        label = "build_vocab with the default min_count" if min_count is None else f"build_vocab with min_count={min_count}"
        d.add("build_vocab", "build_vocab", label, {"train": train, "other": other, "min_count": min_count,
                                                    "other_only": other_only})
    # Part B: encode; rows of four kinds (normal with unknown words, empty, longer than max_len, all unknown).
    for max_len in (r.randint(5, 9), r.randint(10, 14), None):
        width = max_len or ref.MAX_LEN
        taken = set()
        words = [invented(r, taken) for _ in range(r.randint(6, 15))]
        unknown = [invented(r, taken) for _ in range(6)]
        rows = [("normal", [r.choice(words + unknown[:2]) for _ in range(r.randint(1, width - 1))]),
                ("normal", [r.choice(words) for _ in range(r.randint(1, width))]),
                ("empty", []),
                ("long", [r.choice(words + unknown) for _ in range(width + r.randint(1, 12))]),
                ("unknown", [r.choice(unknown) for _ in range(r.randint(1, width))])]
        r.shuffle(rows)
        label = "encode with the default max_len" if max_len is None else f"encode with max_len={max_len}"
        d.add("encode", "encode", label, {"vocab": _vocab_pairs(words), "token_lists": [t for _, t in rows],
                                          "kinds": [k for k, _ in rows], "max_len": max_len})
    # Part C: coverage with small KeyedVectors.
    for _ in range(2):
        taken = set()
        pool = [invented(r, taken) for _ in range(r.randint(8, 14))]
        known = r.sample(pool, len(pool) // 2)
        d.add("glove_coverage", "coverage", "glove_coverage with small word vectors",
              {"token_lists": zipf_tokens(r, pool, r.randint(5, 10), 1, 8),
               "kv": {"words": known + [invented(r, taken) for _ in range(3)], "dim": r.randint(2, 8),
                      "seed": r.randrange(2**31)}})
    # Part D: pretrained_embedding with freeze default and freeze=False; the vectors know <unk> too.
    for freeze in (None, False):
        taken = set()
        words = [invented(r, taken) for _ in range(r.randint(6, 14))]
        known = r.sample(words, max(1, len(words) * 2 // 3)) + [ref.UNK] + [invented(r, taken) for _ in range(2)]
        r.shuffle(known)
        vocab = _vocab_pairs(words)
        d.add("pretrained_embedding", "embedding",
              "pretrained_embedding with the default freeze" if freeze is None else "pretrained_embedding with freeze=False",
              {"vocab": vocab, "kv": {"words": known, "dim": r.randint(3, 20), "seed": r.randrange(2**31)},
               "freeze": freeze, "lookup": [r.randrange(len(vocab)) for _ in range(6)],
               "known": [w for w in words if w in known]})
    # Part E.
    for empty in (False, True, True):
        rows, width = r.randint(2, 6), r.randint(3, 12)
        d.add("masked_mean", "masked_mean", "masked_mean on padded tensors" + (" with a row of padding only" if empty else ""),
              {"lengths": _lengths(r, rows, width, empty), "width": width, "dim": r.randint(3, 30),
               "input_seed": r.randrange(2**31), "garbage": r.choice([1e4, -7.5, 42.0])})
    for _ in range(2):
        width = r.randint(3, 10)
        d.add("MeanClassifier", "classifier", "MeanClassifier on another embedding and label count",
              {"vocab": r.randint(10, 50), "dim": r.randint(3, 20), "labels": r.randint(2, 5), "seed": r.randrange(2**31),
               "lengths": _lengths(r, r.randint(2, 5), width, empty=r.random() < 0.5), "width": width,
               "input_seed": r.randrange(2**31)})
    # Part F.
    for frozen in (True, False):
        rows, width = r.randint(18, 36), r.randint(4, 9)
        d.add("train_epoch", "train_epoch", "train_epoch with a " + ("frozen" if frozen else "trainable") + " embedding",
              {"model": _model(r, frozen=frozen), "lengths": _lengths(r, rows, width), "width": width,
               "input_seed": r.randrange(2**31), "label_seed": r.randrange(2**31), "batch_size": r.randint(4, 8),
               "shuffle_seed": r.randrange(2**31), "lr": 0.5})
    for _ in range(2):
        rows, width = r.randint(25, 70), r.randint(3, 9)
        d.add("predict", "predict", "predict on rows that do not fill the last batch",
              {"model": _model(r, head_scale=5.0), "lengths": _lengths(r, rows, width, empty=True), "width": width,
               "input_seed": r.randrange(2**31), "batch_size": r.choice([4, 6, 7, 9])})
    labels = r.randint(3, 5)
    n = r.randint(20, 40)
    y_true = [r.randrange(labels) for _ in range(n)]
    d.add("macro_f1", "macro_f1", "macro_f1 on random labels",
          {"y_true": y_true, "y_pred": [y if r.random() < 0.6 else r.randrange(labels) for y in y_true],
           "num_labels": labels, "as_tensors": False, "case": "random"})
    never = r.randrange(labels)
    d.add("macro_f1", "macro_f1", "macro_f1 with a class that is never predicted (as tensors)",
          {"y_true": y_true, "y_pred": [y if y != never else (y + 1) % labels for y in y_true],
           "num_labels": labels, "as_tensors": True, "case": "never_predicted"})
    used = r.randint(2, labels - 1)
    small_true = [r.randrange(used) for _ in range(n)]
    d.add("macro_f1", "macro_f1", f"macro_f1 with num_labels={labels} and classes that never occur",
          {"y_true": small_true, "y_pred": [y if r.random() < 0.7 else r.randrange(used) for y in small_true],
           "num_labels": labels, "as_tensors": False, "case": "never_occurs"})
    for transposed in (False, True):
        taken = set()
        model = _model(r)
        words = [invented(r, taken) for _ in range(model["vocab"] - 2)]
        pairs = _vocab_pairs(words)
        r.shuffle(pairs)  # the dict's order is not the ids' order
        d.add("export_model", "export", "export_model on a small model" + (" whose head weight is not contiguous" if transposed else ""),
              {"model": model, "vocab": pairs, "transposed_head": transposed,
               "folder": f"exports/{r.choice(['a', 'b', 'c'])}{r.randint(0, 99)}/model"}, time_factor=2)
    # Part G: Word2Vec on a small corpus, with another seed.
    taken = set()
    pool = [invented(r, taken) for _ in range(r.randint(20, 30))] + list(r.sample(COMMON, 8))
    d.add("train_word2vec", "word2vec", "train_word2vec on a small corpus with another seed",
          {"corpus": zipf_tokens(r, pool, r.randint(60, 90), 4, 12), "seed": r.randrange(1, 2**31)}, time_factor=2)
    return d.specs


# ---------------------------------------------------------------------- judging
def judge(spec: dict, student, reference) -> tuple[bool, str]:
    try:
        return JUDGES[spec["kind"]](spec, student, reference)
    except ch.BadValue:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        # The harness reports a fixed shape; anything else was not made by it (a tampered kernel).
        return False, "the answer does not have the form the check expects"


def _first_difference(mine: list, theirs: list) -> str:
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            return f"token {i + 1} is {a!r} where {b!r} was expected"
    return f"{len(mine)} tokens where {len(theirs)} were expected"


def judge_tokenize(spec, student, reference):
    if not isinstance(student, list) or len(student) != len(reference):
        return False, "tokenize must return one list of tokens per text"
    for mine, theirs in zip(student, reference):
        if mine == theirs:
            continue
        flat = " ".join(mine)
        if any(t != t.lower() for t in mine):
            return False, "tokens must be lower-case"
        if "<url>" in theirs and "<url>" not in mine:
            return False, "links (URL_PATTERN) must become <url>, before anything else"
        if "<user>" in theirs and "<user>" not in mine:
            return False, "@mentions (MENTION_PATTERN) must become <user>"
        if "#" in flat or "@" in flat or any(c in flat for c in ".,:;()$&\""):
            return False, "only the tokens TOKEN_PATTERN finds are kept: #, @ and other symbols are dropped"
        if "n't" in theirs and "n't" not in mine:
            return False, "contractions are split as GloVe splits them (ca + n't): use TOKEN_PATTERN.findall"
        return False, "tokens differ from the rules: " + _first_difference(mine, theirs)
    return True, ""


def _pairs(value) -> list | None:
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return value
    return None


def judge_build_vocab(spec, student, reference):
    mine = _pairs(student)
    if mine is None:
        return False, "build_vocab must return a dict from word to id"
    theirs = reference
    words = [w for w, _ in mine]
    leaked = [w for w in words if w in set(spec["args"]["other_only"])]
    if leaked:
        return False, (f"the vocabulary holds {len(leaked)} words that occur only in the validation tweets: "
                       "build it from the training token lists it is given, and from nothing else")
    given = {t for tokens in spec["args"]["train"] for t in tokens} | {ref.PAD, ref.UNK}
    foreign = [w for w in words if w not in given]
    if foreign:
        return False, (f"the vocabulary holds {len(foreign)} words that are not in the token lists it was given: "
                       "build it from its argument only")
    if dict(mine).get(ref.PAD) != 0 or dict(mine).get(ref.UNK) != 1:
        return False, "<pad> must have id 0 and <unk> id 1"
    if sorted(i for _, i in mine) != list(range(len(mine))) or len(set(words)) != len(words):
        return False, "ids must be 0, 1, 2, ... with no gap and no word twice"
    if set(words) != {w for w, _ in theirs}:
        wanted = {w for w, _ in theirs}
        return False, (f"wrong words: {len(set(words) - wanted)} too many, {len(wanted - set(words))} missing "
                       f"(keep exactly the words with at least min_count occurrences)")
    if dict(mine) != dict(theirs):
        return False, "wrong order: most frequent first, and words with the same count in order of first appearance"
    return True, ""


def judge_encode(spec, student, reference):
    try:
        ids, mask = ch.tensor(student["ids"]), ch.tensor(student["mask"])
    except (ch.BadValue, TypeError, KeyError) as error:
        return False, str(error)
    want_ids, want_mask = ch.tensor(reference["ids"]), ch.tensor(reference["mask"])
    if ids.shape != want_ids.shape:
        return False, (f"ids of shape {list(ids.shape)}, expected {list(want_ids.shape)}: one row per token list, "
                       f"exactly max_len columns")
    if ids.dtype.kind not in "iu":
        return False, f"ids must be integers (torch.long), got {ids.dtype}"
    if mask.shape != want_mask.shape:
        return False, f"mask of shape {list(mask.shape)}, expected {list(want_mask.shape)}"
    kinds = spec["args"]["kinds"]
    advice = {"empty": "an empty token list must be a row of padding (id 0) with a mask of zeros",
              "long": "a token list longer than max_len keeps its first max_len tokens",
              "unknown": f"words not in the vocabulary get the id of {ref.UNK}, and count as real tokens in the mask",
              "normal": "each row: the ids of the tokens (unknown words: <unk>), then padding with id 0"}
    for row, kind in enumerate(kinds):
        if not np.array_equal(ids[row], want_ids[row]):
            return False, "ids: " + advice[kind]
    for row, kind in enumerate(kinds):
        if not np.array_equal(mask[row].astype(np.float64), want_mask[row].astype(np.float64)):
            return False, "mask: 1.0 on every token (known or not), 0.0 on padding; " + advice[kind]
    return True, ""


def judge_coverage(spec, student, reference):
    for key, words in (("type_coverage", "distinct tokens"), ("token_coverage", "token occurrences")):
        if abs(student[key] - reference[key]) > 1e-9:
            return False, f"{key} must be the share of {words} the vectors know"
    if student["oov"] != reference["oov"]:
        if sorted(student["oov"]) == sorted(reference["oov"]):
            return False, "oov: most frequent first, ties in the order of first appearance"
        return False, "oov must list each distinct token the vectors lack, once"
    return True, ""


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view(np.uint32) if array.dtype == np.float32 else array


def judge_embedding(spec, student, reference):
    try:
        mine = ch.tensor(student["weight"])
    except ch.BadValue as error:
        return False, str(error)
    theirs = ch.tensor(reference["weight"])
    if mine.shape != theirs.shape:
        return False, f"a weight of shape {list(mine.shape)}, expected {list(theirs.shape)} (len(vocab), kv.vector_size)"
    if mine.dtype != np.float32:
        return False, f"the rows must be float32, got {mine.dtype}"
    vocab = dict(spec["args"]["vocab"])
    known = set(spec["args"]["known"])
    for word, row in vocab.items():
        if not np.array_equal(_bits(mine[row]), _bits(theirs[row])):
            if word in known:
                return False, "the row of a word the vectors know must be kv[word], copied exactly"
            if word in (ref.PAD, ref.UNK):
                return False, f"the rows of {ref.PAD} and {ref.UNK} must be zeros (even when the vectors know them)"
            return False, "the row of a word the vectors do not know must be zeros"
    if student["requires_grad"] != reference["requires_grad"]:
        return False, ("freeze=True (the default) must give a frozen embedding (requires_grad False)"
                       if reference["requires_grad"] is False else "freeze=False must give a trainable embedding")
    if not ch.close(ch.tensor(student["lookup"]), ch.tensor(reference["lookup"]), rtol=0, atol=0):
        return False, "looking ids up in the embedding must return their rows"
    return True, ""


def judge_masked_mean(spec, student, reference):
    try:
        mine = ch.tensor(student)
    except ch.BadValue as error:
        return False, str(error)
    theirs = ch.tensor(reference)
    if mine.shape != theirs.shape:
        return False, f"returned shape {list(mine.shape)}, expected {list(theirs.shape)} (batch, dim)"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        if 0 in spec["args"]["lengths"] and not np.isfinite(mine).all():
            return False, "a row without real tokens must average to zeros, not NaN (divide by at least 1)"
        return False, "the average must count real tokens only: values under padding must not change it"
    return True, ""


def judge_classifier(spec, student, reference):
    if not student.get("embedding_kept"):
        return False, "self.embedding must be the embedding passed in"
    if student.get("head_type") != "Linear" or student.get("head_shape") != reference["head_shape"]:
        return False, (f"self.head must be nn.Linear(embedding.embedding_dim, num_labels) = "
                       f"Linear{tuple(reference['head_shape'])}, got {student.get('head_type')} {student.get('head_shape')}")
    try:
        mine = ch.tensor(student["logits"])
    except ch.BadValue as error:
        return False, f"the logits: {error}"
    theirs = ch.tensor(reference["logits"])
    if mine.shape != theirs.shape:
        return False, f"logits of shape {list(mine.shape)}, expected {list(theirs.shape)}"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        return False, "the logits differ from head(masked_mean(embedding(ids), mask))"
    return True, ""


def judge_train_epoch(spec, student, reference):
    mine, theirs = student["losses"], reference["losses"]
    if len(mine) != len(theirs):
        return False, f"returned {len(mine)} losses for {len(theirs)} batches: one loss per batch"
    if not ch.close(np.array(mine, dtype=np.float64), np.array(theirs, dtype=np.float64), rtol=1e-4, atol=1e-6):
        return False, ("the batch losses differ from cross-entropy of model(ids[chosen], mask[chosen]) against "
                       "labels[chosen], with zero_grad, backward and step once per batch")
    if student["flags"] != reference["flags"]:
        return False, "train_epoch must not change which parameters are trainable"
    for name, value in reference["weights"].items():
        if name not in student["weights"] or not ch.close(ch.tensor(student["weights"][name]), ch.tensor(value),
                                                          rtol=1e-4, atol=1e-6):
            return False, ("the weights after the epoch differ from one optimizer step per batch "
                           "(zero the gradients, backward, step)")
    return True, ""


def judge_predict(spec, student, reference):
    if len(student) != len(reference):
        return False, f"returned {len(student)} predictions for {len(reference)} rows"
    if student != reference:
        return False, "prediction i must be the arg-max class of row i (every batch, in order, the last one too)"
    return True, ""


def judge_macro_f1(spec, student, reference):
    try:
        mine, theirs = ch.number(student), ch.number(reference)
    except ch.BadValue as error:
        return False, str(error)
    if abs(mine - theirs) <= 1e-9:
        return True, ""
    case = spec["args"]["case"]
    if case == "never_predicted":
        return False, "a class that is never predicted has F1 = 0 (2TP / (2TP + FP + FN)) and still counts in the average"
    if case == "never_occurs":
        return False, f"average over all num_labels={spec['args']['num_labels']} classes; a class with nothing to count scores 0"
    return False, "macro-F1 is the plain average over the classes of 2TP / (2TP + FP + FN)"


def judge_export(spec, student, reference):
    mine, theirs = student["digests"], reference["digests"]
    if set(mine) != set(theirs):
        extra, missing = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        return False, f"classifier.safetensors must hold every tensor of state_dict() (missing {missing[:2]}, unexpected {extra[:2]})"
    changed = [name for name in theirs if mine[name] != theirs[name]]
    if changed:
        return False, f"{changed[0]} in the file differs from the model's state"
    if student["words"] != reference["words"]:
        return False, "vocab.json must list the vocabulary's words in id order (the word of id 0 first)"
    return True, ""


def judge_word2vec(spec, student, reference):
    if student["words"] != reference["words"]:
        return False, "the vectors' words differ: train on the token lists given, with WORD2VEC_SETTINGS (min_count)"
    try:
        mine = ch.tensor(student["vectors"])
    except ch.BadValue as error:
        return False, str(error)
    theirs = ch.tensor(reference["vectors"])
    if mine.shape != theirs.shape:
        return False, f"vectors of shape {list(mine.shape)}, expected {list(theirs.shape)}: use WORD2VEC_SETTINGS"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-6):
        return False, "the vectors differ: pass seed=seed and exactly WORD2VEC_SETTINGS (workers=1) to Word2Vec"
    return True, ""


JUDGES = {
    "tokenize": judge_tokenize,
    "build_vocab": judge_build_vocab,
    "encode": judge_encode,
    "coverage": judge_coverage,
    "embedding": judge_embedding,
    "masked_mean": judge_masked_mean,
    "classifier": judge_classifier,
    "train_epoch": judge_train_epoch,
    "predict": judge_predict,
    "macro_f1": judge_macro_f1,
    "export": judge_export,
    "word2vec": judge_word2vec,
}

