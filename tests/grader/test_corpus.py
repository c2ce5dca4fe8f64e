"""Each assignment's whole corpus, graded as one class through the real command.

Honest work keeps every point, honest mistakes lose exactly their share,
attacks earn nothing undeserved, bad input is ungradable with a reason, and
nothing a student gets back leaks a hidden test, runs a script or loads
anything from elsewhere.
"""
import csv
import json
import re
from html.parser import HTMLParser

import nbformat
import pytest

from autograder import assignments, nbmeta
from autograder.bad_inputs import write_bad_inputs
from conftest import ROOT, grade, make_course, results_by_student

pytestmark = pytest.mark.slow
# transfer_vs_scratch's corpus (a quarter of an hour on a slow 2-core runner: every honest run embeds 2,000
# snippets) is graded by `make test-extended`; `make test` grades the core assignment's and word_vectors'.
EXTENDED = {"transfer_vs_scratch"}
NAMES = [pytest.param(name, marks=pytest.mark.extended) if name in EXTENDED else name for name in assignments.names()]


@pytest.fixture(scope="module", params=NAMES)
def graded(request, tmp_path_factory, reference_state):
    assignment = assignments.get(request.param)
    base = tmp_path_factory.mktemp(assignment.name)
    fixtures = assignment.fixtures()
    submissions = base / "submissions"
    submissions.mkdir()
    for student, fixture in fixtures.items():
        (submissions / f"{student}.ipynb").write_bytes(fixture.file_bytes())
    release = json.loads(assignment.release_path(ROOT).read_text())
    bad = write_bad_inputs(release, submissions)
    course = reference_state.copy_into(make_course(base / "course"), assignment.name)
    # A cell may take 150 s (the longest honest one takes about 80 s on one thread): the infinite-loop attack
    # then costs one worker 150 s rather than the default 300.
    run = grade(assignment.name, submissions, base / "out", course, "--workers", "2", "--cell-timeout", "150")
    return {"assignment": assignment, "fixtures": fixtures, "bad": bad, "out": base / "out", "course": course,
            "run": run, "results": results_by_student(base / "out", assignment.name), "submissions": submissions}


def _by_kind(graded, *kinds):
    return {s: f for s, f in graded["fixtures"].items() if f.kind in kinds}


def test_the_corpus_is_broad_enough(graded):
    honest, mistakes, attacks, categories = graded["assignment"].corpus_minimums
    kinds = [f.kind for f in graded["fixtures"].values()]
    assert kinds.count("honest") >= honest and kinds.count("mistake") >= mistakes and kinds.count("attack") >= attacks
    assert len({f.category for f in graded["fixtures"].values() if f.kind == "attack"}) >= categories
    assert {"unchanged_release", "reference"} <= set(graded["fixtures"])
    assert len(graded["bad"]) >= 30


def test_every_submission_is_graded_exactly_once(graded):
    students = {p.stem for p in graded["submissions"].glob("*.ipynb")}
    with open(graded["out"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student"] for r in rows) == sorted(students)
    assert set(graded["results"]) == students
    assert "Grading summary" in graded["run"].stdout


def test_honest_work_keeps_every_point_and_mistakes_lose_exactly_their_share(graded):
    wrong = {}
    for student, fixture in _by_kind(graded, "baseline", "honest", "mistake").items():
        result = graded["results"][student]
        if result.status != "graded" or result.scores != {k: float(v) for k, v in fixture.expected.items()}:
            wrong[student] = (result.status, {k: (result.scores.get(k), v) for k, v in fixture.expected.items()
                                              if result.scores.get(k) != v}, [n for n in result.notes.values()
                                                                              if not n.startswith("passed")][:3])
    assert not wrong, json.dumps(wrong, indent=1)[:6000]


def test_no_attack_earns_an_undeserved_point(graded):
    undeserved = {}
    for student, fixture in _by_kind(graded, "attack").items():
        result = graded["results"][student]
        extra = {k: v for k, v in result.scores.items() if v > fixture.allowed.get(k, 0)}
        if extra:
            undeserved[student] = (result.status, extra)
    assert not undeserved, undeserved


def test_attacks_that_deserve_points_get_them(graded):
    """An attack on top of honest work keeps what the honest work earned (no collateral zero)."""
    kept = {}
    for student, fixture in _by_kind(graded, "attack").items():
        result = graded["results"][student]
        if result.status in ("graded", "kernel_died", "timeout") and result.scores != {
                k: float(v) for k, v in fixture.allowed.items()}:
            kept[student] = {k: (result.scores.get(k), v) for k, v in fixture.allowed.items() if result.scores.get(k) != v}
    assert not kept, kept


def test_crashes_end_with_their_own_status(graded):
    results = graded["results"]
    for student, status in (("atk_os_exit_after_part_a", "kernel_died"), ("atk_infinite_loop", "timeout")):
        if student in results:
            assert results[student].status == status, (student, results[student].reason)
    assert all(r.status != "grader_error" for r in results.values()), \
        {s: r.reason for s, r in results.items() if r.status == "grader_error"}


def test_bad_input_is_ungradable_with_a_reason(graded):
    for student, reason in graded["bad"].items():
        result = graded["results"][student]
        assert result.status == "ungradable", (student, result.status)
        assert reason in result.reason.lower(), (student, result.reason)


def _secret_lines(assignment) -> list[str]:
    """Lines of the source notebook that only instructors may see: in hidden tests and mark schemes, and nowhere else."""
    notebook = json.loads(assignment.source_path(ROOT).read_text())
    pattern = r"### BEGIN (?:HIDDEN TESTS|MARK SCHEME)\n(.*?)### END (?:HIDDEN TESTS|MARK SCHEME)"
    lines, visible = [], set()
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for block in re.findall(pattern, source, re.S):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 15]
        visible |= {line.strip() for line in re.sub(pattern, "", source, flags=re.S).splitlines()}
    return [line for line in lines if line not in visible]


class _PageAudit(HTMLParser):
    """Everything in a page that could run or fetch something."""

    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "link", "style", "base", "form", "svg"):
            if not (tag == "style" and not attrs):  # the page's own inline stylesheet
                self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name in ("src", "href", "action", "background", "poster") and value.startswith("javascript:"):
                self.problems.append(f"{tag} {name}=javascript:")
            if name in ("src", "background", "poster") and not value.startswith("data:"):
                self.problems.append(f"{tag} {name}={value[:40]} (a remote or relative resource)")


def test_no_page_leaks_a_hidden_test_runs_a_script_or_loads_anything(graded):
    from coursekit import data

    secrets = _secret_lines(graded["assignment"])
    assert len(secrets) >= 10
    heldout = [text for name in graded["assignment"].heldout_datasets
               for text in data.read_split(name, "test").texts[::40] if len(text) > 30]
    pages = list((graded["out"] / "feedback").glob("*.html"))
    returned = pages + list((graded["out"] / "results").rglob("results.json"))
    assert len(pages) == len(graded["results"])
    for path in returned:
        text = path.read_text()
        leaked = [line for line in secrets if line in text] + [marker for marker in ("BEGIN HIDDEN", "MARK SCHEME")
                                                               if marker in text]
        assert not leaked, (path.name, leaked[:3])
        assert not any(snippet in text for snippet in heldout), path.name
    for page in pages:
        audit = _PageAudit()
        audit.feed(page.read_text())
        assert not audit.problems, (page.name, audit.problems[:5])
        assert "Content-Security-Policy" in page.read_text()


def test_scores_reasons_and_flags_reach_the_gradebook(graded):
    from nbgrader.api import Gradebook

    assignment = graded["assignment"]
    notebook = assignment.notebook.removesuffix(".ipynb")
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gb:
        for student, fixture in _by_kind(graded, "baseline", "honest", "mistake").items():
            submission = gb.find_submission(assignment.name, student)
            assert submission.code_score == sum(fixture.expected.values()), student
        reference = gb.find_submission(assignment.name, "reference")
        assert reference.needs_manual_grade  # the written answers wait for a TA
        failing = next(s for s, f in graded["fixtures"].items() if f.kind == "mistake")
        rule = next(k for k, v in graded["fixtures"][failing].expected.items() if v == 0)
        release = nbformat.read(assignment.release_path(ROOT), as_version=4)
        answer = nbmeta.answer_before(release)[rule]  # nbgrader keeps comments on answer cells
        comment = gb.find_comment(answer, notebook, assignment.name, failing).auto_comment
        assert comment and f"{rule}: 0 /" in comment and graded["results"][failing].notes[rule] in comment, comment
    assert (graded["course"] / "autograded" / "reference" / assignment.name / assignment.notebook).exists()


def test_gradescope_results_have_the_documented_shape(graded):
    result = json.loads((graded["out"] / "results" / "reference" / "results.json").read_text())
    expected = graded["fixtures"]["reference"].expected
    assert result["score"] == sum(expected.values())
    assert {t["name"] for t in result["tests"]} == set(expected)
    assert all(set(t) >= {"name", "score", "max_score", "output", "visibility"} for t in result["tests"])


def test_the_code_screen_only_advises(graded):
    """Flagged honest notebooks keep every point; the flags reach the TA's CSV."""
    results = graded["results"]
    flagged = [s for s, f in _by_kind(graded, "honest").items() if results[s].flags]
    assert flagged, "the honest corpus should include code the screen flags (os, magics, helpers named like modules)"
    with open(graded["out"] / "grades.csv") as handle:
        rows = {r["student"]: r for r in csv.DictReader(handle)}
    for student in flagged:
        assert results[student].score == results[student].max_score
        assert rows[student]["flags_for_review"]


def test_rerun_skips_finished_work(graded):
    before = (graded["out"] / "grades.csv").read_text()
    store = graded["out"] / ".store"
    stored = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.rglob("*") if p.is_file()}
    run = grade(graded["assignment"].name, graded["submissions"], graded["out"], graded["course"])
    assert "skipped" in run.stdout
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.rglob("*") if p.is_file()} == stored
    assert (graded["out"] / "grades.csv").read_text() == before
