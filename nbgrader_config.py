"""nbgrader configuration for the course (run nbgrader from this folder)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coursekit.stderr_filter import HARMLESS_STDERR_PATTERN  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "nlp-transfer"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Never copied between course folders: what running a notebook in place exports for the grader.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "submission_export"]
# Student data lives outside git (see .gitignore).
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# Training cells fine-tune a transformer on a 2-core CPU: the 30 s default is far too short.
# The reference notebook's longest cell takes under a minute (benchmarks/results/).
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True

# A warning or progress bar on stderr must not zero a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = HARMLESS_STDERR_PATTERN

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
