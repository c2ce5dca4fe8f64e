"""Trusted copies of the transfer_vs_scratch notebook's settings and reference solution.

The trusted checker (``artifacts.py``) and the calibration script recompute
points of the learning curve without running student code, so they need
their own copy of the reference functions and of the locked cells' settings.
``tests/assignments/test_transfer_vs_scratch.py`` checks that these constants
are the notebook's and that these functions are the notebook's solutions.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import torch
from torch import nn

# ----------------------------------------------------- the locked cells' settings
DATASET = "rotten_tomatoes"
SEED = 0
N_POOL = 2000
MAX_LENGTH = 64
SIZES = [100, 200, 500, 1000, 2000]
REPEATS = 5
PROBE_C = 0.3
EMBED_DIM, EPOCHS, BATCH_SIZE, LEARNING_RATE = 64, 10, 32, 1e-2
NUM_LABELS = 2
FORMAT = "transfer_vs_scratch/1"
TOKEN_PATTERN = r"[a-z0-9']+"
PAD, UNK = 0, 1


def settings(seed: int = SEED) -> dict:
    """The ``settings`` record the experiment cell writes into curve.json."""
    return {"seed": seed, "n_pool": N_POOL, "sizes": SIZES, "repeats": REPEATS, "probe_c": PROBE_C,
            "embed_dim": EMBED_DIM, "epochs": EPOCHS, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE}


def subset_seed(seed: int, repeat: int) -> int:
    return 1000 * seed + repeat


def init_seed(seed: int, repeat: int, position: int) -> int:
    return 1000 * seed + 10 * repeat + position


def pool_and_validation(seed: int = SEED):
    """The pool and the validation split exactly as the setup cell loads them."""
    from coursekit import data

    sets = data.load_dataset(DATASET, n_train=N_POOL, seed=seed)
    return sets.train, sets.validation


# ------------------------------------------------------------ the reference solution
def nested_subsets(n_available, sizes, seed):
    if any(size > n_available for size in sizes):
        raise ValueError(f"cannot draw {max(sizes)} examples from {n_available}")
    order = np.random.default_rng(seed).permutation(n_available)
    return {size: order[:size].tolist() for size in sizes}


def embed_texts(encoder, tokenizer, texts, batch_size=64, max_length=MAX_LENGTH):
    from coursekit.training import batches_by_length

    encoder.eval()
    features = torch.zeros(len(texts), encoder.config.hidden_size)
    with torch.no_grad():
        for chosen in batches_by_length(texts, batch_size, length=len):
            batch = tokenizer([texts[i] for i in chosen], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt")
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            features[chosen] = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return features


def fit_probe(features, labels, C):
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(C=C, max_iter=1000)
    probe.fit(np.asarray(features, dtype=np.float64), np.asarray(labels))
    return probe


def tokenize(text):
    return re.findall(TOKEN_PATTERN, text.lower())


def build_vocab(texts, min_count=1):
    return build_vocab_tokens([tokenize(text) for text in texts], min_count)


def build_vocab_tokens(token_lists, min_count=1):
    """``build_vocab`` on texts already tokenized (the checker tokenizes the pool once)."""
    counts = Counter(word for tokens in token_lists for word in tokens)
    kept = sorted((word for word, count in counts.items() if count >= min_count), key=lambda w: (-counts[w], w))
    vocab = {"<pad>": PAD, "<unk>": UNK}
    for word in kept:
        vocab[word] = len(vocab)
    return vocab


def encode(texts, vocab, max_len=64):
    return encode_tokens([tokenize(text) for text in texts], vocab, max_len)


def encode_tokens(token_lists, vocab, max_len=64):
    """``encode`` on texts already tokenized (the checker tokenizes each split once)."""
    rows = [[vocab.get(word, UNK) for word in tokens][:max_len] for tokens in token_lists]
    width = max([1] + [len(row) for row in rows])
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return ids


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab_size, dim=64, num_labels=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.linear = nn.Linear(dim, num_labels)

    def forward(self, ids):
        mask = (ids != PAD).unsqueeze(-1).to(self.embedding.weight.dtype)
        total = (self.embedding(ids) * mask).sum(dim=1)
        return self.linear(total / mask.sum(dim=1).clamp(min=1))


def train_scratch(model, optimizer, ids, labels, epochs, batch_size, generator):
    model.train()
    losses = []
    for _ in range(epochs):
        for batch in torch.randperm(len(ids), generator=generator).split(batch_size):
            loss = nn.functional.cross_entropy(model(ids[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def start_weights(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.embedding.weight.normal_(0.0, 0.1, generator=generator)
        model.embedding.weight[PAD].zero_()
        model.linear.weight.uniform_(-EMBED_DIM ** -0.5, EMBED_DIM ** -0.5, generator=generator)
        model.linear.bias.zero_()


def train_scratch_point(texts, labels, seed: int) -> tuple[dict, BagOfEmbeddings]:
    """One point of the scratch curve as the experiment cell trains it: (vocabulary, trained model)."""
    vocab = build_vocab(texts)
    model = BagOfEmbeddings(len(vocab), EMBED_DIM)
    start_weights(model, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    train_scratch(model, optimizer, encode(texts, vocab), torch.tensor(np.asarray(labels)), EPOCHS, BATCH_SIZE,
                  torch.Generator().manual_seed(seed))
    return vocab, model.eval()


def summarize(results):
    import pandas as pd

    frame = pd.DataFrame(results)
    table = frame.groupby(["model", "size"])["accuracy"].agg(["mean", "std", "min", "max", "count"])
    return table.rename(columns={"count": "repeats"}).sort_index()
