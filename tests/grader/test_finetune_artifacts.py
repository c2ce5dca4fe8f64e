"""finetune_last_layer's trusted artifact checks on real MiniLM weights and the real reserved split."""
import io

import pytest
import torch
from safetensors.torch import save as save_safetensors

from autograder.assignments.finetune_last_layer.artifacts import SNAPSHOT, Checker
from autograder.weights import ExportError, read_safetensors

BAR = 0.71


@pytest.fixture(scope="module")
def checker():
    return Checker(BAR)


def groups(report) -> dict[str, bool]:
    return {c.group: c.passed for c in report.checks}


def honest_weights(checker, seed=0, touch=("encoder.encoder.layer.5.output.dense.weight",)):
    generator = torch.Generator().manual_seed(seed)
    tensors = {k: v.clone() for k, v in checker.pretrained.items()}
    tensors["head.weight"] = torch.randn(2, 384, generator=generator) * 0.05
    tensors["head.bias"] = torch.zeros(2)
    for name in touch:
        tensors[name] = tensors[name] + torch.randn(tensors[name].shape, generator=generator) * 1e-3
    return tensors


def test_strict_parsing_refuses_off_contract_files(checker):
    good = honest_weights(checker)
    buffer = io.BytesIO()
    torch.save(good, buffer)
    cases = {
        "pickle": buffer.getvalue(),
        "empty": b"",
        "bad header": (10**12).to_bytes(8, "little") + b"{}",
        "missing key": save_safetensors({k: v for k, v in good.items() if k != "head.bias"}),
        "extra key": save_safetensors({**good, "backdoor": torch.zeros(1)}),
        "wrong shape": save_safetensors({**good, "head.weight": torch.zeros(3, 384)}),
        "wrong dtype": save_safetensors({**good, "head.bias": torch.zeros(2, dtype=torch.float64)}),
        "nan": save_safetensors({**good, "head.bias": torch.tensor([float("nan"), 0.0])}),
    }
    for name, raw in cases.items():
        with pytest.raises(ExportError):
            read_safetensors(raw, checker.expected)
        report = checker.check({SNAPSHOT: raw}, tmp_path_factory_dir())
        assert groups(report) == {"artifact:snapshot": False, "artifact:frozen": False, "artifact:trained": False,
                                  "artifact:accuracy": False}, name
    assert not any(groups(checker.check({}, tmp_path_factory_dir())).values())


def tmp_path_factory_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="artifact-cache-"))


def test_freeze_check_is_bit_exact(checker):
    ok = groups(checker.check({SNAPSHOT: save_safetensors(honest_weights(checker))}, tmp_path_factory_dir()))
    assert ok["artifact:snapshot"] and ok["artifact:frozen"] and ok["artifact:trained"]
    nudged = honest_weights(checker)
    name = "encoder.embeddings.word_embeddings.weight"
    nudged[name] = nudged[name].clone()
    nudged[name][0, 0] = torch.nextafter(nudged[name][0, 0], torch.tensor(1.0))  # one ulp
    report = checker.check({SNAPSHOT: save_safetensors(nudged)}, tmp_path_factory_dir())
    assert not groups(report)["artifact:frozen"]
    assert name in next(c.reason for c in report.checks if c.group == "artifact:frozen")
    untouched = checker.check({SNAPSHOT: save_safetensors(honest_weights(checker, touch=()))}, tmp_path_factory_dir())
    assert "did not train" in next(c.reason for c in untouched.checks if c.group == "artifact:trained")


def test_accuracy_is_kept_per_digest_of_the_weights(checker, tmp_path):
    raw = save_safetensors(honest_weights(checker))
    first = checker.check({SNAPSHOT: raw}, tmp_path).measurements["heldout_accuracy"]
    (stored,) = (tmp_path / "accuracy").glob("*.json")
    assert str(first)[:5] in stored.read_text()
    stored.write_text(stored.read_text().replace('"digest": "', '"digest": "x'))  # a damaged entry is not trusted
    assert checker.check({SNAPSHOT: raw}, tmp_path).measurements["heldout_accuracy"] == first


@pytest.mark.slow
def test_cached_prefix_gives_the_same_accuracy_as_the_full_model(checker):
    tensors = honest_weights(checker, touch=[k for k in checker.pretrained if k.startswith("encoder.encoder.layer.5.")])
    assert checker.accuracy(tensors, fast=True) == checker.accuracy(tensors, fast=False)


def _fresh_checker_that_must_not_compute():
    fresh = Checker(BAR)

    def refuse():
        raise AssertionError("the prefix was recomputed although a good file is on disk")

    fresh._compute_prefix = refuse
    return fresh


@pytest.mark.slow
def test_prefix_is_kept_on_disk_outside_the_sandbox_and_rebuilt_if_damaged(checker):
    from coursekit.paths import data_dir

    tensors = honest_weights(checker, touch=[k for k in checker.pretrained if k.startswith("encoder.encoder.layer.5.")])
    expected = checker.accuracy(tensors, fast=False)
    checker.accuracy(tensors, fast=True)
    files = sorted((data_dir() / "grader").glob("prefix-*.safetensors"))
    assert files, "the first trusted check writes the prefix file"
    newest = max(files, key=lambda p: p.stat().st_mtime)

    # A second grader process (here: a fresh checker) reads the file instead of recomputing.
    assert _fresh_checker_that_must_not_compute().accuracy(tensors, fast=True) == expected

    # A truncated file is not trusted: the next checker rebuilds it and gets the same number.
    # Building also deletes the file of an earlier key (here a planted one).
    newest.write_bytes(newest.read_bytes()[:1000])
    stale = newest.with_name("prefix-v0-000000000000000000000000.safetensors")
    stale.write_bytes(b"from an older grader")
    rebuilt = Checker(BAR)
    assert rebuilt.accuracy(tensors, fast=True) == expected
    assert not stale.exists() and newest.exists()
    assert _fresh_checker_that_must_not_compute().accuracy(tensors, fast=True) == expected
