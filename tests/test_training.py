"""coursekit.training: WeightAverage on a small real model and optimizer; batches_by_length on real review snippets."""
import pytest
import torch

from coursekit.training import WeightAverage, batches_by_length, mask_tokens


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


# ------------------------------------------------------------ batches_by_length
def padded_positions(batches, lengths):
    """Token positions a dynamically padded batch holds: its longest text times its size."""
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


@pytest.fixture(scope="module")
def snippets():
    from coursekit import data

    return data.load_dataset("rotten_tomatoes", n_train=1000, balanced=False, seed=0).train.texts


def test_every_index_once_in_full_batches_but_the_last(snippets):
    batches = batches_by_length(snippets, 16, torch.Generator().manual_seed(0))
    assert sorted(i for batch in batches for i in batch) == list(range(len(snippets)))
    assert sorted(len(batch) for batch in batches)[1:] == [16] * (len(batches) - 1)
    assert len(batches) == -(-len(snippets) // 16)


def test_grouping_cuts_padding_against_random_batches(snippets):
    lengths = [len(text) for text in snippets]
    shuffled = torch.randperm(len(snippets), generator=torch.Generator().manual_seed(0)).tolist()
    random_batches = [shuffled[s:s + 16] for s in range(0, len(shuffled), 16)]
    grouped = batches_by_length(snippets, 16, torch.Generator().manual_seed(0))
    assert padded_positions(grouped, lengths) < 0.8 * padded_positions(random_batches, lengths)


def test_epochs_differ_and_a_seed_repeats_them(snippets):
    generator = torch.Generator().manual_seed(3)
    first, second = batches_by_length(snippets, 16, generator), batches_by_length(snippets, 16, generator)
    assert first != second
    assert batches_by_length(snippets, 16, torch.Generator().manual_seed(3)) == first


def test_without_a_generator_batches_follow_length_order():
    texts = ["a much longer text", "tiny", "mid length", "xy"]
    assert batches_by_length(texts, 2) == [[3, 1], [2, 0]]
    assert batches_by_length(texts, 3, length=lambda t: -len(t)) == [[0, 2, 1], [3]]


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        batches_by_length(["a"], 0)


# ------------------------------------------------------------ mask_tokens
@pytest.fixture(scope="module")
def tokenizer():
    from coursekit import models

    return models.load_tokenizer()


@pytest.fixture(scope="module")
def encoded(tokenizer, snippets):
    return tokenizer(snippets[:200], padding="longest", truncation=True, max_length=64, return_tensors="pt")


def test_masking_hides_about_the_asked_share_of_real_word_pieces_only(tokenizer, encoded):
    before = encoded["input_ids"].clone()
    masked = mask_tokens(encoded, tokenizer, 0.3, torch.Generator().manual_seed(0))
    ids = masked["input_ids"]
    real = encoded["attention_mask"].bool() & (before != tokenizer.cls_token_id) & (before != tokenizer.sep_token_id)
    changed = ids != before
    assert torch.equal(encoded["input_ids"], before)  # the batch passed in is left alone
    assert torch.equal(masked["attention_mask"], encoded["attention_mask"])
    assert not (changed & ~real).any()  # padding, [CLS] and [SEP] keep their ids
    assert (ids[changed] == tokenizer.mask_token_id).all()
    share = changed.sum().item() / real.sum().item()
    assert 0.27 < share < 0.33, share  # ~5,400 real word pieces: +-0.03 is about five standard deviations


def test_masking_at_rate_zero_changes_nothing_and_a_seed_repeats_it(tokenizer, encoded):
    assert torch.equal(mask_tokens(encoded, tokenizer, 0.0)["input_ids"], encoded["input_ids"])
    first = mask_tokens(encoded, tokenizer, 0.1, torch.Generator().manual_seed(5))["input_ids"]
    again = mask_tokens(encoded, tokenizer, 0.1, torch.Generator().manual_seed(5))["input_ids"]
    other = mask_tokens(encoded, tokenizer, 0.1, torch.Generator().manual_seed(6))["input_ids"]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_masking_at_rate_one_hides_every_real_word_piece(tokenizer, encoded):
    ids = mask_tokens(encoded, tokenizer, 1.0)["input_ids"]
    before = encoded["input_ids"]
    real = encoded["attention_mask"].bool() & (before != tokenizer.cls_token_id) & (before != tokenizer.sep_token_id)
    assert (ids[real] == tokenizer.mask_token_id).all() and torch.equal(ids[~real], before[~real])


@pytest.mark.parametrize("rate", [-0.1, 1.01])
def test_a_masking_rate_outside_zero_to_one_is_refused(tokenizer, encoded, rate):
    with pytest.raises(ValueError, match="rate"):
        mask_tokens(encoded, tokenizer, rate)
