"""Reading weights a sandboxed notebook exported: safetensors only, checked strictly.

Generic: the caller says which tensors (names, dtypes, shapes) it expects.
"""
from __future__ import annotations

import json
import struct

import torch

MAX_HEADER_BYTES = 1 << 20
MAX_TENSORS = 1000


class ExportError(ValueError):
    pass


def read_safetensors(raw: bytes, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Parse safetensors bytes into tensors, refusing anything off-contract (pickles, other keys, NaN)."""
    if raw[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or raw[:4] == b"PK\x03\x04":
        raise ExportError("the export is a pickle/torch.save file, not safetensors")
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
        raise ExportError(f"the export's keys differ from the expected ones: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, reference in expected.items():
        tensor = tensors[name]
        if tensor.dtype != reference.dtype or tuple(tensor.shape) != tuple(reference.shape):
            raise ExportError(f"{name} has {tensor.dtype} {tuple(tensor.shape)}, expected {reference.dtype} {tuple(reference.shape)}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ExportError(f"{name} contains NaN or infinite values")
    return tensors


def bit_identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (so -0.0 differs from 0.0, and no NaN hides a difference)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        view = {torch.float32: torch.int32, torch.float16: torch.int16, torch.float64: torch.int64,
                torch.bfloat16: torch.int16}[a.dtype]
        return torch.equal(a.contiguous().view(view), b.contiguous().view(view))
    return torch.equal(a, b)
