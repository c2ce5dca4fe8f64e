"""coursekit.training.WeightAverage on a small real model and a real optimizer."""
import pytest
import torch

from coursekit.training import WeightAverage


def model_with_frozen_first_layer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    for p in model[0].parameters():
        p.requires_grad = False
    return model


def train(model, optimizer, steps):
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    history = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append([p.detach().clone() for p in model[2].parameters()])
    return history


def test_the_average_follows_every_optimizer_step_and_lands_in_the_model():
    model = model_with_frozen_first_layer()
    start = [p.detach().clone() for p in model[2].parameters()]
    frozen = [p.detach().clone() for p in model[0].parameters()]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    average = WeightAverage(model, decay=0.9)
    average.attach(optimizer)
    history = train(model, optimizer, steps=5)

    expected = start
    for weights in history:  # the definition, step by step
        expected = [0.9 * e + 0.1 * w for e, w in zip(expected, weights)]
    assert average.steps == 5
    for got, want in zip(average.average, expected):
        torch.testing.assert_close(got, want)
    last = [p.detach().clone() for p in model[2].parameters()]
    assert not torch.equal(last[0], expected[0])  # the average differs from the last step

    average.copy_to_model()
    for got, want in zip(model[2].parameters(), expected):
        torch.testing.assert_close(got.detach(), want)
    for got, want in zip(model[0].parameters(), frozen):
        assert torch.equal(got, want)  # frozen weights are never touched


def test_a_removed_hook_stops_updating():
    model = model_with_frozen_first_layer()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    average = WeightAverage(model)
    average.attach(optimizer).remove()
    train(model, optimizer, steps=2)
    assert average.steps == 0


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model_with_frozen_first_layer(), decay=decay)
