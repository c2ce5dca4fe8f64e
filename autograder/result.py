"""The grade of one submission, as a typed record.

Everything downstream (the store, the gradebook, grades.csv, results.json,
feedback pages, the summary) reads this record and nothing else.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

# What a status means. Only "grader_error" is the grader's fault: it is never
# stored as final, never written as a score, and a rerun retries it.
STATUSES = {
    "graded": "graded",
    "ungradable": "the file could not be graded (bad input); the reason says why",
    "timeout": "a cell or the notebook ran out of time; points earned by functions defined before it are kept",
    "kernel_died": "the notebook's kernel died; points earned by functions defined before it are kept",
    "grader_error": "a fault of the grader, not of the student; rerun the grader to retry",
}


@dataclass(frozen=True)
class Check:
    """One trusted check: a challenge call, or a check of an artifact the graded run produced."""
    name: str          # e.g. "encode_batch#2" or "artifact:frozen"
    group: str         # what the cell rules refer to, e.g. "encode_batch" or "artifact:frozen"
    passed: bool
    reason: str = ""   # for the student and the TA when it failed; never quotes hidden inputs


@dataclass
class GradeResult:
    student: str
    assignment: str
    origin: str
    sha256: str
    seed: int
    status: str = ""
    reason: str = ""
    scores: dict[str, float] = field(default_factory=dict)      # automatic points per graded cell
    max_scores: dict[str, float] = field(default_factory=dict)  # every graded cell, manual ones too
    manual: list[str] = field(default_factory=list)              # written answers, graded by hand
    notes: dict[str, str] = field(default_factory=dict)          # why each automatic cell got its points
    checks: list[Check] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)               # advisory code screen, for the TA only
    measurements: dict[str, float | str | None] = field(default_factory=dict)  # e.g. held-out accuracy
    release: dict[str, str] = field(default_factory=dict)        # the release the student worked from
    graded_against: dict[str, str] = field(default_factory=dict)  # the release whose checks were used
    stand_ins: list[str] = field(default_factory=list)
    unsafe_no_sandbox: bool = False
    grader_version: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    # --------------------------------------------------------------- totals
    @property
    def auto_ids(self) -> list[str]:
        return [g for g in self.max_scores if g not in self.manual]

    @property
    def score(self) -> float:
        return sum(self.scores.get(g, 0.0) for g in self.auto_ids)

    @property
    def max_score(self) -> float:
        return sum(self.max_scores[g] for g in self.auto_ids)

    @property
    def is_final(self) -> bool:
        """A grader fault is never final: a rerun grades the submission again."""
        return self.status != "grader_error"

    # ---------------------------------------------------------- json form
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GradeResult":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["checks"] = [Check(**c) for c in data.get("checks", [])]
        return cls(**data)
