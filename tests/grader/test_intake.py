"""Tests for autograder.intake: collect() and parse_notebook() on bad and unusual input."""
import hashlib
import io
import json
import os
import re
import struct
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import bad_inputs
from autograder.intake import (Submission, Ungradable, collect, parse_notebook,
                               safe_student_id)

GRADE_IDS = frozenset({"encode_batch", "test_encode_batch"})


def make_base() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Encode a batch\nTokenise the sentences."),
        nbformat.v4.new_code_cell(
            "def encode_batch(texts):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
            metadata={"nbgrader": {"grade": True, "grade_id": "encode_batch", "points": 2,
                                   "solution": True, "locked": False, "schema_version": 3,
                                   "task": False}}),
        nbformat.v4.new_code_cell(
            "assert encode_batch(['a']) == [[1]]",
            metadata={"nbgrader": {"grade": True, "grade_id": "test_encode_batch", "points": 1,
                                   "solution": False, "locked": True, "schema_version": 3,
                                   "task": False}}),
    ]
    nbformat.validate(nb)
    return json.loads(nbformat.writes(nb))


BASE = make_base()
BAD = bad_inputs.bad_cases(BASE)
GOOD = bad_inputs.good_variants(BASE)


def dump(nb: dict) -> bytes:
    return json.dumps(nb, indent=1).encode()


def reason(raw: bytes, **kw) -> str:
    with pytest.raises(Ungradable) as info:
        parse_notebook(raw, **kw)
    text = str(info.value)
    assert 0 < len(text) <= 400 and "\n" not in text
    return text


# ---------------------------------------------------------------------------------------
# parse_notebook
# ---------------------------------------------------------------------------------------

def test_generator_has_enough_cases():
    assert len(BAD) >= 15
    assert all(k.startswith("bad_") and v[1] == v[1].lower() for k, v in BAD.items())
    assert len(GOOD) >= 5


@pytest.mark.parametrize("student", sorted(BAD))
def test_bad_case_is_ungradable_with_specific_reason(student):
    raw, expected = BAD[student]
    assert expected in reason(raw, known_grade_ids=GRADE_IDS).lower()


@pytest.mark.parametrize("student", sorted(s for s in BAD if s != "bad_wrong_assignment"))
def test_bad_case_is_ungradable_without_grade_ids(student):
    raw, expected = BAD[student]
    assert expected in reason(raw).lower()


def test_wrong_assignment_only_detected_with_known_grade_ids():
    raw, _ = BAD["bad_wrong_assignment"]
    parse_notebook(raw)
    assert "wrong file" in reason(raw, known_grade_ids=GRADE_IDS)


@pytest.mark.parametrize("student", sorted(GOOD))
def test_good_variant_is_accepted(student):
    nb = parse_notebook(GOOD[student], known_grade_ids=GRADE_IDS)
    assert isinstance(nb, nbformat.NotebookNode)
    assert nb.nbformat == 4
    nbformat.validate(nb)
    assert all(isinstance(c.source, str) for c in nb.cells)
    grade_ids = {c.metadata.nbgrader.grade_id for c in nb.cells if "nbgrader" in c.metadata}
    assert grade_ids == GRADE_IDS
    assert "def encode_batch(texts):\n" in nb.cells[1].source
    if nb.nbformat_minor >= 5:
        ids = [c.id for c in nb.cells]
        assert len(set(ids)) == len(ids) and all(ids)


def test_v3_is_converted():
    nb = parse_notebook(GOOD["good_v3"])
    assert nb.nbformat == 4 and nb.metadata.get("orig_nbformat") == 3


def test_bom_is_accepted_and_utf16_is_not():
    assert parse_notebook(b"\xef\xbb\xbf" + dump(BASE)).cells[0].source.startswith("# Encode")
    assert "utf-16" in reason(dump(BASE).decode().encode("utf-16")).lower()


def test_invalid_json_reason_says_where():
    text = reason(BAD["bad_invalid_json"][0])
    assert re.search(r"at line \d+, column \d+", text)
    broken = b'{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}\n'
    assert "line 3, column 24" in reason(broken)
    assert "truncated" in reason(BAD["bad_truncated_json"][0])


def test_renamed_binaries_are_named():
    assert "zip archive, not a notebook" in reason(b"PK\x03\x04" + b"\x00" * 100)
    assert "PDF" in reason(b"%PDF-1.4\n")
    assert "PNG" in reason(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    assert "ELF" in reason(b"\x7fELF" + b"\x00" * 10)


def test_size_cap_applies_before_parsing():
    big = b"[" * 3000 + b"]" * 3000
    t = time.monotonic()
    assert "too large" in reason(big, max_bytes=1000)
    assert "too large" in reason(b" " * (20 * 2**20 + 1))
    assert time.monotonic() - t < 2


@pytest.mark.parametrize("payload", [
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 1_000_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
])
def test_deep_nesting_does_not_crash(payload):
    t = time.monotonic()
    text = reason(payload)
    assert "nested too deeply" in text or "not valid json" in text.lower()
    assert time.monotonic() - t < 5


def test_moderate_nesting_in_outputs_is_fine():
    nb = json.loads(dump(BASE))
    nb["cells"][2]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                  "data": {"application/json": json.loads("[" * 50 + "]" * 50)}}]
    parse_notebook(dump(nb))


def test_missing_cell_ids_are_filled_duplicates_rejected():
    nb = json.loads(dump(BASE))
    for c in nb["cells"]:
        del c["id"]
    parsed = parse_notebook(dump(nb))
    ids = [c.id for c in parsed.cells]
    assert len(set(ids)) == 3
    nb["cells"][0]["id"] = nb["cells"][1]["id"] = "same"
    assert "same cell id 'same'" in reason(dump(nb))


def test_kernels():
    nb = json.loads(dump(BASE))
    del nb["metadata"]["kernelspec"]
    parse_notebook(dump(nb))  # missing kernelspec: fine, the grader runs python3
    nb["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R"}
    nb["metadata"]["language_info"] = {"name": "R"}
    assert "R kernel, not Python" in reason(dump(nb))
    del nb["metadata"]["language_info"]
    assert "R kernel" in reason(dump(nb))  # from the kernel name alone
    nb["metadata"]["kernelspec"] = {"name": "my-venv", "display_name": "My venv"}
    parse_notebook(dump(nb))  # unknown custom kernel name, no language: accepted


def test_validation_reason_is_capped():
    nb = json.loads(dump(BASE))
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x" * 10_000, 5]}]
    text = reason(dump(nb))
    assert len(text) <= 400


def test_validation_error_that_nbformat_only_logs_is_caught():
    nb = json.loads(dump(BASE))
    nb["cells"][1]["execution_count"] = "three"
    assert "not valid" in reason(dump(nb))
    nb = json.loads(dump(BASE))
    nb["cells"][0]["id"] = "bad id with spaces!"
    assert "not valid" in reason(dump(nb))


# ---------------------------------------------------------------------------------------
# student ids
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../evil", "a/b", "a\\b", ".hidden", "..", "x" * 65, "a\nb",
                                  "a\x00b", "", "al ice", "C:evil"])
def test_unsafe_ids_are_sanitised(name):
    safe = safe_student_id(name)
    assert safe != name and safe.startswith("unsafe-")
    assert safe_student_id(safe) == safe and len(safe) <= 64


@pytest.mark.parametrize("name", ["alice", "bob_2", "jo.smith", "s12345", "a-b", "me@uni.edu"])
def test_safe_ids_kept(name):
    assert safe_student_id(name) == name


# ---------------------------------------------------------------------------------------
# collect
# ---------------------------------------------------------------------------------------

def by_student(records: list[Submission]) -> dict[str, Submission]:
    students = [r.student for r in records]
    assert students == sorted(students) and len(set(students)) == len(students)
    for r in records:
        assert r.sha256 == hashlib.sha256(r.raw).hexdigest()
        assert r.student == safe_student_id(r.student)
        if r.problem:
            assert r.raw == b""
    return {r.student: r for r in records}


def test_collect_loose_folder_with_all_bad_and_good_inputs(tmp_path):
    folder = tmp_path / "lms"
    expected = bad_inputs.write_bad_inputs(BASE, folder)
    good = bad_inputs.write_good_variants(BASE, folder)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "alice-checkpoint.ipynb").write_bytes(dump(BASE))
    (folder / "README.txt").write_text("not a student")
    t = time.monotonic()
    records = by_student(collect(folder, "core", "core"))
    assert time.monotonic() - t < 5  # the 200 MB sparse file is never read
    assert set(records) == set(expected) | set(good)
    assert "too large" in records["bad_huge"].problem
    for student, substring in expected.items():
        rec = records[student]
        assert rec.origin == f"lms/{student}.ipynb"
        if student == "bad_huge":
            continue
        assert rec.problem is None
        assert substring in reason(rec.raw, known_grade_ids=GRADE_IDS).lower()
    for student in good:
        assert records[student].problem is None
        parse_notebook(records[student].raw, known_grade_ids=GRADE_IDS)


def test_huge_file_rejected_without_reading(tmp_path, monkeypatch):
    folder = tmp_path / "sub"
    folder.mkdir()
    with open(folder / "alice.ipynb", "wb") as fh:
        fh.truncate(200 * 2**20)
    t = time.monotonic()
    [rec] = collect(folder, "core", "core")
    assert time.monotonic() - t < 1
    assert rec.student == "alice" and "too large" in rec.problem and rec.raw == b""


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_collect_nbgrader_tree(tmp_path):
    sub = tmp_path / "submitted"
    good = dump(BASE)
    write_tree(sub, {
        "alice/core/core.ipynb": good,
        "alice/core/timestamp.txt": b"2026-05-01 10:00:00.000000 UTC",
        "alice/core/.ipynb_checkpoints/core-checkpoint.ipynb": b"old",
        "alice/core/data.csv": b"a,b\n",
        "alice/hw0/hw0.ipynb": b"{}",
        "bob/core/timestamp.txt": b"2026-05-01",
        "carol/core/a.ipynb": good,
        "carol/core/b.ipynb": good,
        "dave/core/Core (1).ipynb": good,
        "erin/core/core.ipynb": good,
        "erin/core/core-Copy1.ipynb": b"{}",
        "frank/hw0/hw0.ipynb": good,
        "gina/core/.ipynb_checkpoints/core-checkpoint.ipynb": good,
        "henry/core/core.ipynb": b"",
        "al ice/core/core.ipynb": good,
        ".git/config": b"",
    })
    (sub / "ivan").mkdir()
    (sub / "jack/core").mkdir(parents=True)
    os.symlink("/etc/passwd", sub / "jack/core/core.ipynb")
    records = by_student(collect(sub, "core", "core"))
    assert sorted(records) == sorted(["alice", "bob", "carol", "dave", "erin", "frank", "gina",
                                      "henry", "ivan", "jack", safe_student_id("al ice")])
    alice = records["alice"]
    assert alice.problem is None and alice.origin == "submitted/alice/core/core.ipynb"
    assert alice.raw == good and alice.assignment == "core"
    assert records["bob"].problem.startswith("no notebook found for bob")
    assert records["carol"].problem == "several notebooks: a.ipynb, b.ipynb; submit exactly one"
    dave = records["dave"]
    assert dave.problem is None and dave.raw == good
    assert dave.origin == "submitted/dave/core/Core (1).ipynb (renamed; expected core.ipynb)"
    erin = records["erin"]
    assert erin.problem is None and erin.raw == good and "core-Copy1.ipynb" in erin.origin
    assert "no notebook found for frank" in records["frank"].problem and "hw0" in records["frank"].problem
    assert "no notebook found for gina" in records["gina"].problem  # checkpoints are ignored
    assert records["henry"].problem is None and "empty" in reason(records["henry"].raw)
    assert "no notebook found for ivan" in records["ivan"].problem
    assert "symbolic link" in records["jack"].problem and records["jack"].raw == b""
    unsafe = records[safe_student_id("al ice")]
    assert "unsafe student id" in unsafe.problem and "al ice" in unsafe.problem


def test_collect_nbgrader_tree_notebook_name_with_suffix(tmp_path):
    write_tree(tmp_path / "submitted", {"alice/core/core.ipynb": dump(BASE)})
    [rec] = collect(tmp_path / "submitted", "core", "core.ipynb")
    assert rec.problem is None and "renamed" not in rec.origin


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def test_collect_zip_loose_in_top_folder(tmp_path):
    good = dump(BASE)
    z = make_zip(tmp_path / "class.zip", {
        "class/alice.ipynb": good,
        "class/bob.ipynb": b"",
        "__MACOSX/class/._alice.ipynb": b"junk",
        "class/.ipynb_checkpoints/alice-checkpoint.ipynb": good,
    })
    records = by_student(collect(z, "core", "core"))
    assert sorted(records) == ["alice", "bob"]
    assert records["alice"].origin == "class.zip:class/alice.ipynb" and records["alice"].raw == good
    assert records["bob"].problem is None and records["bob"].raw == b""


def test_collect_zip_flat_and_hostile_members(tmp_path):
    good = dump(BASE)
    bomb = b" " * (25 * 2**20)  # compresses to ~25 kB, declares 25 MB
    z = make_zip(tmp_path / "class.zip", {
        "alice.ipynb": good,
        "../evil.ipynb": good,
        "../../etc/evil2.ipynb": good,
        "/abs/evil3.ipynb": good,
        "bomb.ipynb": bomb,
        "alice2.ipynb": good,
        "alice2.IPYNB": good,
        "notes.txt": b"hi",
    })
    assert z.stat().st_size < 1_000_000
    before = set(tmp_path.rglob("*"))
    records = by_student(collect(z, "core", "core"))
    assert set(tmp_path.rglob("*")) == before  # nothing extracted
    assert records["alice"].problem is None and records["alice"].raw == good
    assert "too large" in records["bomb"].problem
    assert "several notebooks" in records["alice2"].problem
    hostile = [r for s, r in records.items() if s.startswith("unsafe-")]
    assert len(hostile) == 3
    for r in hostile:
        assert "unsafe path" in r.problem and r.raw == b"" and "/" not in r.student
        assert ".." not in r.student
    assert len(records) == 6


def _lie_about_size(zip_bytes: bytes, member: str, size: int) -> bytes:
    """Patch the central directory so ``member`` declares ``size`` uncompressed bytes."""
    data = bytearray(zip_bytes)
    i = data.find(b"PK\x01\x02" + b"\x00" * 0, 0)
    while i != -1:
        name_len = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46:i + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, i + 24, size)
            return bytes(data)
        i = data.find(b"PK\x01\x02", i + 4)
    raise AssertionError("member not found")


def test_zip_member_lying_about_its_size(tmp_path):
    payload = b"{" + b" " * 5_000_000 + b"}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.ipynb", payload)
        zf.writestr("ok.ipynb", dump(BASE))
    z = tmp_path / "liar.zip"
    z.write_bytes(_lie_about_size(buf.getvalue(), "liar.ipynb", 100))
    records = by_student(collect(z, "core", "core", max_bytes=1000))
    assert records["liar"].problem and records["liar"].raw == b""
    assert "too large" in records["ok"].problem  # ok.ipynb really is > 1000 bytes
    records = by_student(collect(z, "core", "core"))
    assert records["liar"].problem and records["ok"].problem is None


def test_collect_zipped_nbgrader_tree(tmp_path):
    good = dump(BASE)
    z = make_zip(tmp_path / "submitted.zip", {
        "submitted/alice/core/core.ipynb": good,
        "submitted/bob/core/Core.ipynb": good,
        "submitted/carol/hw0/hw0.ipynb": good,
    })
    records = by_student(collect(z, "core", "core"))
    assert records["alice"].problem is None
    assert records["alice"].origin == "submitted.zip:submitted/alice/core/core.ipynb"
    assert records["bob"].problem is None and "renamed" in records["bob"].origin
    assert "no notebook found for carol" in records["carol"].problem


def test_collect_bad_batch_inputs(tmp_path):
    with pytest.raises(ValueError):
        collect(tmp_path / "missing", "core", "core")
    (tmp_path / "not.zip").write_bytes(b"this is not a zip")
    with pytest.raises(ValueError):
        collect(tmp_path / "not.zip", "core", "core")
    (tmp_path / "empty").mkdir()
    assert collect(tmp_path / "empty", "core", "core") == []


def test_collect_does_not_hang_on_fifo(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    os.mkfifo(folder / "alice.ipynb")
    [rec] = collect(folder, "core", "core")
    assert rec.student == "alice" and "not a regular file" in rec.problem


def test_collect_loose_and_folder_for_same_student(tmp_path):
    good = dump(BASE)
    write_tree(tmp_path / "sub", {"alice.ipynb": good, "alice/core.ipynb": good, "bob/bob.ipynb": good})
    records = by_student(collect(tmp_path / "sub", "core", "core"))
    assert "several notebooks" in records["alice"].problem
    assert records["bob"].problem is None and records["bob"].raw == good


def test_collect_unsafe_loose_names(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / ("x" * 70 + ".ipynb")).write_bytes(dump(BASE))
    (folder / "tab\tname.ipynb").write_bytes(dump(BASE))
    records = by_student(collect(folder, "core", "core"))
    assert len(records) == 2
    assert all("unsafe student id" in r.problem for r in records.values())


# ---------------------------------------------------------------------------------------
# fuzzing: parse_notebook raises nothing but Ungradable
# ---------------------------------------------------------------------------------------

def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def test_fuzz_structure_mutations_only_raise_ungradable():
    import random
    rng = random.Random(1234)
    base = json.loads(dump(BASE))
    v3 = json.loads(GOOD["good_v3"])
    junk = [None, 0, -1, 2**70, 1.5, "", "x", "4", True, [], [1], ["a", 2], {}, {"a": 1},
            {"cell_type": "code"}, {"output_type": "stream"}]
    for i in range(600):
        nb = json.loads(json.dumps(v3 if i % 4 == 0 else base))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(list(_paths(nb))[1:])
            node = nb
            for p in path[:-1]:
                node = node[p]
            if rng.random() < 0.2 and isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = json.loads(json.dumps(rng.choice(junk)))
        try:
            parse_notebook(dump(nb), known_grade_ids=GRADE_IDS)
        except Ungradable as exc:
            assert 0 < len(str(exc)) <= 400


def test_fuzz_byte_mutations_only_raise_ungradable():
    import random
    rng = random.Random(99)
    good = dump(BASE)
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 50)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        try:
            parse_notebook(bytes(data))
        except Ungradable:
            pass


def test_old_minor_with_cell_ids_is_treated_as_4_5():
    nb = json.loads(dump(BASE))
    nb["nbformat_minor"] = 4
    assert parse_notebook(dump(nb)).nbformat_minor == 5
    nb["cells"][0]["id"] = ["x"]
    assert "invalid cell id" in reason(dump(nb))


def test_symlinked_student_folder_is_reported_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write_tree(outside, {"core/core.ipynb": dump(BASE)})
    sub = tmp_path / "submitted"
    write_tree(sub, {"alice/core/core.ipynb": dump(BASE)})
    os.symlink(outside, sub / "mallory")
    os.symlink(outside / "core/core.ipynb", sub / "trudy.ipynb")
    records = by_student(collect(sub, "core", "core"))
    assert sorted(records) == ["alice", "mallory", "trudy"]
    assert records["alice"].problem is None
    assert "symbolic link" in records["mallory"].problem and records["mallory"].raw == b""
    assert "symbolic link" in records["trudy"].problem and records["trudy"].raw == b""
