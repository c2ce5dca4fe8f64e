"""nbgrader configuration for the course.

Used as it is by instructors working in the checkout (``nbgrader generate_assignment``,
``nbgrader validate``), and loaded by every course folder that
``python -m autograder course init`` creates (which then sets its own root,
course id and exchange).
"""
import os

from coursekit.stderr_filter import HARMLESS_STDERR_PATTERN

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "nlp-transfer"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Never copied into a release or a submission: what running a notebook in place writes for the grader
# (submission_export/ holds about 90 MB of trained weights) and editor litter.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "submission_export",
                            ".autograder"]
# Student data lives outside git (see .gitignore).
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# `nbgrader validate` runs notebooks in the student's own kernel: that is fine for the student's own feedback.
# Training cells fine-tune a transformer on a 2-core CPU: the 30 s default is far too short.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# nbgrader fails a cell whose last outputs arrive more than iopub_timeout after it finished (default 4 s); on a
# busy 2-core laptop a training cell's final output can be later than that.
c.Execute.iopub_timeout = 60
# A warning or progress bar on stderr must not fail a visible test.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = HARMLESS_STDERR_PATTERN

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
# Rubrics for the written answers sit in the locked question cells between BEGIN/END MARK SCHEME: the release
# drops them, and the graded copy that formgrader shows keeps them (the questions are not nbgrader "task" cells).
c.ClearMarkScheme.enforce_metadata = False

# Grading never happens in the student's kernel: `nbgrader autograde` and formgrader's Autograde button run
# the sandboxed, trusted engine (autograder/nbgrader_plugins.py, docs/grading.md). The submission is read
# as the student wrote it; nothing is executed by nbgrader itself.
c.Autograde.sanitize_preprocessors = []
c.Autograde.autograde_preprocessors = ["autograder.nbgrader_plugins.TrustedAutograde"]
# Feedback pages are the engine's: no hidden test, sanitised, self-contained, with hand-graded points.
c.GenerateFeedback.preprocessors = ["autograder.nbgrader_plugins.TrustedFeedback"]
c.GenerateFeedback.exporter_class = "autograder.nbgrader_plugins.FeedbackExporter"

# The exchange (where releases wait to be fetched and submissions to be collected) belongs to a course
# folder: `python -m autograder course init FOLDER` creates one and points its config there.
