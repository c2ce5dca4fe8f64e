"""Training helpers shared by the assignment and the lectures."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


class WeightAverage:
    """A running (exponential) average of a model's trainable weights.

    With ~1,000 examples the weights after the last step carry the noise of
    the last few batches; their running average generalises better (Polyak
    averaging). Attached to an optimizer, it updates after every step through
    PyTorch's step hook; ``copy_to_model()`` then puts the average in place.
    Frozen parameters are neither averaged nor touched.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.98):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.live = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.live]
        self.steps = 0

    @torch.no_grad()
    def update(self) -> None:
        for average, live in zip(self.average, self.live):
            average.lerp_(live.detach(), 1.0 - self.decay)
        self.steps += 1

    def attach(self, optimizer: torch.optim.Optimizer):
        """Update after every ``optimizer.step()``; returns the hook's handle (``.remove()`` detaches it)."""
        return optimizer.register_step_post_hook(lambda *_: self.update())

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for average, live in zip(self.average, self.live):
            live.copy_(average)


def batches_by_length(texts: Sequence[str], batch_size: int, generator: torch.Generator | None = None,
                      length: Callable[[str], int] = len, pool_batches: int = 8) -> list[list[int]]:
    """Index batches whose texts have similar lengths, so dynamic padding adds little.

    A batch padded to its longest text costs as much as that text times the
    batch size. Review snippets range from a few words to 64 tokens, so random
    batches are about 45% padding; grouping similar lengths cuts that to a
    few per cent. With a ``generator`` (training), the indices are shuffled,
    sorted by length only within pools of ``pool_batches`` batches, and the
    batches are shuffled again: each epoch still sees a new random order.
    Without one (evaluation), the batches simply follow length order.
    ``length`` measures a text: characters by default; a token count (e.g.
    ``lambda t: len(tokenizer.tokenize(t))``) groups a little more tightly.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    lengths = [length(text) for text in texts]

    def by_length(indices):
        return sorted(indices, key=lengths.__getitem__)

    def cut(indices):
        return [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]

    if generator is None:
        return cut(by_length(range(len(texts))))
    order = torch.randperm(len(texts), generator=generator).tolist()
    pool = batch_size * pool_batches
    batches = [batch for start in range(0, len(order), pool) for batch in cut(by_length(order[start:start + pool]))]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def mask_tokens(batch, tokenizer, rate: float, generator: torch.Generator | None = None) -> dict:
    """A copy of ``batch`` in which each real word piece is, with probability ``rate``, replaced by ``[MASK]``.

    A small training set is seen over and over; hiding a different tenth of
    each snippet every time is cheap data augmentation, and it keeps the
    classifier from leaning on one or two words. Padding (attention mask 0),
    ``[CLS]`` and ``[SEP]`` are never masked. Draws come from ``generator``,
    or from torch's global generator (seeded by ``seed_everything``).
    Rate 0 leaves the ids as they are; rate 1 hides every real word piece.

    It returns a new batch and leaves ``batch`` alone: use what it returns.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    ids = batch["input_ids"]
    real = batch["attention_mask"].bool() & (ids != tokenizer.cls_token_id) & (ids != tokenizer.sep_token_id)
    hidden = (torch.rand(ids.shape, generator=generator) < rate) & real
    return {**batch, "input_ids": ids.masked_fill(hidden, tokenizer.mask_token_id)}
