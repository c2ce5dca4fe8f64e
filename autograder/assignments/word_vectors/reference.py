"""Trusted copies of the word_vectors notebook's constants and of the reference solution's data pipeline.

The trusted checker (``artifacts.py``) rebuilds, from the training sample the
locked training cell used, the vocabulary and the GloVe matrix that an
honest run exports, and runs the exported head on the reserved test split.
It never runs student code, so it needs its own copy of the reference
functions. ``tests/assignments/test_word_vectors.py`` checks that these
constants are the notebook's and that these functions answer like the
notebook's reference solution.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import torch

DATASET = "tweets"
SEED = 0
N_TRAIN = 3000
NUM_LABELS = 3
MIN_COUNT = 2
MAX_LEN = 32
PAD, UNK = "<pad>", "<unk>"
URL_PATTERN = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
MENTION_PATTERN = re.compile(r"@\w+")
TOKEN_PATTERN = re.compile(r"<url>|<user>|[a-z0-9]+(?=n't)|n't|'[a-z]+|[a-z0-9]+|[!?]")
DIM = 50  # GloVe 6B 50-d


def tokenize(text: str) -> list[str]:
    text = URL_PATTERN.sub(" <url> ", text)
    text = MENTION_PATTERN.sub(" <user> ", text)
    return TOKEN_PATTERN.findall(text.lower())


def build_vocab(token_lists, min_count: int = MIN_COUNT) -> dict[str, int]:
    counts = Counter(token for tokens in token_lists for token in tokens)
    vocab = {PAD: 0, UNK: 1}
    for word, count in counts.most_common():
        if count >= min_count and word not in vocab:
            vocab[word] = len(vocab)
    return vocab


def encode(token_lists, vocab: dict[str, int], max_len: int = MAX_LEN) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(token_lists), max_len), vocab[PAD], dtype=torch.long)
    mask = torch.zeros(len(token_lists), max_len)
    for row, tokens in enumerate(token_lists):
        kept = [vocab.get(token, vocab[UNK]) for token in tokens[:max_len]]
        ids[row, :len(kept)] = torch.tensor(kept, dtype=torch.long)
        mask[row, :len(kept)] = 1.0
    return ids, mask


def embedding_matrix(words: list[str], kv) -> torch.Tensor:
    """Row i: kv[words[i]] exactly, zeros for PAD, UNK and words kv lacks (the notebook's rule)."""
    matrix = torch.zeros(len(words), kv.vector_size)
    for row, word in enumerate(words):
        if word not in (PAD, UNK) and word in kv:
            matrix[row] = torch.from_numpy(np.array(kv[word], dtype=np.float32))
    return matrix


def masked_mean(vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(vectors.dtype)
    return (vectors * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def macro_f1(y_true, y_pred, num_labels: int = NUM_LABELS) -> float:
    y_true, y_pred = [int(y) for y in y_true], [int(y) for y in y_pred]
    scores = []
    for c in range(num_labels):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / num_labels
