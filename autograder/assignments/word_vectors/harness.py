"""Harness of the word_vectors challenges: runs INSIDE the student's kernel.

Executed after ``autograder/harness_runtime.py`` (its names, such as
``to_plain`` and ``Unanswerable``, are in scope). ``CALLS`` maps a challenge
kind to a function ``(namespace, args) -> plain value``; ``namespace`` is the
notebook's global namespace, where the student's functions live. Every call
runs in a forked child with all generators seeded, so the reference
solution, answering the same challenge in its own run, sees the same inputs;
a call may change the namespace freely (the child exits afterwards).

Inputs are built here from plain specs: token lists and vocabularies come as
lists, word vectors as a gensim ``KeyedVectors`` made from a seed, tensors
from seeds. Where a function would otherwise inherit a mistake made in
another part, the call hands it the grader's own pieces instead (the
grader's masked mean inside ``MeanClassifier``, the grader's model for the
training loop, prediction and export), so one mistake costs its own part.
"""
import torch
from torch import nn

PAD, UNK = "<pad>", "<unk>"


def student(namespace, name):
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    return namespace[name]


def make_kv(spec):
    """gensim KeyedVectors with the spec's words and seeded float32 vectors."""
    import numpy as np
    from gensim.models import KeyedVectors

    vectors = np.random.default_rng(spec["seed"]).standard_normal((len(spec["words"]), spec["dim"])).astype(np.float32)
    kv = KeyedVectors(vector_size=spec["dim"])
    if spec["words"]:
        kv.add_vectors(list(spec["words"]), vectors)
    return kv


def grader_mean(vectors, mask):
    weights = mask.unsqueeze(-1).to(vectors.dtype)
    return (vectors * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class GraderModel(nn.Module):
    """The grader's masked-mean classifier: ``.embedding``, ``.head``, ``forward(ids, mask)``."""

    def __init__(self, vocab_size, dim, num_labels, seed, frozen=True, head_scale=0.5):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        weight = torch.randn(vocab_size, dim, generator=generator)
        weight[0] = 0.0
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=frozen, padding_idx=0)
        self.head = nn.Linear(dim, num_labels)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(num_labels, dim, generator=generator) * head_scale)
            self.head.bias.copy_(torch.randn(num_labels, generator=generator) * 0.1)

    def forward(self, ids, mask):
        return self.head(grader_mean(self.embedding(ids), mask))


def grader_model(args):
    model = args["model"]
    return GraderModel(model["vocab"], model["dim"], model["labels"], model["seed"], frozen=model.get("frozen", True),
                       head_scale=model.get("head_scale", 0.5))


def id_batch(args, vocab_size):
    """Random ids (>= 2) with padding (id 0) after each row's length, and the float mask."""
    lengths, width = args["lengths"], args["width"]
    generator = torch.Generator().manual_seed(args["input_seed"])
    ids = torch.randint(2, vocab_size, (len(lengths), width), generator=generator)
    mask = torch.zeros(len(lengths), width)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1.0
        ids[row, length:] = 0
    return ids, mask


def labels_for(args, count, num_labels):
    generator = torch.Generator().manual_seed(args["label_seed"])
    return torch.randint(0, num_labels, (count,), generator=generator)


def as_int_list(value, what):
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point or value.dtype == torch.bool:
            raise Unanswerable(f"{what} must hold class numbers, got a {value.dtype} tensor")
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.dtype.is_floating_point:
                    out.append(int(v))
                    continue
                raise Unanswerable(f"{what} must hold class numbers, got {type(v).__name__}")
            out.append(int(v))
        return out
    raise Unanswerable(f"{what} must be a tensor or a list, got {type(value).__name__}")


# ------------------------------------------------------------------ Part A
def call_tokenize(namespace, args):
    tokenize = student(namespace, "tokenize")
    out = []
    for text in args["texts"]:
        tokens = tokenize(text)
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
            raise Unanswerable(f"tokenize returned {type(tokens).__name__}, not a list of strings")
        out.append(list(tokens))
    return out


def call_build_vocab(namespace, args):
    """build_vocab on the challenge's training token lists, with the notebook's validation data replaced."""
    from coursekit.data import LabelledTexts, TrainValidation

    other_texts = [" ".join(tokens) for tokens in args["other"]]
    train_texts = [" ".join(tokens) for tokens in args["train"]]
    names = ("negative", "neutral", "positive")
    namespace["sets"] = TrainValidation(LabelledTexts(train_texts, [0] * len(train_texts), names),
                                        LabelledTexts(other_texts, [0] * len(other_texts), names))
    namespace["validation_tokens"] = [list(tokens) for tokens in args["other"]]
    build_vocab = student(namespace, "build_vocab")
    token_lists = [list(tokens) for tokens in args["train"]]
    vocab = build_vocab(token_lists) if args["min_count"] is None else build_vocab(token_lists, args["min_count"])
    if not hasattr(vocab, "items"):
        raise Unanswerable(f"build_vocab returned {type(vocab).__name__}, not a dict")
    pairs = []
    for word, index in vocab.items():
        if not isinstance(word, str) or isinstance(index, bool) or not isinstance(index, int):
            raise Unanswerable("build_vocab must map words (str) to ids (int)")
        pairs.append([word, int(index)])
    if len(pairs) > 5000:
        raise Unanswerable(f"the vocabulary has {len(pairs)} entries, far more than the texts it was given")
    return pairs


# ------------------------------------------------------------------ Part B
def call_encode(namespace, args):
    encode = student(namespace, "encode")
    vocab = {word: index for word, index in args["vocab"]}
    token_lists = [list(tokens) for tokens in args["token_lists"]]
    result = encode(token_lists, vocab) if args["max_len"] is None else encode(token_lists, vocab, args["max_len"])
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Unanswerable("encode must return a pair (ids, mask)")
    ids, mask = result
    for name, value in (("ids", ids), ("mask", mask)):
        if not isinstance(value, torch.Tensor):
            raise Unanswerable(f"{name} is {type(value).__name__}, not a torch tensor")
    return {"ids": to_plain(ids), "mask": to_plain(mask)}


# ------------------------------------------------------------------ Part C
def call_coverage(namespace, args):
    kv = make_kv(args["kv"])
    report = student(namespace, "glove_coverage")([list(tokens) for tokens in args["token_lists"]], kv)
    if not hasattr(report, "keys"):
        raise Unanswerable(f"glove_coverage returned {type(report).__name__}, not a dict")
    out = {}
    for key in ("type_coverage", "token_coverage", "oov"):
        if key not in report:
            raise Unanswerable(f"the result has no {key!r}")
    for key in ("type_coverage", "token_coverage"):
        value = report[key]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if hasattr(value, "item") and not isinstance(value, (int, float)):
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unanswerable(f"{key} must be a number, got {type(value).__name__}")
        out[key] = float(value)
    oov = report["oov"]
    if not isinstance(oov, (list, tuple)) or not all(isinstance(w, str) for w in oov):
        raise Unanswerable("oov must be a list of words")
    out["oov"] = list(oov)
    return out


# ------------------------------------------------------------------ Part D
def call_embedding(namespace, args):
    kv = make_kv(args["kv"])
    vocab = {word: index for word, index in args["vocab"]}
    function = student(namespace, "pretrained_embedding")
    embedding = function(vocab, kv) if args["freeze"] is None else function(vocab, kv, freeze=args["freeze"])
    if not isinstance(embedding, nn.Embedding):
        raise Unanswerable(f"pretrained_embedding returned {type(embedding).__name__}, not an nn.Embedding")
    ids = torch.tensor(args["lookup"], dtype=torch.long)
    return {"weight": to_plain(embedding.weight), "requires_grad": bool(embedding.weight.requires_grad),
            "lookup": to_plain(embedding(ids))}


# ------------------------------------------------------------------ Part E
def call_masked_mean(namespace, args):
    generator = torch.Generator().manual_seed(args["input_seed"])
    lengths, width = args["lengths"], args["width"]
    vectors = torch.randn(len(lengths), width, args["dim"], generator=generator)
    mask = torch.zeros(len(lengths), width)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1.0
        vectors[row, length:] = args["garbage"]  # what sits under padding must not matter
    return to_plain(student(namespace, "masked_mean")(vectors, mask))


def call_classifier(namespace, args):
    generator = torch.Generator().manual_seed(args["seed"])
    embedding = nn.Embedding.from_pretrained(torch.randn(args["vocab"], args["dim"], generator=generator), freeze=True)
    namespace["masked_mean"] = grader_mean  # a mistake in masked_mean costs test_masked_mean only
    model = student(namespace, "MeanClassifier")(embedding, num_labels=args["labels"])
    head = getattr(model, "head", None)
    report = {"embedding_kept": getattr(model, "embedding", None) is embedding, "head_type": type(head).__name__,
              "head_shape": [head.in_features, head.out_features] if isinstance(head, nn.Linear) else None,
              "logits": None}
    if isinstance(head, nn.Linear):
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.5)
            if head.bias is not None:
                head.bias.copy_(torch.randn(head.bias.shape, generator=generator) * 0.5)
        ids, mask = id_batch(args, args["vocab"])
        model.eval()
        with torch.no_grad():
            report["logits"] = to_plain(model(ids, mask))
    return report


# ------------------------------------------------------------------ Part F
def call_train_epoch(namespace, args):
    model = grader_model(args)
    ids, mask = id_batch(args, args["model"]["vocab"])
    labels = labels_for(args, len(ids), args["model"]["labels"])
    # Plain SGD: its step is proportional to the gradient, so honest variants of the loop that add up the same
    # numbers in another order stay within a tight tolerance.
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args["lr"])
    generator = torch.Generator().manual_seed(args["shuffle_seed"])
    losses = student(namespace, "train_epoch")(model, optimizer, ids, mask, labels, args["batch_size"], generator)
    if not isinstance(losses, (list, tuple)):
        raise Unanswerable(f"train_epoch returned {type(losses).__name__}, not a list of losses")
    report = []
    for loss in losses:
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.item()
        if isinstance(loss, bool) or not isinstance(loss, (int, float)):
            raise Unanswerable("the losses must be numbers (loss.item())")
        report.append(to_plain(float(loss)))
    return {"losses": report, "weights": {name: to_plain(p) for name, p in model.named_parameters()},
            "flags": {name: bool(p.requires_grad) for name, p in model.named_parameters()}}


def call_predict(namespace, args):
    model = grader_model(args)
    ids, mask = id_batch(args, args["model"]["vocab"])
    predictions = student(namespace, "predict")(model, ids, mask, batch_size=args["batch_size"])
    return as_int_list(predictions, "the predictions")


def call_macro_f1(namespace, args):
    y_true, y_pred = list(args["y_true"]), list(args["y_pred"])
    if args["as_tensors"]:
        y_true, y_pred = torch.tensor(y_true), torch.tensor(y_pred)
    value = student(namespace, "macro_f1")(y_true, y_pred, args["num_labels"])
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unanswerable(f"macro_f1 returned {type(value).__name__}, not a number")
    return to_plain(float(value))


def tensor_digests(raw):
    """{name: sha256 of dtype, shape and bytes} of a safetensors file, read without trusting it."""
    import hashlib

    from safetensors.torch import load

    return {name: hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode() + t.contiguous().numpy().tobytes()).hexdigest()
            for name, t in load(raw).items()}


def call_export(namespace, args):
    import json
    import os

    model = grader_model(args)
    if args["transposed_head"]:
        # A parameter that is a transposed view is not contiguous: safetensors refuses it unless made contiguous.
        with torch.no_grad():
            model.head.weight = nn.Parameter(model.head.weight.detach().t().contiguous().t())
    vocab = {word: index for word, index in args["vocab"]}
    student(namespace, "export_model")(model, vocab, args["folder"])
    out = {}
    weights_path = os.path.join(args["folder"], "classifier.safetensors")
    vocab_path = os.path.join(args["folder"], "vocab.json")
    for path in (weights_path, vocab_path):
        if not os.path.isfile(path):
            raise Unanswerable(f"no file {os.path.basename(path)} in the folder it was given")
    size = os.path.getsize(weights_path)
    if size > 2 * sum(t.numel() * t.element_size() for t in model.state_dict().values()) + 2**20:
        raise Unanswerable(f"classifier.safetensors is {size} bytes, far more than the model's weights")
    with open(weights_path, "rb") as handle:
        raw = handle.read()
    try:
        out["digests"] = tensor_digests(raw)
    except Exception as error:
        raise Unanswerable(f"classifier.safetensors is not safetensors: {str(error)[:120]}") from None
    if os.path.getsize(vocab_path) > 2**20:
        raise Unanswerable("vocab.json is far larger than the vocabulary")
    with open(vocab_path, "rb") as handle:
        try:
            words = json.loads(handle.read())
        except ValueError as error:
            raise Unanswerable(f"vocab.json is not JSON: {str(error)[:120]}") from None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise Unanswerable("vocab.json must hold a JSON list of words")
    out["words"] = words
    return out


# ------------------------------------------------------------------ Part G
def call_word2vec(namespace, args):
    kv = student(namespace, "train_word2vec")([list(tokens) for tokens in args["corpus"]], seed=args["seed"])
    kv = getattr(kv, "wv", kv)  # a whole Word2Vec model serves as well as its vectors
    words, vectors = getattr(kv, "index_to_key", None), getattr(kv, "vectors", None)
    if not isinstance(words, list) or vectors is None:
        raise Unanswerable(f"train_word2vec returned {type(kv).__name__}, not word vectors (KeyedVectors)")
    return {"words": [str(w) for w in words], "vectors": to_plain(torch.from_numpy(vectors.copy()))}


CALLS = {
    "tokenize": call_tokenize,
    "build_vocab": call_build_vocab,
    "encode": call_encode,
    "coverage": call_coverage,
    "embedding": call_embedding,
    "masked_mean": call_masked_mean,
    "classifier": call_classifier,
    "train_epoch": call_train_epoch,
    "predict": call_predict,
    "macro_f1": call_macro_f1,
    "export": call_export,
    "word2vec": call_word2vec,
}
