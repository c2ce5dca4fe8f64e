"""Stage 2: trusted checks on the plain data a submission exported.

Runs in a process that never executes student code. It reads the exported
safetensors bytes (never a pickle), checks keys, shapes, dtypes and values
strictly, proves that every tensor that must stay frozen is bit-for-bit the
pretrained one and that the trainable layer really changed, rebuilds the
classifier and measures accuracy on the reserved test split.

Speed: when the frozen part is proven identical, the encoder's output up to
the last layer is the same for every honest submission, so it is computed
once per machine (``autograder.prefix_cache``) and only the last layer and
the head run per submission.
"""
from __future__ import annotations

import copy
import json
import struct
from dataclasses import dataclass, field

import torch

from autograder import prefix_cache
from autograder.heldout import reserved_test_split
from coursekit import models
from coursekit.training import batches_by_length

MAX_HEADER_BYTES = 1 << 20
MAX_TENSORS = 1000
TEST_BATCH = 64  # test examples per forward pass


@dataclass
class TrustedReport:
    export_ok: bool = False
    export_reason: str = ""
    frozen_ok: bool = False
    frozen_reason: str = ""
    accuracy: float | None = None
    accuracy_reason: str = ""
    changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(vars(self))


class ExportError(ValueError):
    pass


def read_safetensors(raw: bytes, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes into tensors, refusing anything off-contract."""
    if raw[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or raw[:4] == b"PK\x03\x04":
        raise ExportError("the export is a pickle/torch.save file, not safetensors; use safetensors.torch.save_file")
    if len(raw) < 8:
        raise ExportError("the export file is empty or truncated")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > min(MAX_HEADER_BYTES, len(raw) - 8):
        raise ExportError("the export is not a valid safetensors file (bad header length)")
    try:
        header = json.loads(raw[8:8 + header_len])
    except ValueError:
        raise ExportError("the export is not a valid safetensors file (unreadable header)") from None
    if not isinstance(header, dict) or len(header) > MAX_TENSORS + 1:
        raise ExportError("the export's header is not a table of tensors")
    from safetensors.torch import load as load_safetensors

    try:
        tensors = load_safetensors(raw)
    except Exception as error:  # safetensors raises its own error types
        raise ExportError(f"the export could not be read as safetensors: {error}") from None
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ExportError(f"the export's keys differ from classifier.state_dict(): missing {missing[:3]}, unexpected {extra[:3]}")
    for name, reference in expected.items():
        tensor = tensors[name]
        if tensor.dtype != reference.dtype or tuple(tensor.shape) != tuple(reference.shape):
            raise ExportError(f"{name} has {tensor.dtype} {tuple(tensor.shape)}, expected {reference.dtype} {tuple(reference.shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ExportError(f"{name} contains NaN or infinite values")
    return tensors


def bit_identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        view = {torch.float32: torch.int32, torch.float16: torch.int16, torch.float64: torch.int64}[a.dtype]
        return torch.equal(a.contiguous().view(view), b.contiguous().view(view))
    return torch.equal(a, b)


def mean_pool(hidden, mask):
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class FinetuneLastLayerChecker:
    """Trusted checks for the core assignment (see docs/assignment-contract.md)."""

    def __init__(self, spec):
        self.spec = spec
        self.tokenizer = models.load_tokenizer()
        self.encoder = models.load_encoder()
        self.pretrained = {f"encoder.{k}": v.detach().clone() for k, v in self.encoder.state_dict().items()}
        hidden = self.encoder.config.hidden_size
        self.expected = dict(self.pretrained)
        self.expected["head.weight"] = torch.zeros(spec.num_labels, hidden)
        self.expected["head.bias"] = torch.zeros(spec.num_labels)
        self.trainable_prefixes = (f"encoder.encoder.layer.{self.encoder.config.num_hidden_layers - 1}.", "head.")
        self._prefix_batches = None
        self._index_batches_cache = None
        self.test = reserved_test_split(spec.dataset)

    # ------------------------------------------------------------ checks
    def check(self, exported: dict[str, bytes]) -> TrustedReport:
        report = TrustedReport()
        raw = exported.get(self.spec.export_file)
        if raw is None:
            report.export_reason = f"no {self.spec.export_file} was exported (part F)"
            return report
        try:
            tensors = read_safetensors(raw, self.expected)
        except ExportError as error:
            report.export_reason = str(error)
            return report
        report.export_ok = True

        must_freeze = [k for k in self.pretrained if not k.startswith(self.trainable_prefixes)]
        changed_frozen = [k for k in must_freeze if not bit_identical(tensors[k], self.pretrained[k])]
        trainable_layer = [k for k in self.pretrained if k.startswith(self.trainable_prefixes[0])]
        changed_layer = [k for k in trainable_layer if not bit_identical(tensors[k], self.pretrained[k])]
        report.changed = changed_frozen + changed_layer
        if changed_frozen:
            report.frozen_reason = (f"{len(changed_frozen)} tensors that must stay frozen differ from the pretrained ones, "
                                    f"e.g. {changed_frozen[0]}")
        elif not changed_layer:
            report.frozen_reason = "the last encoder layer is unchanged: it did not train"
        else:
            report.frozen_ok = True
        try:
            report.accuracy = self.accuracy(tensors, fast=not changed_frozen)
        except Exception as error:  # the weights passed every check above, so this is a grader fault
            report.accuracy_reason = f"grader could not evaluate the weights: {error!r}"
        return report

    # ----------------------------------------------------------- accuracy
    def _index_batches(self) -> list[list[int]]:
        """Test examples in batches of similar token count (coursekit's helper), so padding stays small.

        (Grouping by characters left 94,000 padded positions for 70,000 real tokens; by tokens, 72,000.)
        """
        if self._index_batches_cache is None:
            texts = list(self.test.texts)
            ids = self.tokenizer(texts, truncation=True, max_length=self.spec.max_length)["input_ids"]
            tokens = {text: len(row) for text, row in zip(texts, ids)}
            self._index_batches_cache = batches_by_length(texts, TEST_BATCH, length=tokens.__getitem__)
        return self._index_batches_cache

    @torch.no_grad()
    def _batches(self):
        """Tokenized test batches, in length order."""
        for chosen in self._index_batches():
            batch = self.tokenizer([self.test.texts[i] for i in chosen], padding="longest", truncation=True,
                                   max_length=self.spec.max_length, return_tensors="pt")
            yield batch, torch.tensor([self.test.labels[i] for i in chosen])

    @torch.no_grad()
    def _compute_prefix(self):
        return [(self.encoder(**batch, output_hidden_states=True).hidden_states[-2], batch["attention_mask"], labels)
                for batch, labels in self._batches()]

    def _prefix(self):
        """Hidden states entering the last layer, from the pretrained weights: on disk, shared by all workers."""
        if self._prefix_batches is None:
            settings = (f"{self.spec.dataset}|{self.spec.max_length}|{TEST_BATCH}|{type(self.tokenizer).__name__}"
                        f"|{len(self.tokenizer)}|sorted by tokens")
            key = prefix_cache.cache_key(self.encoder, self.test.texts, self.test.labels, settings)
            labels = [self.test.labels[i] for chosen in self._index_batches() for i in chosen]
            self._prefix_batches = prefix_cache.load_or_build(key, labels, self._compute_prefix)
        return self._prefix_batches

    def _head(self, tensors: dict[str, torch.Tensor]) -> torch.nn.Linear:
        head = torch.nn.Linear(self.encoder.config.hidden_size, self.spec.num_labels)
        head.load_state_dict({"weight": tensors["head.weight"], "bias": tensors["head.bias"]})
        return head

    @torch.no_grad()
    def prefix_logits(self, tensors: dict[str, torch.Tensor]):
        """(logits, labels) per test batch, running only the last layer and the head on the cached prefix.

        Exact only when every frozen tensor equals the pretrained one (the prefix was built from those).
        """
        head = self._head(tensors)
        layer = copy.deepcopy(self.encoder.encoder.layer[-1])
        prefix = self.trainable_prefixes[0]
        layer.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        layer.eval()
        for states, mask, labels in self._prefix():
            additive = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(states.dtype).min
            out = layer(states, attention_mask=additive)
            out = out[0] if isinstance(out, tuple) else out
            yield head(mean_pool(out, mask)), labels

    @torch.no_grad()
    def accuracy(self, tensors: dict[str, torch.Tensor], fast: bool) -> float:
        correct = 0
        if fast:
            for logits, labels in self.prefix_logits(tensors):
                correct += (logits.argmax(-1) == labels).sum().item()
        else:
            head = self._head(tensors)
            encoder = copy.deepcopy(self.encoder)
            encoder.load_state_dict({k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")})
            encoder.eval()
            for batch, labels in self._batches():
                hidden = encoder(**batch).last_hidden_state
                correct += (head(mean_pool(hidden, batch["attention_mask"])).argmax(-1) == labels).sum().item()
        return correct / len(self.test)
