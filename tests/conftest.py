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


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves screenshots in test-artifacts/screenshots/."""
    outcome = yield
    if outcome.get_result().failed and "browsing" in sys.modules:
        sys.modules["browsing"].screenshot_all(item.name)
