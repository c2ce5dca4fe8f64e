"""Submission intake: find each student's notebook and turn raw bytes into a checked notebook.

Two steps, both written so that one student's bad input can never stop the batch:

``collect(submissions, assignment, notebook_name)``
    Reads SUBMISSIONS -- nbgrader's ``submitted/`` tree, a folder of loose
    ``<student>.ipynb`` files, or a ``.zip`` of loose notebooks (optionally inside
    one top-level folder, or a zipped ``submitted/`` tree) -- and returns exactly
    one :class:`Submission` per student, sorted by student.  Problems that are
    already visible at this stage (no notebook, several notebooks, unsafe names,
    files that are too large, unreadable zip members, ...) are recorded in
    ``Submission.problem``; nothing is raised for them.  Only a SUBMISSIONS path
    that does not exist, or is neither a folder nor a readable zip archive,
    raises ``ValueError`` (that is the TA's input, not a student's).

``parse_notebook(raw)``
    Turns the bytes into a validated nbformat v4 ``NotebookNode`` or raises
    :class:`Ungradable` with a short reason that a student can act on.

Decisions (documented here because TAs and students see their effects):

* **UTF-8 byte-order mark**: accepted.  Some Windows editors add one; the BOM is
  stripped before parsing.  UTF-16/UTF-32 files are rejected with a reason.
* **nbformat 3**: accepted after ``nbformat.convert(nb, 4)`` if the converted
  notebook validates.  nbformat 1/2, or any major version other than 3 and 4
  (e.g. 5 or 99), is ungradable.
* **Cell ids** (nbformat 4.5+): missing ids are filled in (as Jupyter would do on
  save); a 4.0-4.4 notebook whose cells have ids is treated as 4.5; *duplicate* ids
  and non-text ids are ungradable, because ids identify cells and nbformat
  would otherwise silently rename one of them.  Duplicate nbgrader ``grade_id``
  values are ungradable too (a graded cell was copied).
* **Kernel**: a missing kernelspec is accepted (the grader runs python3).  A
  kernelspec or ``language_info`` naming another language (R, Julia, ...) is
  ungradable.  An unknown kernel *name* with no language (e.g. a custom venv
  kernel called ``nlp-course``) is accepted.
* **Renamed notebooks**: if a student's folder holds exactly one notebook it is
  graded even if it is not called ``<notebook_name>.ipynb``; the rename is
  recorded in ``origin`` ("... (renamed; expected core.ipynb)").  If it holds
  several notebooks and exactly one of them has the expected name, that one is
  graded (this is what nbgrader itself does) and ``origin`` lists the ignored
  extras.  Zero notebooks, or several without the expected name, is a problem.
* **Student ids** must be 1-64 characters from ``A-Z a-z 0-9 _ - . @ +``, not start
  with a dot and not contain ``..``.  An unsafe id never reaches
  ``Submission.student`` as-is: the record gets a sanitised id
  ``unsafe-<slug>-<hash>`` and a problem naming the original.  So
  ``Submission.student`` is always safe to use as a single path component.
* ``.ipynb_checkpoints``, ``__MACOSX``, hidden files/folders, symlinks and
  non-regular files are never read (symlinks and special files in a student's
  folder are reported; hidden/junk entries are silently ignored).
* Zip members are never extracted to disk; bytes are read in memory, the
  declared size is checked first and at most ``max_bytes + 1`` bytes are read.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import stat
import unicodedata
import uuid
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import nbformat

__all__ = ["Ungradable", "Submission", "collect", "parse_notebook", "safe_student_id",
           "DEFAULT_MAX_BYTES", "MAX_JSON_DEPTH"]

DEFAULT_MAX_BYTES = 20 * 2**20
#: Deepest JSON nesting accepted.  Real notebooks stay far below this (outputs with
#: nested JSON data rarely exceed ~20); anything deeper is almost certainly garbage.
MAX_JSON_DEPTH = 200
MAX_REASON_CHARS = 400
MAX_STUDENT_ID_CHARS = 64

_UTF8_BOM = b"\xef\xbb\xbf"
_SAFE_ID_RE = re.compile(r"[A-Za-z0-9_@+\-][A-Za-z0-9_.@+\-]*")
_JUNK_NAMES = {".ipynb_checkpoints", "__MACOSX", "__pycache__", "Thumbs.db", "desktop.ini"}


class Ungradable(Exception):
    """Bad input; str(exc) is the reason shown to TAs and students."""


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    origin: str                   # e.g. "submitted/alice/core/core.ipynb" or "class.zip:alice.ipynb"
    raw: bytes                    # the notebook file's bytes (b"" if none)
    sha256: str                   # hex sha256 of raw (of b"" if none)
    problem: str | None = None    # set when intake already knows it's ungradable


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def _short(text: str, limit: int = MAX_REASON_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _shown(name: str) -> str:
    """A name made safe to print in a reason (control characters escaped, length capped)."""
    text = name.encode("unicode_escape").decode("ascii") if any(
        unicodedata.category(c)[0] == "C" for c in name) else name
    return _short(text, 80)


def _id_problem(name: str) -> str | None:
    """Why ``name`` is not a safe student id, or None if it is."""
    if not name:
        return "it is empty"
    if any(unicodedata.category(c)[0] == "C" for c in name):
        return "it contains control characters"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("."):
        return "it starts with a dot"
    if len(name) > MAX_STUDENT_ID_CHARS:
        return f"it is longer than {MAX_STUDENT_ID_CHARS} characters"
    if not _SAFE_ID_RE.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9_.@+\-]", c)})
        return "it contains characters other than letters, digits and _ - . @ + (" + \
            " ".join(repr(c) for c in bad[:5]) + ")"
    return None


def safe_student_id(name: str) -> str:
    """``name`` if it is a safe student id, else a deterministic sanitised stand-in."""
    if _id_problem(name) is None:
        return name
    slug = re.sub(r"[^A-Za-z0-9_\-]+", "_", name).strip("_")[:32] or "x"
    return f"unsafe-{slug}-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------
# parse_notebook
# --------------------------------------------------------------------------------------

_MAGIC = [
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an (empty) zip archive"),
    (b"PK\x07\x08", "a zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an executable (ELF) file"),
    (b"MZ", "a Windows executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x80\x04", "a Python pickle"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x00\x00\xfe\xff", "UTF-32 text"),
    (b"\xff\xfe\x00\x00", "UTF-32 text"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
]

_OTHER_KERNELS = {
    # kernel name prefix -> language shown to the student
    "ir": "R", "r": "R", "julia": "Julia", "ijulia": "Julia", "ijavascript": "JavaScript",
    "javascript": "JavaScript", "deno": "JavaScript/TypeScript", "tslab": "TypeScript",
    "bash": "Bash", "xcpp": "C++", "cling": "C++", "scala": "Scala", "spylon": "Scala",
    "almond": "Scala", "java": "Java", "ijava": "Java", "sas": "SAS", "matlab": "MATLAB",
    "octave": "Octave", "evcxr": "Rust", "rust": "Rust", "gophernotes": "Go", "go": "Go",
    "ruby": "Ruby", "haskell": "Haskell", "wolfram": "Wolfram", "stata": "Stata",
    "powershell": "PowerShell", "sql": "SQL", "xsqlite": "SQL", ".net-csharp": "C#",
    ".net-fsharp": "F#", "csharp": "C#", "fsharp": "F#", "kotlin": "Kotlin",
}


def _json_depth(obj) -> int:
    """Maximum nesting depth of parsed JSON, computed iteratively (no recursion)."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _type_name(value) -> str:
    for kind, name in ((bool, "true/false"), (dict, "an object"), (list, "a list"), (str, "a string"),
                       ((int, float), "a number"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _kernel_language(nb: dict) -> str | None:
    """The non-Python language this notebook was written for, or None."""
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return None
    ks = meta.get("kernelspec")
    li = meta.get("language_info")
    lang = None
    if isinstance(ks, dict) and isinstance(ks.get("language"), str) and ks["language"].strip():
        lang = ks["language"].strip()
    elif isinstance(li, dict) and isinstance(li.get("name"), str) and li["name"].strip():
        lang = li["name"].strip()
    if lang is not None:
        if lang.lower().startswith(("python", "ipython")):
            return None
        return {"r": "R", "julia": "Julia"}.get(lang.lower(), lang)
    if isinstance(ks, dict) and isinstance(ks.get("name"), str):
        name = ks["name"].strip().lower()
        if not name or name.startswith(("python", "ipython", "xpython", "pysparkkernel")):
            return None
        for prefix, language in _OTHER_KERNELS.items():
            if name == prefix or re.match(re.escape(prefix) + r"[-_.\d]", name):
                return language
    return None


def _cell_checks(cells: list) -> None:
    """Clear, specific messages for the common structural mistakes (cells numbered from 1)."""
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            raise Ungradable(f"cell {i} is {_type_name(cell)}, not a cell object — the notebook is damaged")
        ctype = cell.get("cell_type")
        if ctype is None:
            raise Ungradable(f"cell {i} has no cell_type — the notebook is damaged")
        if ctype not in ("code", "markdown", "raw"):
            raise Ungradable(f"cell {i} has unknown type {_shown(repr(ctype))} "
                             "(expected code, markdown or raw)")
        if "source" not in cell:
            raise Ungradable(f"cell {i} has no source — the notebook is damaged")
        src = cell["source"]
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            got = "a list with non-text items" if isinstance(src, list) else _type_name(src)
            raise Ungradable(f"cell {i} has an invalid source ({got}; expected text "
                             "or a list of text lines)")
        meta = cell.get("metadata", {})
        if not isinstance(meta, dict):
            raise Ungradable(f"cell {i} has invalid metadata ({_type_name(meta)}, expected an object)")
        nbg = meta.get("nbgrader")
        if nbg is not None and not isinstance(nbg, dict):
            raise Ungradable(f"cell {i} has damaged nbgrader metadata ({_type_name(nbg)}); "
                             "start again from the released notebook")
        if isinstance(nbg, dict):
            for key, ok in (("grade_id", lambda v: isinstance(v, str) and v != ""),
                            ("points", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
                            ("grade", lambda v: isinstance(v, bool)),
                            ("solution", lambda v: isinstance(v, bool)),
                            ("locked", lambda v: isinstance(v, bool)),
                            ("task", lambda v: isinstance(v, bool))):
                if key in nbg and not ok(nbg[key]):
                    raise Ungradable(f"cell {i} has damaged nbgrader metadata ({key} is "
                                     f"{_shown(repr(nbg[key]))}); start again from the released notebook")


def _grade_ids(cells: list) -> list[tuple[int, str]]:
    out = []
    for i, cell in enumerate(cells, start=1):
        nbg = cell.get("metadata", {}).get("nbgrader")
        if isinstance(nbg, dict) and isinstance(nbg.get("grade_id"), str):
            out.append((i, nbg["grade_id"]))
    return out


def _fix_cell_ids(nb: dict) -> None:
    """For nbformat >= 4.5: fill in missing cell ids, reject duplicates.

    A 4.0-4.4 notebook whose cells carry ids (written by some editors) is treated as 4.5.
    """
    if nb.get("nbformat") != 4 or not isinstance(nb.get("nbformat_minor"), int):
        return
    if nb["nbformat_minor"] < 5:
        if not any("id" in cell for cell in nb["cells"]):
            return
        nb["nbformat_minor"] = 5
    seen: dict[str, int] = {}
    for i, cell in enumerate(nb["cells"], start=1):
        cid = cell.get("id")
        if cid is not None and not isinstance(cid, str):
            raise Ungradable(f"cell {i} has an invalid cell id ({_type_name(cid)}, expected text) — "
                             "the notebook is damaged")
        if isinstance(cid, str) and cid in seen:
            raise Ungradable(f"cells {seen[cid]} and {i} have the same cell id {_shown(repr(cid))} — "
                             "the notebook was edited outside Jupyter; re-create the copied cell in Jupyter")
        if isinstance(cid, str):
            seen[cid] = i
    for cell in nb["cells"]:
        if "id" not in cell or cell["id"] is None:
            while True:
                new = uuid.uuid4().hex[:8]
                if new not in seen:
                    break
            cell["id"] = new
            seen[new] = -1


def parse_notebook(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   known_grade_ids: frozenset[str] = frozenset()) -> "nbformat.NotebookNode":
    """Return a validated nbformat v4 notebook built from ``raw``, or raise :class:`Ungradable`."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError("parse_notebook() takes bytes")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise Ungradable(f"the file is too large ({_mb(len(raw))}; the limit is {_mb(max_bytes)}) — "
                         "clear the outputs (Edit > Clear All Outputs), save and resubmit")
    if len(raw) == 0:
        raise Ungradable("the file is empty (0 bytes) — the upload or save failed; resubmit the notebook")
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM):]  # accepted: see module docstring
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            if what.startswith("UTF-"):
                raise Ungradable(f"the file is saved as {what}, not UTF-8 — save it from Jupyter "
                                 "(File > Save) and resubmit")
            raise Ungradable(f"this is {what}, not a notebook (a file renamed to .ipynb?) — "
                             "submit the .ipynb file saved by Jupyter")
    if not raw.strip():
        raise Ungradable("the file contains only whitespace — the upload or save failed; resubmit the notebook")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise Ungradable(f"the file is not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at line {line}, "
                         f"byte {exc.start}) — it is not a Jupyter notebook or was damaged") from None
    if "\x00" in text:
        raise Ungradable("the file contains NUL bytes — it is binary, not a notebook")
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html", "<?xml", "<")):
        raise Ungradable("this is an HTML/XML page, not a notebook (downloaded or exported as HTML?) — "
                         "submit the .ipynb file saved by Jupyter")
    try:
        data = json.loads(text)
    except RecursionError:
        raise Ungradable(f"the file's JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels) — "
                         "it is not a Jupyter notebook") from None
    except json.JSONDecodeError as exc:
        start = text.lstrip()
        if not start.startswith(("{", "[")):
            first = _shown(start.splitlines()[0][:40]) if start else ""
            raise Ungradable(f"the file is not valid JSON: it starts with {first!r}, not '{{' — "
                             "is it a script or text file? Submit the .ipynb file saved by Jupyter") from None
        if exc.pos >= len(text.rstrip()) or not text.rstrip().endswith(("}", "]")):
            raise Ungradable(f"the file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                             "— it looks truncated (incomplete save or upload)") from None
        raise Ungradable(f"the file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                         "— was it edited outside Jupyter?") from None
    except ValueError as exc:  # e.g. int too large to convert
        raise Ungradable(_short(f"the file is not valid JSON: {exc}")) from None
    if _json_depth(data) > MAX_JSON_DEPTH:
        raise Ungradable(f"the file's JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels) — "
                         "it is not a Jupyter notebook")
    if not isinstance(data, dict):
        raise Ungradable(f"the file is JSON but not a notebook: the top level is {_type_name(data)}, "
                         "expected an object")
    return _notebook_from_dict(data, known_grade_ids)


def _notebook_from_dict(data: dict, known_grade_ids: frozenset[str]) -> "nbformat.NotebookNode":
    if "nbformat" not in data:
        if "cells" in data or "worksheets" in data:
            raise Ungradable("the notebook has no 'nbformat' version field — it is damaged")
        raise Ungradable("the file is JSON but not a Jupyter notebook (no 'nbformat' field)")
    major = data["nbformat"]
    if isinstance(major, bool) or not isinstance(major, int):
        raise Ungradable(f"the notebook's 'nbformat' version is {_shown(repr(major))}, not a whole number — "
                         "it is damaged")
    if major <= 2:
        raise Ungradable(f"nbformat version {major} is too old to grade (expected 4) — "
                         "open and save it in a current Jupyter, then resubmit")
    if major not in (3, 4):
        raise Ungradable(f"nbformat version {major} is not supported (expected 4) — "
                         "save the notebook from the course's Jupyter")
    if major == 4:
        minor = data.get("nbformat_minor")
        if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
            raise Ungradable(f"the notebook's 'nbformat_minor' is {_shown(repr(minor))}, expected a whole number "
                             "— it is damaged")
        if "cells" not in data:
            raise Ungradable("the notebook has no 'cells' list — it is damaged")
        if not isinstance(data["cells"], list):
            raise Ungradable(f"the notebook's 'cells' is {_type_name(data['cells'])}, expected a list — "
                             "it is damaged")
        _cell_checks(data["cells"])
        if not isinstance(data.get("metadata", {}), dict):
            raise Ungradable("the notebook's metadata is not an object — it is damaged")

    lang = _kernel_language(data)  # before schema validation: the more useful reason wins
    if lang is not None:
        raise Ungradable(f"this notebook was written for the {_shown(lang)} kernel, not Python — "
                         "open the released notebook with the Python 3 kernel")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if major == 3:
            try:
                nbformat.validate(nbformat.from_dict(copy.deepcopy(data)), version=3,
                                  version_minor=data.get("nbformat_minor", 0))
                nb = nbformat.convert(nbformat.v3.to_notebook_json(data), 4)
            except nbformat.ValidationError as exc:
                raise Ungradable(_short(f"old-format (v3) notebook is invalid and cannot be converted: "
                                        f"{_validation_message(exc)}")) from None
            except Exception as exc:  # conversion code may raise anything on odd input
                raise Ungradable(_short(f"old-format (v3) notebook could not be converted to v4: "
                                        f"{type(exc).__name__}: {exc}")) from None
            nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # v3 node classes -> current ones
            if not isinstance(nb.get("cells"), list):
                raise Ungradable("old-format (v3) notebook could not be converted to v4: no cells")
            _cell_checks(nb.cells)
        else:
            nb = nbformat.from_dict(data)
            _fix_cell_ids(nb)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            raise Ungradable(_short(f"the notebook is not valid: {_validation_message(exc)}")) from None
        except Exception as exc:
            raise Ungradable(_short(f"the notebook could not be validated: {type(exc).__name__}: {exc}")) from None
        if major == 4:
            try:  # what nbformat.reads does after json.loads: join multi-line sources, drop transient keys
                nb = nbformat.v4.to_notebook_json(nb)
            except Exception as exc:
                raise Ungradable(_short(f"the notebook could not be read: {type(exc).__name__}: {exc}")) from None

    ids = _grade_ids(nb.cells)
    seen: dict[str, int] = {}
    for i, gid in ids:
        if gid in seen:
            raise Ungradable(f"cells {seen[gid]} and {i} both have nbgrader grade_id {_shown(repr(gid))} — "
                             "a graded cell was copied; delete the copy")
        seen[gid] = i
    if known_grade_ids and not (set(seen) & set(known_grade_ids)):
        raise Ungradable("this notebook does not belong to this assignment (none of its graded cells "
                         "match) — wrong file?")
    return nb


def _validation_message(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    path = getattr(exc, "path", None) or getattr(exc, "absolute_path", None)
    where = ""
    try:
        parts = list(path) if path else []
    except TypeError:
        parts = []
    if parts:
        bits = []
        for p in parts[:6]:
            bits.append(f"cell {p + 1}" if isinstance(p, int) and bits and bits[-1] == "cells" else str(p))
        bits = [b for b in bits if b != "cells"]
        where = " (at " + " > ".join(bits) + ")"
    return _short(str(msg).splitlines()[0] if str(msg).strip() else type(exc).__name__, 300) + where


# --------------------------------------------------------------------------------------
# collect
# --------------------------------------------------------------------------------------

@dataclass
class _Entry:
    """One file seen in SUBMISSIONS, relative to its root."""
    parts: tuple[str, ...]                 # path components below the root
    origin: str                            # shown to TAs
    size: int                              # declared size
    read: Callable[[int], bytes] | None    # read(limit) -> at most limit bytes; None: cannot be read
    note: str | None = None                # why it cannot be read (symlink, unsafe zip path, ...)


def _is_junk(part: str) -> bool:
    return part in _JUNK_NAMES or part.startswith(".")


def _is_notebook(name: str) -> bool:
    return name.lower().endswith(".ipynb") and len(name) > len(".ipynb")


def _read_file(path: Path) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise OSError("not a regular file")
            return fh.read(limit)
    return read


def _folder_entries(root: Path) -> list[_Entry]:
    label = root.name or str(root)
    entries: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if not _is_junk(d))
        # symlinked directories are listed in dirnames but not followed; report them as entries
        for d in list(dirnames):
            p = Path(dirpath, d)
            if p.is_symlink():
                dirnames.remove(d)
                parts = rel.parts + (d,)
                entries.append(_Entry(parts, "/".join((label,) + parts), 0, None,
                                      note="is a symbolic link to a folder; not followed"))
        for f in sorted(filenames):
            if _is_junk(f):
                continue
            p = Path(dirpath, f)
            parts = rel.parts + (f,)
            origin = "/".join((label,) + parts)
            try:
                st = os.lstat(p)
            except OSError as exc:
                entries.append(_Entry(parts, origin, 0, None, note=f"cannot be read ({exc.strerror})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                entries.append(_Entry(parts, origin, 0, None, note="is a symbolic link; not read"))
            elif not stat.S_ISREG(st.st_mode):
                entries.append(_Entry(parts, origin, 0, None, note="is not a regular file; not read"))
            else:
                entries.append(_Entry(parts, origin, st.st_size, _read_file(p)))
    return entries


def _zip_entries(zf: zipfile.ZipFile, label: str) -> list[_Entry]:
    entries: list[_Entry] = []
    for info in zf.infolist():
        name = info.filename
        if info.is_dir() or name.endswith(("/", "\\")):
            continue
        norm = name.replace("\\", "/")
        raw_parts = tuple(p for p in norm.split("/") if p not in ("", "."))
        origin = f"{label}:{name}"
        unsafe = (norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) is not None
                  or ".." in norm.split("/") or not raw_parts)
        if unsafe:
            # never used as a path, never read; surfaced as its own (sanitised) student record
            entries.append(_Entry(("\x00unsafe", name), origin, info.file_size, None,
                                  note="has an unsafe path in the zip (absolute or containing '..'); not read"))
            continue
        if any(_is_junk(p) for p in raw_parts):
            continue
        mode = (info.external_attr >> 16) & 0o170000
        if mode == stat.S_IFLNK:
            entries.append(_Entry(raw_parts, origin, info.file_size, None, note="is a symbolic link; not read"))
            continue

        def read(limit: int, _info=info) -> bytes:
            with zf.open(_info) as fh:
                return fh.read(limit)
        entries.append(_Entry(raw_parts, origin, info.file_size, read))
    return entries


def _has_nbgrader_layout(entries: list[_Entry], assignment: str) -> bool:
    return any(len(e.parts) >= 3 and e.parts[1] == assignment and e.parts[0] != "\x00unsafe"
               for e in entries)


def _strip_common_top(entries: list[_Entry], assignment: str) -> list[_Entry]:
    """For zips: drop one top-level folder that wraps everything (``class/alice.ipynb``)."""
    normal = [e for e in entries if e.parts[0] != "\x00unsafe"]
    if not normal or _has_nbgrader_layout(entries, assignment):
        return entries
    tops = {e.parts[0] for e in normal}
    if len(tops) != 1 or any(len(e.parts) < 2 for e in normal):
        return entries
    stripped = [(_Entry(e.parts[1:], e.origin, e.size, e.read, e.note) if e.parts[0] != "\x00unsafe" else e)
                for e in entries]
    inner = [e for e in stripped if e.parts[0] != "\x00unsafe"]
    if _has_nbgrader_layout(stripped, assignment) or all(len(e.parts) == 1 for e in inner):
        return stripped
    return entries


def _load(entry: _Entry, max_bytes: int) -> tuple[bytes, str | None]:
    if entry.read is None:
        return b"", f"{entry.origin} {entry.note}"
    if entry.size > max_bytes:
        return b"", (f"the notebook is too large ({_mb(entry.size)}; the limit is {_mb(max_bytes)}) — "
                     "clear the outputs, save and resubmit")
    try:
        data = entry.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError,
            ValueError) as exc:
        return b"", _short(f"could not read {entry.origin}: {type(exc).__name__}: {exc}")
    if len(data) > max_bytes:
        return b"", (f"the notebook is too large (more than {_mb(max_bytes)}, although it declared "
                     f"{_mb(entry.size)}) — clear the outputs, save and resubmit")
    return data, None


def _listing(names: list[str], limit: int = 5) -> str:
    names = sorted(names)
    shown = ", ".join(_shown(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _record(student_raw: str, assignment: str, notebook_name: str, entries: list[_Entry],
            nbgrader: bool, loose: bool, max_bytes: int, where: str) -> Submission:
    """Build one student's record from all entries attributed to them."""
    student = safe_student_id(student_raw)
    expected = f"{notebook_name}.ipynb"

    def fail(origin: str, problem: str) -> Submission:
        return Submission(student, assignment, origin, b"", _sha(b""), _short(problem))

    why = _id_problem(student_raw)
    first = min(entries, key=lambda e: e.origin).origin if loose and entries else where
    if why is not None:
        return fail(first, f"unsafe student id {_shown(repr(student_raw))}: {why}; rename the file/folder "
                           "and grade again")

    unreadable = [e for e in entries if e.read is None and _is_notebook(e.parts[-1])]
    notebooks = [e for e in entries if e.read is not None and _is_notebook(e.parts[-1])]
    if nbgrader and not loose:
        in_assignment = [e for e in notebooks if len(e.parts) >= 3 and e.parts[1] == assignment]
        unreadable = [e for e in unreadable if len(e.parts) >= 3 and e.parts[1] == assignment]
        if not in_assignment and not unreadable:
            noted = [e for e in entries if e.read is None]
            if noted:
                e = min(noted, key=lambda e: e.origin)
                return fail(e.origin, f"no notebook found for {student}: {e.origin} {e.note}")
            inside = [e.parts[-1] for e in entries if len(e.parts) >= 3 and e.parts[1] == assignment]
            if inside:
                return fail(first, f"no notebook found for {student} (found only: {_listing(inside)})")
            others = sorted({e.parts[1] for e in entries if len(e.parts) >= 3} - {assignment})
            hint = f" (found folders: {_listing(others)})" if others else ""
            return fail(first, f"no notebook found for {student}: no {assignment!r} folder{hint}")
        notebooks = in_assignment

    if unreadable and not notebooks:
        e = min(unreadable, key=lambda e: e.origin)
        return fail(e.origin, f"{e.origin} {e.note}")
    noted = [e for e in entries if e.read is None]
    if not notebooks and noted:
        e = min(noted, key=lambda e: e.origin)
        return fail(e.origin, f"no notebook found for {student}: {e.origin} {e.note}")
    if not notebooks:
        other = [e.parts[-1] for e in entries]
        hint = f" (found: {_listing(other)})" if other else ""
        return fail(first, f"no notebook found for {student}{hint}")

    notebooks.sort(key=lambda e: e.origin)
    chosen = None
    note = ""
    if len(notebooks) == 1 and not unreadable:
        chosen = notebooks[0]
        if not loose and chosen.parts[-1] != expected:
            note = f" (renamed; expected {expected})"
    elif not loose:
        exact = [e for e in notebooks if e.parts[-1] == expected and (not nbgrader or len(e.parts) == 3)]
        if len(exact) == 1:
            chosen = exact[0]
            ignored = [e.origin.rsplit("/", 1)[-1] for e in notebooks if e is not chosen] + \
                      [e.origin.rsplit("/", 1)[-1] for e in unreadable]
            note = f" (also found and ignored: {_listing(ignored)})"
    if chosen is None:
        names = [e.origin.rsplit("/", 1)[-1] if "/" in e.origin else e.origin.split(":", 1)[-1]
                 for e in notebooks + unreadable]
        return fail(notebooks[0].origin, f"several notebooks: {_listing(names)}; submit exactly one")

    raw, problem = _load(chosen, max_bytes)
    return Submission(student, assignment, chosen.origin + note, raw, _sha(raw),
                      _short(problem) if problem else None)


def collect(submissions: Path, assignment: str, notebook_name: str, *,
            max_bytes: int = DEFAULT_MAX_BYTES) -> list[Submission]:
    """One :class:`Submission` per student found in SUBMISSIONS, sorted by student.

    Raises ``ValueError`` only if SUBMISSIONS does not exist or is neither a folder
    nor a readable zip archive.  Never raises for one student's bad input.
    """
    submissions = Path(submissions)
    if notebook_name.lower().endswith(".ipynb"):
        notebook_name = notebook_name[: -len(".ipynb")]
    if not submissions.exists():
        raise ValueError(f"submissions path {submissions} does not exist")
    zf = None
    label = submissions.name or str(submissions)
    if submissions.is_dir():
        entries = _folder_entries(submissions)
    elif submissions.is_file():
        try:
            zf = zipfile.ZipFile(submissions)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{submissions} is neither a folder nor a readable zip archive ({exc})") from None
        entries = _strip_common_top(_zip_entries(zf, submissions.name), assignment)
    else:
        raise ValueError(f"{submissions} is neither a folder nor a zip archive")

    try:
        nbgrader = _has_nbgrader_layout(entries, assignment)
        groups: dict[str, list[_Entry]] = {}
        loose_students: set[str] = set()
        dir_students: set[str] = set()
        for e in entries:
            if e.parts[0] == "\x00unsafe":
                key = "\x00" + e.parts[1]
                groups.setdefault(key, []).append(e)
                continue
            if len(e.parts) == 1 and e.note and "folder" in e.note:
                key = e.parts[0]  # a symlinked student folder: reported, never followed
                dir_students.add(key)
            elif len(e.parts) == 1:
                if not _is_notebook(e.parts[0]):
                    continue  # stray top-level file (README, gradebook export, ...)
                key = e.parts[0][: -len(".ipynb")]
                loose_students.add(key)
            else:
                key = e.parts[0]
                dir_students.add(key)
            groups.setdefault(key, []).append(e)

        # top-level student folders with no files at all still get a record
        if zf is None:
            for child in sorted(submissions.iterdir()):
                if child.is_dir() and not child.is_symlink() and not _is_junk(child.name):
                    groups.setdefault(child.name, [])
                    dir_students.add(child.name)

        records: dict[str, Submission] = {}
        for key in sorted(groups):
            ents = groups[key]
            if key.startswith("\x00"):
                name = key[1:]
                stem = PurePosixPath(name.replace("\\", "/")).name
                stem = stem[: -len(".ipynb")] if _is_notebook(stem) else stem
                student = safe_student_id(name)
                rec = Submission(student, assignment, ents[0].origin, b"", _sha(b""),
                                 _short(f"{ents[0].origin} {ents[0].note} (student {_shown(stem)!r}?)"))
            else:
                try:
                    rec = _record(key, assignment, notebook_name, ents, nbgrader,
                                  loose=(key in loose_students and key not in dir_students),
                                  max_bytes=max_bytes,
                                  where=(f"{label}/{key}" if zf is None else f"{label}:{key}"))
                except Exception as exc:  # belt and braces: one student never stops the batch
                    rec = Submission(safe_student_id(key), assignment, _shown(key), b"", _sha(b""),
                                     _short(f"intake failed: {type(exc).__name__}: {exc}"))
                if key in loose_students and key in dir_students and rec.problem is None:
                    names = [e.origin for e in ents]
                    rec = Submission(rec.student, assignment, rec.origin, b"", _sha(b""),
                                     _short(f"several notebooks: {_listing(names)}; submit exactly one"))
            if rec.student in records:  # e.g. two unsafe names that sanitise alike
                prev = records[rec.student]
                rec = Submission(rec.student, assignment, prev.origin, b"", _sha(b""),
                                 _short(f"several submissions map to the same student id: "
                                        f"{prev.origin}, {rec.origin}"))
            records[rec.student] = rec
        return [records[k] for k in sorted(records)]
    finally:
        if zf is not None:
            zf.close()
