"""Training helpers shared by the assignment and the lectures."""
from __future__ import annotations

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
