import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.paths import PROJECT_ROOT as ROOT


def run_python(code: str, env: dict | None = None, args: tuple = (), timeout: int = 300, cwd=ROOT):
    """Run ``code`` in a fresh interpreter of this venv; return the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def make_course(path: Path) -> Path:
    """A throwaway nbgrader course folder: source/, release/ and the course's nbgrader_config.py."""
    path.mkdir(parents=True, exist_ok=True)
    for folder in ("source", "release"):
        shutil.copytree(ROOT / folder, path / folder)
    shutil.copy(ROOT / "nbgrader_config.py", path)
    return path


def grade(assignment: str, submissions: Path, out: Path, course: Path, *extra: str, check=True,
          env: dict | None = None) -> subprocess.CompletedProcess:
    """The TA's command, as the README gives it, run from the course folder."""
    return subprocess.run([sys.executable, "-m", "autograder", "grade", assignment, str(submissions), "--out", str(out),
                           "--no-progress", *extra], capture_output=True, text=True, cwd=course, check=check,
                          timeout=5400, env=env)


def results_by_student(out: Path, assignment: str) -> dict:
    from autograder.result import GradeResult

    results = {}
    for path in sorted((out / ".store" / assignment).glob("*.json")):
        result = GradeResult.from_json(path.read_text())
        assert result.student not in results, f"{result.student} graded twice"
        results[result.student] = result
    return results


def write_class(folder: Path, notebooks: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for student, notebook in notebooks.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(notebook))


class ReferenceState:
    """One grader folder for the whole session: the challenge secret and each assignment's reference answers.

    Computing an assignment's reference answers means running its solution in the sandbox (up to two minutes
    on a slow machine); a test course that copies this folder starts where a course stands after its first
    grading. Stored outcomes are never copied, so every notebook a test grades still runs. Tests of a fresh
    course (`make demo`, the first grading of a new course) make their own.
    """

    def __init__(self, base: Path):
        self.base = base
        self.course = make_course(base / "course")
        self.ready: set[str] = set()

    def copy_into(self, course: Path, *names: str) -> Path:
        for name in names:
            self._compute(name)
        shutil.copytree(self.course / ".autograder", Path(course) / ".autograder", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("outcomes"))
        return course

    def _compute(self, name: str) -> None:
        if name in self.ready:
            return
        from autograder import assignments

        # Grading the unchanged release computes the reference answers, exactly as a TA's first grading does.
        write_class(self.base / f"{name}-class", {"unchanged_release": assignments.get(name).fixtures()[
            "unchanged_release"].notebook})
        grade(name, self.base / f"{name}-class", self.base / f"{name}-out", self.course)
        self.ready.add(name)


@pytest.fixture(scope="session")
def reference_state(tmp_path_factory) -> ReferenceState:
    return ReferenceState(tmp_path_factory.mktemp("reference-state"))


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves screenshots in test-artifacts/screenshots/."""
    outcome = yield
    if outcome.get_result().failed and "browsing" in sys.modules:
        sys.modules["browsing"].screenshot_all(item.name)
