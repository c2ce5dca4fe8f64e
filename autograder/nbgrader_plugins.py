"""nbgrader's own commands, and formgrader's buttons, on this grader's trusted engine.

The course's ``nbgrader_config.py`` plugs these classes into nbgrader:

* ``nbgrader autograde`` (and formgrader's **Autograde** button) no longer
  runs the notebook in the student's kernel: ``TrustedAutograde`` reads the
  student's own submitted file and grades it exactly as ``python -m autograder
  grade`` does (sandbox, challenges, trusted checks), writes the gradebook
  (scores, reasons as comments, the submission time from collect) and hands
  nbgrader the graded notebook for ``autograded/``.
* ``nbgrader generate_feedback`` (and formgrader's buttons) writes this
  grader's feedback page (no hidden test, sanitised, self-contained), with the
  points and comments TAs gave by hand, so ``release_feedback`` and the
  student's **Fetch Feedback** deliver it.

A grader fault raises, so nbgrader reports the failure and leaves the
submission "needs autograding" (retry by pressing the button again); it is
never recorded as the student's zero.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
from nbconvert.exporters import Exporter
from nbgrader.preprocessors import NbGraderPreprocessor as Preprocessor  # enabled by default, unlike nbconvert's
from traitlets import Integer

from autograder import assignments, batch, feedback, gradebook, intake, nbmeta, reference, sandbox, worker
from autograder.result import GradeResult

_plans: dict[tuple, worker.Plan] = {}


class GraderFault(RuntimeError):
    """Not the student's fault: nbgrader shows it and the submission stays to be graded."""


def _plan(course_dir: Path, name: str, seed: int) -> worker.Plan:
    key = (str(course_dir), name, seed, hashlib.sha256(
        assignments.get(name).source_path(course_dir).read_bytes()).hexdigest())
    if key not in _plans:
        limits = sandbox.Limits()
        available, why = sandbox.sandbox_available()
        if not available:
            raise GraderFault(f"the grading sandbox is unavailable: {why} (install bubblewrap)")
        reference.preflight(limits, unsafe_no_sandbox=False)
        _plans[key] = batch.make_plan(assignments.get(name), course_dir, seed=seed, limits=limits,
                                      unsafe_no_sandbox=False, progress=False)
    return _plans[key]


def _coursedir(component):
    """nbgrader's CourseDirectory, from the converter that (through its exporter) owns a preprocessor."""
    while component is not None:
        if hasattr(component, "coursedir"):
            return component.coursedir
        component = getattr(component, "parent", None)
    raise GraderFault("run from nbgrader: no course directory is known")


class TrustedAutograde(Preprocessor):
    """Replaces nbgrader's Execute, SaveAutoGrades and friends in ``Autograde.autograde_preprocessors``."""

    seed = Integer(0, help="Grading seed: another seed draws other challenges.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        student, name, notebook_id = info["student"], info["assignment"], info["notebook"]
        coursedir = _coursedir(self)
        course_dir = Path(coursedir.root).resolve()
        try:
            assignment = assignments.get(name)
        except KeyError:
            raise GraderFault(f"no grader plug-in for assignment {name!r}") from None
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, name)) / f"{notebook_id}.ipynb"
        try:
            plan = _plan(course_dir, name, self.seed)
        except SystemExit as stop:  # preflight or reference failed: nothing can be graded
            raise GraderFault(str(stop)) from None
        raw = submitted.read_bytes() if submitted.is_file() else b""
        job = worker.Job(intake.safe_student_id(student), str(submitted), raw, hashlib.sha256(raw).hexdigest(),
                         None if raw else "no notebook was submitted")
        result, executed, numbers = worker.grade(plan, job)
        if result.status == "grader_error":
            raise GraderFault(f"{student}: {result.reason}")
        source = nbformat.read(assignment.source_path(course_dir), as_version=4)
        release = nbformat.read(assignment.release_path(course_dir), as_version=4)
        gradebook.record(coursedir.db_url, course_dir, notebook_id, result, nbmeta.answer_before(release))
        graded = gradebook.graded_notebook(result, executed, numbers, source, release)
        return nbformat.from_dict(graded), resources


class TrustedFeedback(Preprocessor):
    """Collects what the feedback page needs: the stored grade and the hand-graded points and comments."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        stored = nb.metadata.get(gradebook.RESULT_KEY)
        if not isinstance(stored, dict):
            raise GraderFault(f"{info['student']}: this notebook was not graded by the trusted grader; autograde it first")
        result = GradeResult.from_json(json.dumps(stored["result"]))
        manual = {}
        with Gradebook(_coursedir(self).db_url) as gb:
            for grade_id in result.manual + result.auto_ids:
                try:
                    grade = gb.find_grade(grade_id, info["notebook"], info["assignment"], info["student"])
                    comment = gb.find_comment(grade_id, info["notebook"], info["assignment"], info["student"])
                except Exception:
                    continue
                manual[grade_id] = (grade.manual_score, comment.manual_comment)
        resources["course_feedback"] = {"result": result, "manual": manual,
                                        "numbers": {int(k): v for k, v in stored.get("numbers", {}).items()}}
        return nb, resources


class FeedbackExporter(Exporter):
    """The feedback page itself (``GenerateFeedback.export_class``)."""

    output_mimetype = "text/html"

    def _file_extension_default(self):
        return ".html"

    def from_notebook_node(self, nb, resources=None, **kw):
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        data = resources["course_feedback"]
        page = feedback.page(data["result"], gradebook.student_view(nb_copy), data["numbers"], manual=data["manual"])
        return page, resources

