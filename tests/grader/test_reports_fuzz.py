"""Damaged-but-valid notebooks and odd results through every report the grader writes.

A seeded generator builds notebooks that nbformat accepts but that are built
to trip a renderer (unknown MIME types, broken base64, attachments that are
missing, HTML and markdown full of scripts and handlers, enormous and empty
outputs, odd unicode), and results whose reasons and notes carry markup.
Each must come out as a page with no live script and no remote load, and
go into a real nbgrader gradebook, grades.csv and results.json, without an
exception.
"""
import json
import random
import string
from html.parser import HTMLParser

import nbformat
import pytest

from autograder import feedback, gradebook, reports
from autograder.result import Check, GradeResult

NASTY = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "<a href='javascript:alert(3)'>x</a>",
    "<img src='http://example.com/t.png'>", "<iframe src='http://evil'></iframe>", "<svg onload=alert(4)>",
    "<style>*{display:none}</style>", "<link rel=stylesheet href='http://x/y.css'>", "<object data='x.swf'>",
    "<math><mi xlink:href='javascript:alert(5)'>", "<base href='http://evil/'>", "<form action='http://evil'>",
    "<div style='background:url(http://evil/bg)'>", "<meta http-equiv=refresh content='0;url=http://evil'>",
    "![x](attachment:missing.png)", "![y](http://evil/z.png)", "[z](javascript:alert(6))", "$$\\frac{1}{0}$$",
    "\u202eRTL override", "😀" * 50, "\x1b[31mred\x1b[0m", "", " ", "\t\n", "</div></pre></table>", "<!--", "]]>",
]


def _text(rng: random.Random) -> str:
    parts = [rng.choice(NASTY) if rng.random() < 0.5 else "".join(rng.choices(string.printable, k=rng.randint(0, 40)))
             for _ in range(rng.randint(0, 4))]
    return "".join(parts)


def _output(rng: random.Random):
    kind = rng.choice(["stream", "error", "display_data", "execute_result"])
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=rng.choice(["stdout", "stderr"]),
                                      text=_text(rng) * rng.choice([1, 1, 1000]))
    if kind == "error":
        return nbformat.v4.new_output("error", ename=_text(rng), evalue=_text(rng), traceback=[_text(rng)])
    data = {}
    for mime in rng.sample(["text/html", "text/plain", "text/markdown", "image/png", "image/svg+xml",
                            "application/javascript", "application/x-weird", "image/jpeg"], rng.randint(1, 3)):
        data[mime] = _text(rng) if mime != "image/png" else rng.choice(["iVBORw0KGgo=", "not base64!", ""])
    if kind == "execute_result":
        return nbformat.v4.new_output("execute_result", data=data, execution_count=rng.choice([None, 1, 10**9]))
    return nbformat.v4.new_output("display_data", data=data)


def damaged_notebook(rng: random.Random) -> dict:
    cells = []
    for number in range(rng.randint(0, 12)):
        kind = rng.choice(["code", "markdown", "raw"])
        if kind == "code":
            cell = nbformat.v4.new_code_cell(_text(rng), outputs=[_output(rng) for _ in range(rng.randint(0, 3))])
            cell.execution_count = rng.choice([None, 0, 7])
        elif kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(_text(rng))
            if rng.random() < 0.3:
                cell.attachments = {"other.png": {"image/png": "iVBORw0KGgo="}}
        else:
            cell = nbformat.v4.new_raw_cell(_text(rng))
        cell.metadata = rng.choice([{}, {"nbgrader": {"grade_id": _text(rng) or "x", "grade": True}}, {"tags": [f"tag{rng.randint(0, 9)}"]}])
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbformat.validate(notebook)  # valid: only its content is hostile
    return json.loads(json.dumps(notebook))


def odd_result(rng: random.Random, student: str) -> GradeResult:
    ids = ["test_a", "test_b"]
    status = rng.choice(["graded", "ungradable", "timeout", "kernel_died", "grader_error"])
    return GradeResult(student=student, assignment="fuzz", origin=_text(rng), sha256="0" * 64, seed=0, status=status,
                       reason=_text(rng), scores={i: rng.choice([0.0, 1.0]) for i in ids},
                       max_scores={**{i: 1.0 for i in ids}, "answer": 1.0}, manual=["answer"],
                       notes={i: _text(rng) for i in ids}, checks=[Check("c#1", "c", False, _text(rng))],
                       flags=[_text(rng)], measurements={"heldout_accuracy": rng.choice([None, 0.5])},
                       release={"label": _text(rng)}, graded_against={"label": _text(rng)})


class _Audit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "link", "base", "form", "svg", "math", "meta") and not (
                tag == "meta" and dict(attrs).get("http-equiv") in ("Content-Security-Policy", None)):
            self.problems.append(tag)
        if tag == "style" and attrs:
            self.problems.append("style with attributes")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") or name == "style" or value.startswith("javascript:"):
                self.problems.append(f"{tag} {name}")
            if name in ("src", "background") and not value.startswith("data:"):
                self.problems.append(f"{tag} {name}={value[:30]}")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A real gradebook with one assignment of three graded cells."""
    from nbgrader.api import Gradebook

    folder = tmp_path_factory.mktemp("fuzz-course")
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.add_assignment("fuzz")
        gb.add_notebook("fuzz", "fuzz")
        for name in ("test_a", "test_b"):
            gb.add_grade_cell(name, "fuzz", "fuzz", max_score=1, cell_type="code")
        gb.add_grade_cell("answer", "fuzz", "fuzz", max_score=1, cell_type="markdown")
        gb.add_solution_cell("answer", "fuzz", "fuzz")
    return folder


def test_hostile_notebooks_and_results_render_inert_and_reach_every_report(course, tmp_path):
    rng = random.Random(20261201)
    results = []
    for index in range(250):
        student = f"s{index}"
        result = odd_result(rng, student)
        executed = damaged_notebook(rng)
        numbers = {i: rng.choice([None, i + 1]) for i in range(len(executed["cells"]))}
        page = feedback.page(result, executed, numbers)
        audit = _Audit()
        audit.feed(page)
        assert not audit.problems, (index, audit.problems[:4])
        assert "<script" not in page.lower()
        gradebook.record(f"sqlite:///{course / 'gradebook.db'}", course, "fuzz", result)
        json.dumps(reports.gradescope(result))
        results.append(result)
    reports.write_csv(results, tmp_path / "grades.csv")
    assert reports.summary(results).count("\n") > 250


def test_a_page_still_gives_the_grades_when_the_notebook_cannot_be_shown():
    result = odd_result(random.Random(1), "x")
    page = feedback.page(result, {"cells": [{"cell_type": "code", "source": 42, "outputs": "nope"}]}, {})
    assert "could not be shown" in page and "Automatic score" in page
