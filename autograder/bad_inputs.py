"""Generators of bad and good-but-unusual submissions, as loose ``<student>.ipynb`` files.

Reused by the end-to-end tests: point them at a valid base notebook (a dict, e.g. the
released assignment notebook) and an empty folder, then grade that folder.

``write_bad_inputs`` returns ``{student: expected reason substring}`` (lowercase);
every one of those students must end up *ungradable* with a reason containing the
substring (compare case-insensitively).  The ``bad_wrong_assignment`` case is a valid
notebook whose grade_ids differ from the base's, so it is only ungradable when the
grader passes the assignment's grade_ids (``known_grade_ids``) -- as the real grader
does.  ``bad_huge`` is a sparse file (no disk used) bigger than the default 20 MiB cap.

``write_good_variants`` returns the students whose notebooks must be *accepted*.
"""
from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path

import nbformat

HUGE_BYTES = 200 * 2**20


def _clone(base: dict) -> dict:
    return json.loads(json.dumps(base))


def _dump(nb: dict) -> bytes:
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _grade_ids(nb: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
            and "grade_id" in c["metadata"]["nbgrader"]]


def _with_cells(base: dict, n: int = 3) -> dict:
    """A copy of ``base`` with at least ``n`` cells (pads with markdown cells)."""
    nb = _clone(base)
    while len(nb["cells"]) < n:
        cell = nbformat.v4.new_markdown_cell(f"padding {len(nb['cells'])}")
        nb["cells"].append(json.loads(json.dumps(cell)))
    return nb


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def bad_cases(base_notebook: dict) -> dict[str, tuple[bytes, str]]:
    """``{student: (file bytes, expected reason substring)}``; ``bad_huge`` is not included."""
    base = _clone(base_notebook)
    good = _dump(base)
    cases: dict[str, tuple[bytes, str]] = {}

    def add(name: str, data: bytes | dict, expect: str) -> None:
        cases[name] = (data if isinstance(data, bytes) else _dump(data), expect.lower())

    # --- not JSON at all / damaged bytes -------------------------------------------
    add("bad_empty", b"", "empty")
    add("bad_whitespace", b"  \n\t\r\n  \n", "only whitespace")
    add("bad_truncated_json", good[: len(good) // 2], "truncated")
    add("bad_invalid_json", good.replace(b'"cells": [', b'"cells": [,', 1), "not valid json")
    add("bad_not_utf8", json.dumps(_clone(base) | {"metadata": {"author": "Jos\u00e9"}},
                                   ensure_ascii=False).encode("latin-1", errors="replace"), "not utf-8")
    add("bad_utf16", good.decode("utf-8").encode("utf-16"), "utf-16")
    add("bad_nul_bytes", good[:20] + b"\x00" * 64 + good[20:], "nul bytes")
    add("bad_json_array", b"[1, 2, 3]\n", "top level is a list")
    add("bad_json_string", b'"print(42)"\n', "top level is a string")
    add("bad_json_number", b"42\n", "top level is a number")
    add("bad_json_null", b"null\n", "top level is null")
    add("bad_deep_nesting", _nested(100_000).encode(), "nested too deeply")
    deep_meta = _clone(base)
    deep_meta["metadata"]["x"] = json.loads(_nested(500))
    add("bad_deep_nesting_metadata", deep_meta, "nested too deeply")
    add("bad_python_script", b"import numpy as np\nprint(np.arange(3))\n", "not valid json")
    add("bad_html_export", b"<!DOCTYPE html>\n<html><body>notebook</body></html>\n", "html")

    # --- binaries renamed to .ipynb -----------------------------------------------
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("core.ipynb", good)
    add("bad_zip_renamed", buf.getvalue(), "zip archive, not a notebook")
    add("bad_png_renamed", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32, "png image")
    add("bad_pdf_renamed", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "pdf document")
    add("bad_elf_renamed", b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "executable")

    # --- JSON, but not a (valid) notebook ------------------------------------------
    nb = _clone(base); del nb["cells"]
    add("bad_missing_cells", nb, "no 'cells'")
    nb = _clone(base); nb["cells"] = {"0": "x"}
    add("bad_cells_not_list", nb, "expected a list")
    nb = _clone(base); nb["cells"] = [1, 2]
    add("bad_cell_not_object", nb, "not a cell object")
    nb = _clone(base); del nb["nbformat"]
    add("bad_no_nbformat", nb, "'nbformat'")
    nb = _clone(base); nb["nbformat"] = "4"
    add("bad_nbformat_string", nb, "not a whole number")
    nb = _clone(base); nb["nbformat"] = 99
    add("bad_nbformat_99", nb, "nbformat version 99 is not supported")
    nb = _clone(base); nb["nbformat"] = 5
    add("bad_nbformat_5", nb, "nbformat version 5 is not supported")
    nb = _clone(base); nb["nbformat"] = 2
    add("bad_nbformat_2", nb, "too old")
    add("bad_v3_broken", {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                          "worksheets": [{"cells": [{"cell_type": "code", "input": 5}]}]}, "v3")
    add("bad_json_object_not_notebook", {"name": "alice", "answer": 42}, "not a jupyter notebook")

    nb = _with_cells(base); nb["cells"][2]["cell_type"] = "foo"
    add("bad_cell_type", nb, "cell 3 has unknown type 'foo'")
    nb = _with_cells(base); del nb["cells"][1]["cell_type"]
    add("bad_missing_cell_type", nb, "cell 2 has no cell_type")
    nb = _with_cells(base); nb["cells"][0]["source"] = 42
    add("bad_source_number", nb, "cell 1 has an invalid source")
    nb = _with_cells(base); nb["cells"][1]["source"] = ["ok\n", 7, None]
    add("bad_source_list_of_junk", nb, "cell 2 has an invalid source")
    nb = _with_cells(base)
    code = json.loads(json.dumps(nbformat.v4.new_code_cell("x = 1")))
    code["outputs"] = "not a list"
    nb["cells"].append(code)
    add("bad_schema_outputs", nb, "not valid")
    nb = _with_cells(base); nb["cells"][0]["metadata"]["nbgrader"] = "yes"
    add("bad_nbgrader_metadata", nb, "damaged nbgrader metadata")

    nb = _with_cells(base); nb["nbformat_minor"] = max(nb.get("nbformat_minor", 5), 5)
    for i, c in enumerate(nb["cells"]):
        c["id"] = f"cell-{i}"
    nb["cells"][2]["id"] = nb["cells"][0]["id"]
    add("bad_duplicate_cell_ids", nb, "same cell id")
    nb = _clone(base)
    graded = [c for c in nb["cells"] if isinstance(c["metadata"].get("nbgrader"), dict)
              and c["metadata"]["nbgrader"].get("grade_id")]
    if graded:
        dup = copy.deepcopy(graded[0]); dup["id"] = "copied-cell"
        nb["cells"].append(dup)
        add("bad_duplicate_grade_ids", nb, "grade_id")

    # --- wrong kernel / wrong assignment --------------------------------------------
    nb = _clone(base)
    nb["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb["metadata"]["language_info"] = {"name": "R"}
    add("bad_r_kernel", nb, "written for the r kernel, not python")
    nb = _clone(base)
    nb["metadata"]["kernelspec"] = {"name": "julia-1.10", "display_name": "Julia 1.10"}
    nb["metadata"].pop("language_info", None)
    add("bad_julia_kernel", nb, "julia kernel")
    if _grade_ids(base):
        nb = _clone(base)
        for c in nb["cells"]:
            nbg = c["metadata"].get("nbgrader")
            if isinstance(nbg, dict) and "grade_id" in nbg:
                nbg["grade_id"] = "other_course_" + nbg["grade_id"]
        add("bad_wrong_assignment", nb, "does not belong")
    return cases


def write_bad_inputs(base_notebook: dict, out_dir: Path) -> dict[str, str]:
    """Write one ``<student>.ipynb`` per bad case; return ``{student: expected reason substring}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    for student, (data, reason) in bad_cases(base_notebook).items():
        (out_dir / f"{student}.ipynb").write_bytes(data)
        expected[student] = reason
    huge = out_dir / "bad_huge.ipynb"
    with open(huge, "wb") as fh:  # sparse: costs no disk space and no time to write
        fh.write(b'{"cells": [')
        fh.truncate(HUGE_BYTES)
    expected["bad_huge"] = "too large"
    return expected


def good_variants(base_notebook: dict) -> dict[str, bytes]:
    """``{student: file bytes}`` for inputs that must be accepted."""
    base = _clone(base_notebook)
    out: dict[str, bytes] = {"good_plain": _dump(base)}
    out["good_bom"] = b"\xef\xbb\xbf" + _dump(base)
    # json.dumps escapes newlines inside strings, so every raw "\n" is layout whitespace
    out["good_crlf"] = json.dumps(base, indent=2).replace("\n", "\r\n").encode("utf-8")
    out["good_v3"] = nbformat.writes(nbformat.reads(json.dumps(base), as_version=4), version=3).encode("utf-8")
    nb = _clone(base)
    nb["metadata"].pop("kernelspec", None); nb["metadata"].pop("language_info", None)
    out["good_no_kernelspec"] = _dump(nb)
    nb = _clone(base)
    nb["metadata"]["kernelspec"] = {"name": "nlp-course", "display_name": "NLP course (venv)",
                                    "language": "python"}
    out["good_custom_python_kernel"] = _dump(nb)
    nb = _clone(base); nb["nbformat_minor"] = max(nb.get("nbformat_minor", 5), 5)
    for c in nb["cells"]:
        c.pop("id", None)
    out["good_missing_cell_ids"] = _dump(nb)
    nb = _clone(base); nb["nbformat_minor"] = 4
    for c in nb["cells"]:
        c.pop("id", None)
    out["good_v4_minor4"] = _dump(nb)
    nb = _clone(base)
    nb["cells"].append(json.loads(json.dumps(nbformat.v4.new_markdown_cell(
        "Unicode: café, naïve, 日本語, emoji 🙂, RTL שלום"))))
    nb["cells"][-1]["id"] = "unicode-cell"
    out["good_unicode"] = _dump(nb)
    return out


def write_good_variants(base_notebook: dict, out_dir: Path) -> list[str]:
    """Write one ``<student>.ipynb`` per acceptable variant; return the students."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    students = []
    for student, data in good_variants(base_notebook).items():
        (out_dir / f"{student}.ipynb").write_bytes(data)
        students.append(student)
    return students
