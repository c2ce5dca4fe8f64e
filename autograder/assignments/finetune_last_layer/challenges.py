"""The finetune_last_layer challenges: what is drawn for each grading, and how answers are judged.

Every spec is plain data; ``harness.py`` builds the inputs from it inside the
sandbox. Architectures: BERT (blocks in ``encoder.layer``), DistilBERT
(``transformer.layer``) and GPT-2 (``h``), at depths the notebook never uses.
"""
from __future__ import annotations

import json
import random

import numpy as np

from autograder import challenges as ch

ARCHITECTURES = ("bert", "distilbert", "gpt2")
INSPECTION = ("top_level_children", "encoder_layers", "count_encoder_layers", "last_layer_submodules",
              "parameters_per_block")
REAL_VOCAB = 30522  # MiniLM's tokenizer: training and prediction challenges read real token ids


def sentence(rng: random.Random, low: int, high: int) -> str:
    chosen = [rng.choice(ch.words()) for _ in range(rng.randint(low, high))]
    text = " ".join(chosen)
    if rng.random() < 0.5:
        text = text.capitalize() + rng.choice([".", "!", "?", "...", ","])
    return text


def encoder_config(rng: random.Random, arch: str, vocab: int | None = None) -> dict:
    heads = rng.choice([1, 2, 4])
    return {"arch": arch, "layers": rng.choice([1, 2, 3, 4, 5, 7, 8]), "hidden": heads * rng.choice([4, 6, 8]),
            "heads": heads, "vocab": vocab or rng.randint(60, 400), "seed": rng.randrange(2**31)}


def ragged(rng: random.Random, rows: int, longest: int) -> list[int]:
    lengths = [longest] + [rng.randint(1, longest) for _ in range(rows - 1)]
    rng.shuffle(lengths)
    return lengths


def draw(rng: random.Random) -> list[dict]:
    d = ch.Drawer(rng)
    r = rng
    # Part A: truncation (a text longer than max_length), dynamic padding, the default max_length.
    long_words = r.randint(90, 140)
    d.add("encode_batch", "encode_batch", "encode_batch with the default max_length",
          {"texts": [sentence(r, 3, 12) for _ in range(r.randint(2, 4))] + [sentence(r, long_words, long_words)],
           "max_length": None})
    limit = r.randint(10, 30)
    d.add("encode_batch", "encode_batch", f"encode_batch with max_length={limit}",
          {"texts": [sentence(r, 40, 60), sentence(r, 2, 5), sentence(r, 5, 9)], "max_length": limit})
    d.add("encode_batch", "encode_batch", "encode_batch on short texts",
          {"texts": [sentence(r, 1, 6) for _ in range(r.randint(3, 6))], "max_length": 64})
    short_limit = r.randint(6, 12)
    d.add("encode_batch", "encode_batch", f"encode_batch on one long text, max_length={short_limit}",
          {"texts": [sentence(r, 30, 50)], "max_length": short_limit})
    # Part B: every inspection function on each architecture.
    for arch in ARCHITECTURES:
        config = encoder_config(r, arch)
        for function in INSPECTION:
            d.add(function, "inspect", f"{function} on a {arch} with {config['layers']} blocks",
                  {"function": function, "encoder": config})
    # Part C.
    for _ in range(3):
        rows, longest = r.randint(2, 6), r.randint(3, 12)
        d.add("mean_pool", "mean_pool", "mean_pool on random token vectors with padding",
              {"lengths": ragged(r, rows, longest), "dim": r.randint(3, 40), "input_seed": r.randrange(2**31),
               "garbage": r.choice([1e3, -7.5, 42.0])})
    for arch in ("bert", "gpt2"):
        config = encoder_config(r, arch)
        d.add("mean_pool", "pooled_logits", f"mean_pool inside a {arch} classifier on padded batches",
              {"encoder": config, "lengths": ragged(r, r.randint(2, 5), r.randint(4, 16)),
               "input_seed": r.randrange(2**31)})
    for arch in ARCHITECTURES:
        config = encoder_config(r, arch)
        labels = r.randint(2, 5)
        d.add("SentimentClassifier", "classifier", f"SentimentClassifier on a {arch} with {labels} labels",
              {"encoder": config, "num_labels": labels, "lengths": [r.randint(3, 10)] * r.randint(1, 4),
               "input_seed": r.randrange(2**31)})
    # Part D.
    for wrap in (False, True):
        arch = r.choice(ARCHITECTURES)
        d.add("freeze_all", "freeze", f"freeze_all on a {arch}" + (" classifier" if wrap else ""),
              {"function": "freeze_all", "encoder": encoder_config(r, arch), "wrap": wrap,
               "pattern_seed": r.randrange(2**31)})
    for arch in ARCHITECTURES:
        d.add("count_trainable", "count_trainable", f"count_trainable on a {arch} classifier",
              {"encoder": encoder_config(r, arch), "pattern_seed": r.randrange(2**31)})
    for arch in ARCHITECTURES:
        config = encoder_config(r, arch)
        d.add("freeze_all_but_last", "freeze", f"freeze_all_but_last on a {arch} classifier with {config['layers']} blocks",
              {"function": "freeze_all_but_last", "encoder": config, "wrap": True, "pattern_seed": r.randrange(2**31)})
    for arch in ("bert", "distilbert"):
        d.add("make_optimizer", "make_optimizer", f"make_optimizer on a {arch} classifier",
              {"encoder": encoder_config(r, arch), "pattern_seed": r.randrange(2**31),
               "lr": r.choice([1e-4, 3e-4, 2e-3, 5e-2])})
    # Part E: the loop on a small encoder reading real token ids; masking off, then every word piece masked.
    for mask_rate in (0.0, 1.0):
        config = encoder_config(r, r.choice(("bert", "distilbert")), vocab=REAL_VOCAB)
        config["layers"] = r.randint(1, 2)
        count = r.randint(9, 14)
        d.add("train_one_epoch", "train_one_epoch", f"train_one_epoch with mask_rate={mask_rate:g}",
              {"encoder": config, "texts": [sentence(r, 2, 14) for _ in range(count)],
               "labels": [r.randint(0, 1) for _ in range(count)], "batch_size": r.randint(3, 5),
               "shuffle_seed": r.randrange(2**31), "mask_rate": mask_rate, "lr": 0.1}, time_factor=3)
    for _ in range(2):
        config = encoder_config(r, r.choice(ARCHITECTURES), vocab=REAL_VOCAB)
        config["layers"] = 1
        d.add("predict", "predict", "predict on texts of mixed lengths",
              {"encoder": config, "num_labels": r.randint(2, 4), "texts": [sentence(r, 1, 20) for _ in range(r.randint(5, 11))],
               "batch_size": r.randint(2, 4)}, time_factor=2)
    # Part F: small classifiers, one with a weight that is not contiguous, and one the size of MiniLM's.
    minilm_sized = {"arch": "bert", "layers": 6, "hidden": 384, "heads": 12, "vocab": REAL_VOCAB,
                    "seed": r.randrange(2**31)}
    for label, config, transposed in (("a small classifier", encoder_config(r, r.choice(ARCHITECTURES)), False),
                                      ("a classifier whose head weight is not contiguous",
                                       encoder_config(r, r.choice(ARCHITECTURES)), True),
                                      ("a classifier the size of MiniLM's", minilm_sized, False)):
        big = config is minilm_sized  # built once in the kernel before the calls (harness.prepare)
        name = f"export_weights#{sum(s['group'] == 'export_weights' for s in d.specs) + 1}"
        d.add("export_weights", "export", f"export_weights on {label}, part of it frozen",
              {"encoder": config, "transposed_head": transposed, "pattern_seed": r.randrange(2**31),
               "prebuild": big, "prebuilt_as": name if big else None,
               "path": f"exports/{r.choice(['a', 'b', 'c'])}{r.randint(0, 99)}/weights.safetensors"}, time_factor=2)
    return d.specs


# ---------------------------------------------------------------------- judging
def _same(student, reference) -> bool:
    return json.dumps(student, sort_keys=True) == json.dumps(reference, sort_keys=True)


def judge(spec: dict, student, reference) -> tuple[bool, str]:
    return JUDGES[spec["kind"]](spec, student, reference)


def judge_encode_batch(spec, student, reference):
    mine, theirs = ch.tensor(student["input_ids"]), ch.tensor(reference["input_ids"])
    limit = spec["args"]["max_length"] or 64
    if mine.ndim == 2 and mine.shape[1] > theirs.shape[1]:
        if mine.shape[1] > limit:
            return False, f"rows are {mine.shape[1]} tokens long: texts longer than max_length={limit} must be truncated"
        return False, (f"rows are {mine.shape[1]} tokens long but the longest text needs {theirs.shape[1]}: "
                       "pad only to the longest text in the batch")
    if not np.array_equal(mine, theirs):
        return False, "input_ids differ from the tokenizer's (special tokens, truncation to max_length, padding)"
    if not np.array_equal(ch.tensor(student["attention_mask"]), ch.tensor(reference["attention_mask"])):
        return False, "attention_mask must be 1 for real tokens and 0 for padding"
    return True, ""


def _module_paths(value) -> list | None:
    if isinstance(value, dict) and "__module__" in value:
        return [value["__module__"]]
    if isinstance(value, list) and all(isinstance(v, dict) and "__module__" in v for v in value):
        return [v["__module__"] for v in value]
    return None


def judge_inspect(spec, student, reference):
    function = spec["args"]["function"]
    if function == "encoder_layers":
        expected = reference["__module__"]
        if isinstance(student, dict) and student.get("__module__") == expected:
            return True, ""
        paths = _module_paths(student)
        count = spec["args"]["encoder"]["layers"]
        if isinstance(student, list) and paths == [f"{expected}.{i}" for i in range(count)]:
            return True, ""  # a list of the same blocks, in order, serves as well
        return False, "did not return the model's ModuleList of transformer blocks"
    if function == "parameters_per_block":
        mine, theirs = ch.mapping(student), ch.mapping(reference)
        try:
            mine = {k: ch.number(v) for k, v in mine.items()}
        except ch.BadValue:
            return False, "the counts must be numbers"
        theirs = {k: ch.number(v) for k, v in theirs.items()}
        if set(mine) != set(theirs):
            extra, missing = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
            return False, f"wrong block names (unexpected {extra[:3]}, missing {missing[:3]})"
        wrong = [k for k in theirs if mine[k] != theirs[k]]
        return (not wrong), (f"wrong count for {wrong[0]}" if wrong else "")
    if function == "count_encoder_layers":
        try:
            return ch.number(student) == ch.number(reference), "wrong number of blocks"
        except ch.BadValue as error:
            return False, str(error)
    return _same(student, reference), f"returned {_short(student)}, expected {_short(reference)}"


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def judge_mean_pool(spec, student, reference):
    theirs = ch.tensor(reference)
    mine = ch.tensor(student)
    if mine.shape != theirs.shape:
        return False, f"returned shape {list(mine.shape)}, expected {list(theirs.shape)}"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        return False, "the average must count real tokens only: values under padding must not change it"
    return True, ""


def judge_classifier(spec, student, reference):
    if not student.get("encoder_kept"):
        return False, "self.encoder must be the encoder passed in"
    if student.get("head_type") != "Linear" or student.get("head_shape") != reference["head_shape"]:
        return False, (f"self.head must be nn.Linear(encoder.config.hidden_size, num_labels) = "
                       f"Linear{tuple(reference['head_shape'])}, got {student.get('head_type')} {student.get('head_shape')}")
    mine, theirs = ch.tensor(student["logits"]), ch.tensor(reference["logits"])
    if mine.shape != theirs.shape:
        return False, f"logits of shape {list(mine.shape)}, expected {list(theirs.shape)}"
    if not ch.close(mine, theirs, rtol=1e-4, atol=1e-5):
        return False, "the logits differ from head(mean_pool(encoder(...).last_hidden_state))"
    return True, ""


def judge_freeze(spec, student, reference):
    mine, theirs = ch.mapping(student), ch.mapping(reference)
    wrong_on = sorted(k for k in theirs if mine.get(k) is True and theirs[k] is False)
    wrong_off = sorted(k for k in theirs if mine.get(k) is False and theirs[k] is True)
    if not wrong_on and not wrong_off and mine == theirs:
        return True, ""
    parts = []
    if wrong_on:
        parts.append(f"{len(wrong_on)} parameters that must be frozen are trainable, e.g. {wrong_on[0]}")
    if wrong_off:
        parts.append(f"{len(wrong_off)} parameters that must train are frozen, e.g. {wrong_off[0]}")
    return False, "; ".join(parts) or "the requires_grad flags are wrong"


def judge_number(spec, student, reference):
    try:
        passed = ch.number(student) == ch.number(reference)
    except ch.BadValue as error:
        return False, str(error)
    return passed, "wrong count: count the elements of the parameters with requires_grad=True"


def judge_make_optimizer(spec, student, reference):
    if not student.get("adamw"):
        return False, f"expected torch.optim.AdamW, got {student.get('type')}"
    held = [name for group in student["groups"] for name in group["params"]]
    wanted = {name for group in reference["groups"] for name in group["params"]}
    if len(held) != len(set(held)):
        return False, "a parameter is in the optimizer twice"
    if set(held) != wanted:
        extra, missing = sorted(set(held) - wanted), sorted(wanted - set(held))
        return False, f"must hold exactly the trainable parameters (extra {extra[:2]}, missing {missing[:2]})"
    lr = spec["args"]["lr"]
    if any(not isinstance(g["lr"], (int, float)) or abs(g["lr"] - lr) > 1e-12 for g in student["groups"]):
        return False, f"the learning rate must be the lr passed in ({lr:g})"
    return True, ""


def judge_train_one_epoch(spec, student, reference):
    mine, theirs = student["losses"], reference["losses"]
    if len(mine) != len(theirs):
        return False, f"returned {len(mine)} losses for {len(theirs)} batches: one loss per batch"
    if not all(isinstance(v, (int, float)) for v in mine):
        return False, "the losses must be numbers (loss.item())"
    rate = spec["args"]["mask_rate"]
    step_message = ("the weights change differently from one optimizer step per batch: zero the gradients, "
                    "backward, then step, once per batch")
    if not ch.close(np.array(mine, dtype=np.float64), np.array(theirs, dtype=np.float64), rtol=1e-3, atol=1e-5):
        # The first batch's loss comes before any step: it tells a wrong batch from a wrong update.
        if not ch.close(np.array(mine[:1], dtype=np.float64), np.array(theirs[:1], dtype=np.float64), rtol=1e-3, atol=1e-5):
            if rate == 1.0:
                return False, ("with mask_rate=1 every word piece of a training batch must become [MASK]: "
                               "use the batch that mask_tokens(batch, tokenizer, mask_rate) returns")
            return False, ("the first batch's loss differs from the cross-entropy of the classifier's logits on it "
                           "(encode the batch's texts, forward, cross-entropy against its labels)")
        return False, step_message
    if student.get("frozen_changed"):
        return False, (f"the epoch changed a frozen parameter ({student['frozen_changed'][0]}) or unfroze it: only the "
                       "optimizer's step may change weights, and only the trainable ones")
    trained_mine, trained_theirs = ch.mapping(student["trained"]), ch.mapping(reference["trained"])
    for name, value in trained_theirs.items():
        if name not in trained_mine or not ch.close(ch.tensor(trained_mine[name]), ch.tensor(value), rtol=1e-3, atol=1e-5):
            return False, step_message
    return True, ""


def judge_predict(spec, student, reference):
    try:
        mine = [int(ch.number(p)) for p in student["predictions"]]
    except ch.BadValue:
        return False, "predictions must be class numbers"
    theirs = [int(ch.number(p)) for p in reference["predictions"]]
    if len(mine) != len(theirs):
        return False, f"returned {len(mine)} predictions for {len(theirs)} texts"
    if mine != theirs:
        return False, "predictions[i] must be the arg-max class of texts[i] (check the order)"
    return True, ""


def judge_export(spec, student, reference):
    mine, theirs = ch.mapping(student["digests"]), ch.mapping(reference["digests"])
    if set(mine) != set(theirs):
        extra, missing = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        return False, f"the file must hold every tensor of state_dict() (missing {missing[:2]}, unexpected {extra[:2]})"
    changed = [name for name in theirs if mine[name] != theirs[name]]
    if changed:
        return False, f"{changed[0]} in the file differs from the model's state"
    return True, ""


JUDGES = {
    "encode_batch": judge_encode_batch,
    "inspect": judge_inspect,
    "mean_pool": judge_mean_pool,
    "pooled_logits": judge_mean_pool,
    "classifier": judge_classifier,
    "freeze": judge_freeze,
    "count_trainable": judge_number,
    "make_optimizer": judge_make_optimizer,
    "train_one_epoch": judge_train_one_epoch,
    "predict": judge_predict,
    "export": judge_export,
}
