"""A static screen of the student's code: advice for the TA, never a score.

It flags code that reaches for levers a tampering notebook would use
(interpreter internals, patching torch or builtins, IPython's input
transformers, the shell). Honest students write `import os`, `%time`,
`!pip list`, `warnings.warn` and helpers named like modules too, so a flag is
only a reason to look: it goes into grades.csv, the gradebook comment and the
summary, and changes no point. Points come from trusted checks alone
(docs/grading.md), which tampering cannot pass without doing the work.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

# Names that give access to interpreter or grading internals.
FORBIDDEN_NAMES = {
    "__builtins__", "builtins", "get_ipython", "sys", "gc", "ctypes", "inspect", "importlib",
    "setattr", "delattr", "exec", "eval", "compile", "__import__", "globals", "locals", "vars",
    "subprocess", "socket", "signal", "multiprocessing", "threading", "_thread", "pty", "resource",
    "os", "shutil", "unittest", "numpy.testing", "IPython", "ipykernel", "traitlets", "atexit",
    "open", "breakpoint", "input", "__class__", "__dict__", "__code__", "__globals__", "__subclasses__",
    "__setattr__", "__getattribute__", "__eq__", "__bool__", "__mro__", "__bases__",
}
# Dunder names that honest code uses every day.
HARMLESS_DUNDERS = {"__init__", "__name__", "__len__", "__getitem__", "__iter__", "__repr__", "__str__", "__doc__"}
ALLOWED_IMPORT_ROOTS = {
    "torch", "transformers", "numpy", "pandas", "math", "random", "collections", "itertools",
    "functools", "pathlib", "safetensors", "tqdm", "matplotlib", "copy", "time", "coursekit",
    "sklearn", "dataclasses", "typing", "statistics", "re", "string", "json",
}


@dataclass(frozen=True)
class Flag:
    cell: int | None  # the cell's number in the student's notebook (1-based), as they see it
    line: int
    what: str

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "a cell"
        return f"{where}, line {self.line}: {self.what}"


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class _Screen(ast.NodeVisitor):
    def __init__(self, cell: int | None):
        self.cell = cell
        self.flags: list[Flag] = []
        self.local_modules: set[str] = set()

    def flag(self, node, what):
        self.flags.append(Flag(self.cell, getattr(node, "lineno", 0), what))

    def visit_Import(self, node):
        for alias in node.names:
            self._check_import(node, alias.name)
            self.local_modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        self._check_import(node, node.module or "")

    def _check_import(self, node, module):
        root = module.split(".")[0]
        if root not in ALLOWED_IMPORT_ROOTS or module in FORBIDDEN_NAMES:
            self.flag(node, f"imports {module!r}")

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES and not (node.id in HARMLESS_DUNDERS):
            self.flag(node, f"uses {node.id!r}")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name.startswith("__") and node.name.endswith("__") and node.name not in HARMLESS_DUNDERS:
            self.flag(node, f"defines {node.name!r} (objects that fake comparisons or attributes)")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in HARMLESS_DUNDERS:
            self.flag(node, f"uses dunder attribute {node.attr!r}")
        elif node.attr in {"_exit", "system", "kill", "fork", "popen", "setrecursionlimit"}:
            self.flag(node, f"calls {node.attr!r}")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            target = _dotted(node)
            root = target.split(".")[0] if target else ""
            # Assigning attributes of modules or classes (monkeypatching); `param.requires_grad = x`
            # on a local name is the normal way to freeze and is allowed.
            if root in self.local_modules or root in ALLOWED_IMPORT_ROOTS or (target or "").count(".") >= 2 and root in {"nn", "torch"}:
                self.flag(node, f"assigns to {target!r} (monkeypatching)")
        self.generic_visit(node)

    def visit_Global(self, node):
        self.flag(node, "declares global names")

    def visit_Nonlocal(self, node):
        self.generic_visit(node)


def _without_magics(source: str) -> tuple[str, list[int]]:
    """Replace IPython magics and shell escapes, remembering their lines."""
    lines, magic_lines = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            magic_lines.append(number)
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines), magic_lines


def screen(cells: list[tuple[int, str]], numbers: dict[int, int | None] | None = None) -> list[Flag]:
    """Flags for every lever found in the given (index, source) cells; ``numbers`` maps an index to the
    cell's number in the student's notebook."""
    flags: list[Flag] = []
    for index, source in cells:
        number = (numbers or {}).get(index, index + 1)
        code, magic_lines = _without_magics(source)
        for line in magic_lines:
            flags.append(Flag(number, line, "IPython magic or shell command"))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        visitor = _Screen(number)
        visitor.visit(tree)
        flags.extend(visitor.flags)
    return flags
