"""The course as its users live it: nbgrader's real exchange, JupyterLab and formgrader in headless Chromium.

One course folder made as the README says. An honest student (alice) works in
JupyterLab: fetches the assignment from the Assignments panel, validates and
submits. A blank (bob) and a cheating (carol) student submit through nbgrader's
own commands. The TA collects, autogrades each submission with formgrader's
button (the trusted engine, not the student's kernel), reads the reasons and
grades a written answer by hand; the same class graded by the one-command
grader gives the same gradebook; feedback reaches alice with no hidden test.
Then an errata release is fetched, carried over and regraded, and every result
names the release it came from.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import assignments
from browsing import Lab, chrome, close_all
from conftest import ROOT, results_by_student

pytestmark = pytest.mark.slow
NAME = "finetune_last_layer"
NOTEBOOK = f"{NAME}.ipynb"
WAIT = 900  # seconds a grading step may take on a loaded 2-core machine


def plain_shell_env() -> dict:
    """A shell with no environment activated: the venv's bin is NOT on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["PATH"] = ":".join(p for p in os.environ["PATH"].split(":") if ".venv" not in p) or "/usr/bin:/bin"
    return env


def run(argv, cwd, check=True, timeout=WAIT):
    """A command as a user types it, from a plain shell, with the checkout's python given by path."""
    done = subprocess.run(argv, cwd=cwd, env=plain_shell_env(), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


PY = str(ROOT / ".venv" / "bin" / "python")
NBGRADER = [PY, "-m", "nbgrader"]


def wait_for(condition, seconds=60, what="a condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def course(tmp_path_factory, reference_state):
    folder = tmp_path_factory.mktemp("flow") / "course"
    run([PY, "-m", "autograder", "course", "init", str(folder)], cwd=folder.parent)
    reference_state.copy_into(folder, NAME)  # the reference's answers as after a first grading (every notebook runs)
    run(NBGRADER + ["release_assignment", NAME], cwd=folder)
    corpus = assignments.get(NAME).fixtures()
    from autograder.bad_inputs import bad_cases

    wrong_assignment = bad_cases(corpus["unchanged_release"].notebook)["bad_wrong_assignment"][0]
    for student, content in (("bob", json.dumps(corpus["unchanged_release"].notebook).encode()),
                             ("carol", json.dumps(corpus["atk_pasted_weights"].notebook).encode()),
                             ("dave", wrong_assignment)):  # a notebook of another course: ungradable
        from autograder.course import student_folder

        work = student_folder(folder, student)
        run(NBGRADER + ["fetch_assignment", NAME], cwd=work)
        (work / NAME / NOTEBOOK).write_bytes(content)
        run(NBGRADER + ["submit", NAME], cwd=work)
    yield {"folder": folder, "corpus": corpus, "labs": []}
    close_all()


@pytest.fixture(scope="module")
def alice_lab(course):
    lab = Lab(course["folder"], "student", "alice")
    driver = chrome(course["folder"].parent / "chrome-alice")
    driver.get(f"{lab.url}/lab?token={lab.token}")
    yield lab, driver
    lab.stop()


def open_assignments(driver):
    from selenium.webdriver.common.by import By

    menu = wait_for(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if e.text == "Nbgrader"],
                    90, "the Nbgrader menu")[0]
    menu.click()
    wait_for(lambda: [i for i in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item") if "Assignment List" in i.text],
             10, "Assignment List")[0].click()
    wait_for(lambda: driver.find_elements(By.ID, "released_assignments_list"), 30, "the Assignments panel")
    wait_for(lambda: NAME in driver.find_element(By.ID, "released_assignments_list").text
             or NAME in driver.find_element(By.ID, "fetched_assignments_list").text
             or NAME in driver.find_element(By.ID, "submitted_assignments_list").text, 90, "the assignment list")


def button(driver, list_id, text):
    from selenium.webdriver.common.by import By

    return wait_for(lambda: [b for b in driver.find_elements(By.CSS_SELECTOR, f"#{list_id} button")
                             if b.text.strip() == text and b.is_displayed()], 60, f"{text} in {list_id}")[0]


def test_students_see_the_assignment_list_and_no_instructor_tools(alice_lab):
    from selenium.webdriver.common.by import By

    lab, driver = alice_lab
    open_assignments(driver)
    commands = driver.execute_script("return document.body.innerText")
    assert "finetune_last_layer" in commands
    menus = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")]
    assert "Nbgrader" in menus
    driver.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-item') and .='Nbgrader']").click()
    items = [i.text for i in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item") if i.text]
    assert items == ["Assignment List"], items  # no Formgrader, no Create Assignment, no Course List
    driver.find_element(By.TAG_NAME, "body").send_keys("\ue00c")  # Escape closes the menu
    status = json.loads(subprocess.run(["curl", "-s", f"{lab.url}/formgrader?token={lab.token}", "-o", "/dev/null",
                                        "-w", '{"code": %{http_code}}'], capture_output=True, text=True).stdout)
    assert status["code"] == 404  # the formgrader server extension is off for students


def test_a_student_fetches_validates_and_submits_in_jupyterlab(course, alice_lab):
    from selenium.webdriver.common.by import By

    lab, driver = alice_lab
    button(driver, "released_assignments_list", "Fetch").click()
    notebook = lab.folder / NAME / NOTEBOOK
    wait_for(notebook.exists, 60, "the fetched notebook")
    # The student works in the notebook (here: the reference answers typed in), then saves.
    solved = course["corpus"]["reference"].notebook
    notebook.write_text(json.dumps(solved))
    wait_for(lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, "#fetched_assignments_list a")
                      if NAME in a.text], 60, "the downloaded assignment")[0].click()  # unfolds its notebooks
    button(driver, "fetched_assignments_list", "Validate").click()
    dialog = wait_for(lambda: [d for d in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog-content") if d.text],
                      WAIT, "the validation result")[0]
    assert "passes" in dialog.text or "Success" in dialog.text, dialog.text
    dialog.find_element(By.CSS_SELECTOR, "button").click()
    button(driver, "fetched_assignments_list", "Submit").click()
    wait_for(lambda: "alice" in " ".join(p.name for p in (course["folder"] / "exchange").rglob("alice+*")), 60,
             "the submission in the exchange")
    assert not list((course["folder"] / "exchange").rglob("submission_export"))  # weights left out
    run(NBGRADER + ["collect", NAME], cwd=course["folder"])
    assert sorted(p.name for p in (course["folder"] / "submitted").iterdir()) == ["alice", "bob", "carol", "dave"]


@pytest.fixture(scope="module")
def staff(course):
    lab = Lab(course["folder"], "staff")
    driver = chrome(course["folder"].parent / "chrome-staff")
    driver.get(f"{lab.url}/login?token={lab.token}")
    time.sleep(2)
    yield lab, driver
    lab.stop()


def submissions_table(driver):
    from selenium.webdriver.common.by import By

    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#main-table tr"):
        cells = {c.get_attribute("class").split()[-1] if "text-center" in c.get_attribute("class") else
                 c.get_attribute("class").split()[0]: c for c in row.find_elements(By.TAG_NAME, "td")}
        if "student-id" in cells:
            rows[cells["student-id"].text] = cells
    return rows


def close_result_dialog(driver):
    """Formgrader answers each autograde with a dialog that covers the table; the TA presses its OK.

    The dialog fades in, and for a moment its buttons are shown but not yet clickable: the press is
    retried until the dialog and its backdrop are gone.
    """
    from selenium.webdriver.common.by import By

    def shown():
        return [m for m in driver.find_elements(By.CSS_SELECTOR, ".modal") if m.is_displayed()]

    wait_for(shown, WAIT, "formgrader's autograde dialog")

    def press_ok_until_closed():
        for dialog in shown():
            buttons = [b for b in dialog.find_elements(By.CSS_SELECTOR, ".modal-footer button[data-dismiss='modal']")
                       if b.is_displayed() and b.is_enabled()]
            if buttons:
                buttons[0].click()
            return False
        return not driver.find_elements(By.CSS_SELECTOR, ".modal-backdrop")

    wait_for(press_ok_until_closed, 60, "the dialog closed")


def test_formgrader_autogrades_each_submission_on_the_trusted_engine(course, staff):
    lab, driver = staff
    driver.get(f"{lab.url}/formgrader/manage_submissions/{NAME}")
    wait_for(lambda: len(submissions_table(driver)) == 4, 60, "four submissions")
    for student in ("alice", "bob", "carol", "dave"):
        submissions_table(driver)[student]["autograde"].find_element("css selector", "a").click()
        wait_for(lambda: (course["folder"] / "autograded" / student / NAME / NOTEBOOK).exists(), WAIT,
                 f"{student}'s autograded notebook")
        close_result_dialog(driver)
    driver.refresh()
    wait_for(lambda: all(r["score"].text.strip() for r in submissions_table(driver).values()), 60, "scores")
    scores = {s: r["score"].text.split("/")[0].strip() for s, r in submissions_table(driver).items()}
    assert scores == {"alice": "17", "bob": "0", "carol": "0", "dave": "0"}, scores
    statuses = {s: r["status"].text for s, r in submissions_table(driver).items()}
    assert all(statuses[s] == "needs manual grading" for s in ("alice", "bob", "carol")), statuses  # answers wait
    assert statuses["dave"] != "needs autograding", statuses  # graded as ungradable, with its reason


def _gradebook(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['folder'] / 'gradebook.db'}") as gb:
        return {s: {g.name: (g.auto_score, g.manual_score) for g in gb.find_submission_notebook(NAME, NAME, s).grades}
                for s in ("alice", "bob", "carol", "dave")}


def test_the_ta_reads_reasons_and_grades_a_written_answer_by_hand(course, staff):
    from nbgrader.api import Gradebook
    from selenium.webdriver.common.by import By

    lab, driver = staff
    with Gradebook(f"sqlite:///{course['folder'] / 'gradebook.db'}") as gb:
        carol = gb.find_submission_notebook(NAME, NAME, "carol").id
        alice = gb.find_submission_notebook(NAME, NAME, "alice").id
        dave = gb.find_submission_notebook(NAME, NAME, "dave").id
    driver.get(f"{lab.url}/formgrader/submissions/{carol}/")
    page = wait_for(lambda: driver.find_element(By.TAG_NAME, "body").text if "Trusted check" in
                    driver.find_element(By.TAG_NAME, "body").text else "", 60, "carol's graded notebook")
    assert "Trusted check (test_accuracy): 0 / 2" in page and "NotImplementedError" in page
    assert "Rubric (for graders" in page
    driver.get(f"{lab.url}/formgrader/submissions/{dave}/")
    page = wait_for(lambda: driver.find_element(By.TAG_NAME, "body").text if "ungradable" in
                    driver.find_element(By.TAG_NAME, "body").text else "", 60, "dave's page with its reason")
    assert "does not belong" in page
    driver.get(f"{lab.url}/formgrader/submissions/{alice}/")
    score = wait_for(lambda: driver.find_element(By.ID, "answer_quadrant"), 60, "the written answer's score box")
    score.clear()
    score.send_keys("1")
    comment = driver.find_element(By.ID, "answer_quadrant-comment")
    comment.send_keys("Clear and correct: small and similar.")
    driver.find_element(By.ID, "answer_unfreeze_next").click()  # leaving the fields saves them
    wait_for(lambda: _gradebook(course)["alice"]["answer_quadrant"][1] == 1, 30, "the hand-graded point saved")


def test_the_one_command_grader_gives_the_same_gradebook_from_a_plain_shell(course):
    before = _gradebook(course)
    # Exactly as the README types it, in the course folder, with no environment activated.
    done = run([PY, "-m", "autograder", "grade", NAME, "submitted", "--out", "grading-out"], cwd=course["folder"])
    assert "Grading summary" in done.stdout
    assert _gradebook(course) == before
    results = results_by_student(course["folder"] / "grading-out", NAME)
    assert {s: r.score for s, r in results.items()} == {"alice": 17, "bob": 0, "carol": 0, "dave": 0}
    assert results["dave"].status == "ungradable"
    for result in (results[s] for s in ("alice", "bob", "carol")):
        assert result.release["label"] == result.graded_against["label"] == "2026.1"


def test_feedback_reaches_the_student_with_no_hidden_test(course, alice_lab):
    from selenium.webdriver.common.by import By

    run(NBGRADER + ["generate_feedback", NAME], cwd=course["folder"])
    run(NBGRADER + ["release_feedback", NAME], cwd=course["folder"])
    lab, driver = alice_lab
    driver.refresh()
    open_assignments(driver)
    button(driver, "submitted_assignments_list", "Fetch Feedback").click()
    page = wait_for(lambda: list((lab.folder / NAME / "feedback").rglob("*.html")), 60, "the feedback file")[0]
    text = page.read_text()
    assert "17 / 17" in text and "Clear and correct: small and similar." in text and "1 / 1" in text
    source = assignments.get(NAME).source_path(ROOT).read_text()
    for secret in ("BEGIN HIDDEN", "MARK SCHEME", "_bert4", "long_text", "Rubric"):
        assert secret in source or secret == "Rubric"
        assert secret not in text, secret
    driver.get(f"{lab.url}/files/{NAME}/feedback/{page.parent.name}/{page.name}?token={lab.token}")
    assert driver.execute_script("return document.scripts.length") == 0


def test_an_errata_release_is_fetched_carried_over_and_regraded_with_its_version(course):
    folder = course["folder"]
    source = folder / "source" / NAME / NOTEBOOK
    notebook = json.loads(source.read_text())
    notebook["metadata"]["course_release_label"] = "2026.1-errata1"
    for cell in notebook["cells"]:  # the erratum: a sentence fixed in the introduction
        if cell["cell_type"] == "markdown":
            cell["source"] = "".join(cell["source"]).replace("About a minute on", "About one minute on")
            break
    source.write_text(json.dumps(notebook, indent=1))
    run([PY, "-m", "autograder", "release", NAME], cwd=folder)
    run(NBGRADER + ["release_assignment", NAME, "--force"], cwd=folder)
    from autograder.course import student_folder

    work = student_folder(folder, "alice")
    (work / NAME).rename(work / f"{NAME}-2026.1")  # keep the old work, fetch the fixed release
    run(NBGRADER + ["fetch_assignment", NAME], cwd=work)
    run([PY, "-m", "autograder", "carry-over", str(work / f"{NAME}-2026.1" / NOTEBOOK), str(work / NAME / NOTEBOOK),
         "-o", str(work / NAME / NOTEBOOK)], cwd=work)
    run(NBGRADER + ["submit", NAME], cwd=work)
    run(NBGRADER + ["collect", NAME, "--update"], cwd=folder)
    run(NBGRADER + ["autograde", NAME, "--student", "alice", "--force"], cwd=folder)
    graded = json.loads((folder / "autograded" / "alice" / NAME / NOTEBOOK).read_text())
    result = graded["metadata"]["course_grade"]["result"]
    assert result["release"]["label"] == result["graded_against"]["label"] == "2026.1-errata1"
    assert sum(result["scores"].values()) == 17
    # bob did not resubmit: his 2026.1 submission is graded against 2026.1's own checks, which are kept.
    done = run([PY, "-m", "autograder", "grade", NAME, "submitted", "--out", "grading-out-2"], cwd=folder)
    results = results_by_student(folder / "grading-out-2", NAME)
    assert results["bob"].release["label"] == results["bob"].graded_against["label"] == "2026.1"
    assert results["alice"].graded_against["label"] == "2026.1-errata1"
    rows = (folder / "grading-out-2" / "grades.csv").read_text()
    assert "2026.1-errata1" in rows and ",2026.1,2026.1," in rows, done.stdout[-1500:]
