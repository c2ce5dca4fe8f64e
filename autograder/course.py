"""A course folder that works out of the box, and JupyterLab for students and for staff.

``python -m autograder course init FOLDER`` makes, from this checkout::

    FOLDER/
      nbgrader_config.py   loads the checkout's config; this folder's root, course id and exchange
      source/              a copy of the checkout's (the grader reads it from here)
      release/             generated from it and stamped; the assignments are in the gradebook
      exchange/            nbgrader's exchange, writable by everyone (mode 1777, as nbgrader expects)
      students/NAME/       a student's working folder and settings (made by `lab student --user NAME`)
      .jupyter-student/    JupyterLab settings for students: the assignment list and Validate, no
                           instructor tools (formgrader, Create Assignment, course list)

``python -m autograder lab staff FOLDER`` starts JupyterLab with formgrader in
the course folder; ``lab student FOLDER --user NAME`` starts a student's
JupyterLab in ``FOLDER/students/NAME`` (nbgrader knows the student by $USER).
As root, ``--allow-root`` is added.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

from coursekit.paths import PROJECT_ROOT

INSTRUCTOR_EXTENSIONS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                         "@jupyter/nbgrader:course-list")
STUDENT_SERVER_EXTENSIONS = {"nbgrader.server_extensions.formgrader": False,
                             "nbgrader.server_extensions.course_list": False,
                             "nbgrader.server_extensions.assignment_list": True,
                             "nbgrader.server_extensions.validate_assignment": True}

COURSE_CONFIG = '''"""nbgrader configuration of this course folder (written by `python -m autograder course init`)."""
import os

c = get_config()  # noqa: F821
load_subconfig({base!r})  # noqa: F821 (the checkout's settings: trusted grading, feedback, timeouts)
here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.CourseDirectory.max_dir_size = 400_000  # kB: a student's folder holds the trained weights (left out of submissions)
c.Exchange.root = os.path.join(here, "exchange")
'''

STUDENT_CONFIG = '''"""nbgrader configuration for students of {course_id} (written by `python -m autograder course init`)."""
c = get_config()  # noqa: F821
load_subconfig({base!r})  # noqa: F821 (the course's settings: Validate's time limit for training cells, stderr filter)
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
# Submissions leave out what running the notebook writes for the grader (about 90 MB of weights).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "submission_export"]
c.CourseDirectory.max_dir_size = 400_000
'''


def init(folder: Path, course_id: str = "nlp-transfer", checkout: Path = PROJECT_ROOT) -> Path:
    folder = Path(folder).resolve()
    inside = folder == checkout or checkout in folder.parents
    if inside and (checkout / ".data") not in folder.parents:  # .data/ is never committed (the demo's course lives there)
        raise SystemExit("a course folder goes outside the checkout (it holds student data, which is never committed)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(COURSE_CONFIG.format(base=str(checkout / "nbgrader_config.py"),
                                                                    course_id=course_id))
    if (folder / "source").exists():
        shutil.rmtree(folder / "source")
    shutil.copytree(checkout / "source", folder / "source", ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    exchange = folder / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chmod(exchange, 0o777 | stat.S_ISVTX)
    (folder / "students").mkdir(exist_ok=True)
    settings = folder / ".jupyter-student"
    (settings / "labconfig").mkdir(parents=True, exist_ok=True)
    (settings / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {name: True for name in INSTRUCTOR_EXTENSIONS}}, indent=1))
    (settings / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": STUDENT_SERVER_EXTENSIONS}}, indent=1))
    (settings / "nbgrader_config.py").write_text(STUDENT_CONFIG.format(base=str(checkout / "nbgrader_config.py"),
                                                                        course_id=course_id, exchange=str(exchange)))
    # Each assignment's student version, stamped, and registered in this course's gradebook.
    from autograder import assignments
    from autograder.release import release

    for name in sorted(p.name for p in (folder / "source").iterdir() if p.is_dir()):
        if name not in assignments.names():
            print(f"warning: source/{name} has no grader plug-in (autograder/assignments/{name}/): not released",
                  file=sys.stderr)
            continue
        release(assignments.get(name), folder)
    return folder


def student_folder(folder: Path, user: str) -> Path:
    """A student's working folder, with JupyterLab settings that name the student.

    On a shared machine each student is an account of their own and nbgrader knows them by it; when
    several students share one account (a demo, the tests), the settings name the student explicitly.
    """
    if not user or "+" in user or "*" in user or "/" in user:
        raise SystemExit(f"not a usable student name: {user!r}")
    workdir = Path(folder).resolve() / "students" / user
    settings = workdir / ".jupyter"
    if settings.exists():
        shutil.rmtree(settings)
    shutil.copytree(Path(folder).resolve() / ".jupyter-student", settings)
    with open(settings / "nbgrader_config.py", "a") as handle:
        handle.write(f"c.CourseDirectory.root = {str(workdir)!r}\nc.CourseDirectory.student_id = {user!r}\n"
                     f"c.Exchange.cache = {str(workdir / '.nbgrader-cache')!r}\n")
    shutil.copy(settings / "nbgrader_config.py", workdir / "nbgrader_config.py")  # for nbgrader run in the folder
    return workdir


def lab_command(folder: Path, role: str, user: str | None = None, port: int | None = None,
                token: str | None = None) -> tuple[list[str], dict, Path]:
    """(argv, environment, working folder) of a JupyterLab for ``role`` ("student" or "staff")."""
    folder = Path(folder).resolve()
    if not (folder / "nbgrader_config.py").is_file():
        raise SystemExit(f"{folder} is not a course folder: make one with `python -m autograder course init {folder}`")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    argv = [sys.executable, "-m", "jupyter", "lab", "--no-browser"]
    if role == "student":
        if not user:
            raise SystemExit("a student's JupyterLab needs --user NAME (nbgrader knows students by their user name)")
        workdir = student_folder(folder, user)
        env.update(JUPYTER_CONFIG_DIR=str(workdir / ".jupyter"))
    elif role == "staff":
        workdir = folder
    else:
        raise SystemExit(f"role must be student or staff, not {role!r}")
    argv += [f"--ServerApp.root_dir={workdir}"]
    if port:
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        argv += [f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        argv += ["--allow-root"]
    return argv, env, workdir


def lab(folder: Path, role: str, user: str | None = None, port: int | None = None) -> None:
    argv, env, workdir = lab_command(folder, role, user, port)
    print(f"JupyterLab for {role} in {workdir}", flush=True)
    os.chdir(workdir)
    os.execvpe(argv[0], argv, env)
