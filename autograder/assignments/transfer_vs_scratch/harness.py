"""Harness of the transfer_vs_scratch challenges: runs INSIDE the student's kernel.

Executed after ``autograder/harness_runtime.py`` (its names, such as
``to_plain`` and ``Unanswerable``, are in scope). ``CALLS`` maps a challenge
kind to a function ``(namespace, args) -> plain value``; ``namespace`` is the
notebook's global namespace, where the student's functions live. Every call
runs in a forked child with all generators seeded, so the reference solution,
answering the same challenge in its own run, sees exactly the same inputs.

The training challenge hands ``train_scratch`` the grader's own model
(``GraderBag``), and the plot challenge the grader's own table, so a mistake
in ``BagOfEmbeddings`` or ``summarize`` costs that function's points only.
"""
import numpy as np
import torch
from torch import nn

SHARED = {}


def prepare(namespace, specs=()):
    """Once, in the kernel, before the calls are forked (every call inherits it): a fresh MiniLM and its tokenizer
    (not the notebook's), and the classes the calls use (importing them costs more than a call)."""
    from coursekit import models
    from transformers import BertConfig, BertModel

    SHARED["tokenizer"] = models.load_tokenizer()
    SHARED["encoder"] = models.load_encoder()
    SHARED["bert"] = (BertConfig, BertModel)


def student(namespace, name):
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    return namespace[name]


def int_list(value, what):
    try:
        if isinstance(value, torch.Tensor):
            value = value.tolist()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        items = list(value)
    except TypeError:
        raise Unanswerable(f"{what} is {type(value).__name__}, not a list of indices") from None
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise Unanswerable(f"{what} holds {type(item).__name__} values, not integer indices")
        out.append(int(item))
    return out


# ------------------------------------------------------------------ Part A
def call_nested_subsets(namespace, args):
    function = student(namespace, "nested_subsets")
    try:
        subsets = function(args["n_available"], list(args["sizes"]), args["seed"])
    except ValueError:
        return {"raised": "ValueError"}
    if not hasattr(subsets, "keys"):
        raise Unanswerable(f"nested_subsets returned {type(subsets).__name__}, not a dict {{size: indices}}")
    out = {}
    for size in subsets.keys():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise Unanswerable(f"the keys must be the sizes (integers), got {type(size).__name__}")
        out[str(int(size))] = int_list(subsets[size], f"the subset of size {int(size)}")
    return {"subsets": out}


# ------------------------------------------------------------------ Part B
def build_bert(config):
    BertConfig, BertModel = SHARED["bert"]
    torch.manual_seed(config["seed"])
    return BertModel(BertConfig(vocab_size=config["vocab"], hidden_size=config["hidden"],
                                num_hidden_layers=config["layers"], num_attention_heads=config["heads"],
                                intermediate_size=2 * config["hidden"], max_position_embeddings=128,
                                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1))


def call_embed_texts(namespace, args):
    encoder = SHARED["encoder"] if args["encoder"] == "minilm" else build_bert(args["encoder"])
    encoder.train()  # dropout on: a function that does not switch it off gives noise
    features = student(namespace, "embed_texts")(encoder, SHARED["tokenizer"], list(args["texts"]),
                                                 batch_size=args["batch_size"], max_length=args["max_length"])
    if not isinstance(features, torch.Tensor):
        raise Unanswerable(f"embed_texts returned {type(features).__name__}, not a tensor")
    return {"features": to_plain(features.detach().float()), "requires_grad": bool(features.requires_grad)}


def probe_data(args):
    rng = np.random.default_rng(args["input_seed"])
    n, d = args["n"], args["dim"]
    direction = rng.normal(size=d)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = ((X @ direction + rng.normal(scale=args["noise"], size=n)) > 0).astype(np.int64)
    y[:2] = [0, 1]  # both classes, always
    X_new = rng.normal(size=(args["n_new"], d))
    return X, y, X_new


def call_fit_probe(namespace, args):
    X, y, X_new = probe_data(args)
    probe = student(namespace, "fit_probe")(torch.from_numpy(X), y, C=args["C"])
    try:
        coef = np.asarray(probe.coef_, dtype=np.float64)
        intercept = np.asarray(probe.intercept_, dtype=np.float64)
        probabilities = np.asarray(probe.predict_proba(X_new), dtype=np.float64)
    except AttributeError:
        raise Unanswerable(f"fit_probe returned {type(probe).__name__}, not a fitted LogisticRegression") from None
    return {"type": type(probe).__name__, "coef": to_plain(torch.from_numpy(coef)),
            "intercept": to_plain(torch.from_numpy(intercept)),
            "probabilities": to_plain(torch.from_numpy(probabilities))}


# ------------------------------------------------------------------ Part C
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
    vocab = student(namespace, "build_vocab")(list(args["texts"]), min_count=args["min_count"])
    if not hasattr(vocab, "items"):
        raise Unanswerable(f"build_vocab returned {type(vocab).__name__}, not a dict")
    pairs = []
    for word, index in vocab.items():
        if not isinstance(word, str) or isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise Unanswerable("the vocabulary must map words (str) to ids (int)")
        pairs.append([word, int(index)])
    return pairs


def call_encode(namespace, args):
    vocab = {"<pad>": 0, "<unk>": 1}
    for word in args["words"]:
        vocab.setdefault(word, len(vocab))
    ids = student(namespace, "encode")(list(args["texts"]), vocab, max_len=args["max_len"])
    if not isinstance(ids, torch.Tensor):
        raise Unanswerable(f"encode returned {type(ids).__name__}, not a tensor")
    return {"ids": to_plain(ids), "dtype": str(ids.dtype)}


def random_ids(args, vocab_size):
    generator = torch.Generator().manual_seed(args["input_seed"])
    lengths = args["lengths"]
    ids = torch.randint(1, vocab_size, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def call_bag(namespace, args):
    model = student(namespace, "BagOfEmbeddings")(args["vocab_size"], args["dim"], args["num_labels"])
    embedding, linear = getattr(model, "embedding", None), getattr(model, "linear", None)
    report = {"embedding_type": type(embedding).__name__, "linear_type": type(linear).__name__,
              "embedding_shape": list(embedding.weight.shape) if hasattr(embedding, "weight") else None,
              "linear_shape": list(linear.weight.shape) if isinstance(linear, nn.Linear) else None,
              "logits": None}
    if report["embedding_shape"] is None or report["linear_shape"] is None:
        return report
    generator = torch.Generator().manual_seed(args["weight_seed"])
    with torch.no_grad():
        embedding.weight.copy_(torch.randn(embedding.weight.shape, generator=generator))
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator))
        if linear.bias is not None:
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=generator))
    model.eval()
    with torch.no_grad():
        logits = model(random_ids(args, args["vocab_size"]))
    report["logits"] = to_plain(logits)
    return report


class GraderBag(nn.Module):
    def __init__(self, vocab_size, dim, num_labels):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.linear = nn.Linear(dim, num_labels)

    def forward(self, ids):
        mask = (ids != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        return self.linear((self.embedding(ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1))


def call_train_scratch(namespace, args):
    torch.manual_seed(args["weight_seed"])
    model = GraderBag(args["vocab_size"], args["dim"], args["num_labels"])
    ids = random_ids(args, args["vocab_size"])
    generator = torch.Generator().manual_seed(args["label_seed"])
    labels = torch.randint(0, args["num_labels"], (len(args["lengths"]),), generator=generator)
    # Plain SGD: its step is proportional to the gradient, so honest variants of the loop that add up the same
    # numbers in another order stay within a tight tolerance (Adam would amplify tiny differences).
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"])
    losses = student(namespace, "train_scratch")(model, optimizer, ids, labels, args["epochs"], args["batch_size"],
                                                 torch.Generator().manual_seed(args["shuffle_seed"]))
    if not isinstance(losses, (list, tuple)):
        raise Unanswerable(f"train_scratch returned {type(losses).__name__}, not a list of losses")
    return {"losses": [to_plain(float(loss)) for loss in losses],
            "trained": {name: to_plain(p) for name, p in model.named_parameters()}}


# ------------------------------------------------------------------ Part D
def call_summarize(namespace, args):
    import pandas as pd

    rows = [{"model": m, "size": s, "repeat": r, "accuracy": a} for m, s, r, a in args["rows"]]
    table = student(namespace, "summarize")(rows)
    if not isinstance(table, pd.DataFrame):
        raise Unanswerable(f"summarize returned {type(table).__name__}, not a pandas DataFrame")
    index = []
    for key in table.index:
        if not isinstance(key, tuple) or len(key) != 2:
            raise Unanswerable("the index must be (model, size) pairs: group by both")
        index.append([str(key[0]), float(key[1])])
    columns = {}
    for column in ("mean", "std", "min", "max", "repeats"):
        if column in table.columns:
            columns[column] = [to_plain(float(v)) for v in table[column].tolist()]
    return {"index": index, "columns": [str(c) for c in table.columns], "values": columns}


def call_plot(namespace, args):
    import matplotlib
    import pandas as pd
    from matplotlib import pyplot as plt
    from matplotlib.container import ErrorbarContainer

    records = [(m, s, mean, std, mean - 0.02, mean + 0.02, 3) for m, s, mean, std in args["table"]]
    summary = pd.DataFrame.from_records(records, columns=["model", "size", "mean", "std", "min", "max", "repeats"])
    summary = summary.set_index(["model", "size"]).sort_index()
    drawn = student(namespace, "plot_curves")(summary)
    ax = drawn.axes[0] if isinstance(drawn, matplotlib.figure.Figure) and drawn.axes else drawn
    if not isinstance(ax, matplotlib.axes.Axes):
        raise Unanswerable(f"plot_curves returned {type(drawn).__name__}, not the Axes")
    bars = []
    for container in ax.containers:
        if not isinstance(container, ErrorbarContainer):
            continue
        line, _, columns = container.lines
        lows, highs = [], []
        for collection in columns:
            for segment in collection.get_segments():
                ys = [float(point[1]) for point in segment]
                lows.append(min(ys))
                highs.append(max(ys))
        bars.append({"label": str(container.get_label()),
                     "x": [float(v) for v in np.asarray(line.get_xdata(), dtype=float)] if line is not None else [],
                     "y": [float(v) for v in np.asarray(line.get_ydata(), dtype=float)] if line is not None else [],
                     "lows": lows, "highs": highs})
    legend = ax.get_legend()
    report = {"xscale": ax.get_xscale(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
              "legend": [t.get_text() for t in legend.get_texts()] if legend is not None else None, "bars": bars}
    plt.close("all")
    return report


CALLS = {
    "nested_subsets": call_nested_subsets,
    "embed_texts": call_embed_texts,
    "fit_probe": call_fit_probe,
    "tokenize": call_tokenize,
    "build_vocab": call_build_vocab,
    "encode": call_encode,
    "bag": call_bag,
    "train_scratch": call_train_scratch,
    "summarize": call_summarize,
    "plot": call_plot,
}
