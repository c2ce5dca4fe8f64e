"""Challenges on the trusted side: drawing them, reading the answers, judging.

Challenge inputs come from a random generator seeded by an HMAC of a secret
kept in the course's grader folder (never visible in the sandbox), the
assignment, the source notebook's hash and the grading seed. Students cannot
know them in advance, a change to the source notebook draws new ones, and a
rerun of the same grading draws the same ones (regrading is deterministic).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import random
from pathlib import Path

import numpy as np

from autograder.harness_runtime import RESPONSE_MARK
from autograder.result import Check

SECRET_BYTES = 32
_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
           "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}
MAX_ELEMENTS = 1 << 21


_WORDS: list[str] = []


def words() -> list[str]:
    """Whole English words from MiniLM's vocabulary, the pool that challenge texts are drawn from."""
    if not _WORDS:
        from coursekit import models

        vocab = models.vocabulary()
        _WORDS.extend(sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) >= 3))
    return _WORDS


def load_secret(state_dir: Path) -> bytes:
    """The course's challenge secret, created on first use (readable by its owner only)."""
    path = Path(state_dir) / "challenge-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(SECRET_BYTES))
    return path.read_bytes()


def draw(assignment, secret: bytes, source_sha256: str, seed: int) -> list[dict]:
    message = f"{assignment.name}|{assignment.version}|{source_sha256}|{seed}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    specs = assignment.draw_challenges(random.Random(int.from_bytes(digest, "big")))
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{assignment.name}: challenge names must be unique")
    return specs


def grading_key(assignment, secret: bytes, source_sha256: str, seed: int) -> bytes:
    """A key for the trusted artifact checks' own random choices (which points to retrain, say): derived from the
    course's secret like the challenges, so students cannot know those choices, and fixed for a regrade."""
    message = f"{assignment.name}|{assignment.version}|{source_sha256}|{seed}|artifact checks".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


class Drawer:
    """Collects an assignment's challenge specs, numbering them per check group and seeding each from ``rng``."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.specs: list[dict] = []

    def add(self, group: str, kind: str, label: str, args: dict, time_factor: float = 1.0) -> None:
        count = sum(1 for s in self.specs if s["group"] == group) + 1
        self.specs.append({"name": f"{group}#{count}", "group": group, "kind": kind, "label": label,
                           "seed": self.rng.randrange(2**31), "args": args, "time_factor": time_factor})


def specs_digest(specs: list[dict]) -> str:
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ answers
def parse_answers(text: str, specs: list[dict]) -> dict[str, dict]:
    """{challenge name: answer} from the harness cell's output. Unknown, repeated or malformed lines are ignored:
    a challenge without a valid answer counts as failed."""
    wanted = {s["name"] for s in specs}
    answers: dict[str, dict] = {}
    for line in text.splitlines():
        if not line.startswith(RESPONSE_MARK):
            continue
        try:
            reply = json.loads(line[len(RESPONSE_MARK):])
        except (ValueError, RecursionError):
            continue
        if not isinstance(reply, dict):
            continue
        name = reply.get("name")
        if name in wanted and name not in answers and isinstance(reply.get("ok"), bool):
            answers[name] = reply
    return answers


class BadValue(ValueError):
    """An answer that is not what the contract allows (wrong type, shape, size or encoding)."""


def tensor(value, dtype: str | None = None) -> np.ndarray:
    """Decode a reported tensor (never a pickle), strictly."""
    if not (isinstance(value, dict) and isinstance(value.get("__tensor__"), dict)):
        raise BadValue(f"expected a tensor, got {describe(value)}")
    info = value["__tensor__"]
    kind, shape, b64 = info.get("dtype"), info.get("shape"), info.get("b64")
    if kind not in _DTYPES or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise BadValue("a reported tensor is malformed")
    count = math.prod(shape)
    if count > MAX_ELEMENTS or not isinstance(b64, str):
        raise BadValue("a reported tensor is too large")
    raw = base64.b64decode(b64.encode("ascii"), validate=True)
    array = np.frombuffer(raw, dtype=_DTYPES[kind])
    if array.size != count:
        raise BadValue("a reported tensor's data does not match its shape")
    if dtype is not None and kind != dtype:
        raise BadValue(f"expected a {dtype} tensor, got {kind}")
    return array.reshape(shape)


_SPECIAL = ("__tensor__", "__dict__", "__module__", "__object__", "__float__")


def mapping(value) -> dict:
    """Decode a reported dict: a student's (keys as reported) or one the harness built (a JSON object)."""
    if isinstance(value, dict) and not any(key in value for key in _SPECIAL):
        return dict(value)
    if not (isinstance(value, dict) and isinstance(value.get("__dict__"), list)):
        raise BadValue(f"expected a dict, got {describe(value)}")
    out = {}
    for pair in value["__dict__"]:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise BadValue("a reported dict is malformed")
        key = pair[0] if isinstance(pair[0], (str, int, float, bool)) or pair[0] is None else json.dumps(pair[0])
        out[key] = pair[1]
    return out


def number(value) -> float:
    """A reported number: int, float, or a 0-d numeric tensor."""
    if isinstance(value, bool):
        raise BadValue("expected a number, got true/false")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dict) and "__tensor__" in value:
        array = tensor(value)
        if array.size == 1 and array.dtype != np.bool_:
            return array.reshape(()).item()
    raise BadValue(f"expected a number, got {describe(value)}")


def describe(value) -> str:
    """What a reported value is, in words."""
    if isinstance(value, dict):
        for key, words in (("__tensor__", "a tensor"), ("__dict__", "a dict"), ("__module__", "a module"),
                           ("__object__", "an object"), ("__float__", "a non-finite float")):
            if key in value:
                inner = value[key]
                name = inner.get("type") if isinstance(inner, dict) else None
                if key == "__object__":
                    name = inner
                return f"{words}" + (f" ({name})" if isinstance(name, str) else "")
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "None"
    return type(value).__name__


def close(student: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> bool:
    if student.shape != reference.shape:
        return False
    if not np.isfinite(student).all():
        return False
    return bool(np.allclose(student.astype(np.float64), reference.astype(np.float64), rtol=rtol, atol=atol))


# ------------------------------------------------------------------ judging
def judge_all(assignment, specs: list[dict], student: dict[str, dict], reference: dict[str, dict],
              missing_reason: str) -> list[Check]:
    checks = []
    for spec in specs:
        name, group = spec["name"], spec["group"]
        mine, theirs = student.get(name), reference.get(name)
        if theirs is None or not theirs.get("ok"):
            # The reference must answer every challenge; the batch refuses to start otherwise (see batch).
            raise RuntimeError(f"the reference solution did not answer challenge {name}: {theirs}")
        if mine is None:
            checks.append(Check(name, group, False, missing_reason))
            continue
        if not mine.get("ok"):
            error = str(mine.get("error", "failed"))
            checks.append(Check(name, group, False, f"{spec_label(spec)}: {error}"))
            continue
        try:
            passed, reason = assignment.judge(spec, mine["value"], theirs["value"])
        except BadValue as error:
            passed, reason = False, str(error)
        checks.append(Check(name, group, passed, "" if passed else f"{spec_label(spec)}: {reason}"))
    return checks


def spec_label(spec: dict) -> str:
    return spec.get("label") or spec["group"]
