"""A whole class: preflight, reference answers, parallel workers with a progress bar, resumable.

Every per-student step is isolated: a worker that dies, a page that fails to
render or a gradebook write that fails is reported for that student alone,
and the batch finishes. A grader fault is retried by the next run.
"""
from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from autograder import assignments, challenges, feedback, gradebook, intake, nbmeta, reference, release, reports, sandbox, worker
from autograder.result import GradeResult
from autograder.store import ResultStore, write_atomically

_PLANS: dict[str, worker.Plan] = {}


def _start_worker(plans: dict[str, worker.Plan]) -> None:
    """Workers (and through --die-with-parent their sandboxes) end if the batch is killed."""
    _PLANS.update(plans)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    import torch

    torch.set_num_threads(1)
    # The trusted checkers load their models and cached features while the first notebooks run in the sandbox.
    for name in {plan.assignment for plan in plans.values()}:
        assignments.get(name).warm_up_in_background()


def _grade_in_worker(version: str, job: worker.Job):
    return worker.grade(_PLANS[version], job)


def state_dir(course_dir: Path) -> Path:
    """The grader's own files for a course (challenge secret, reference answers, caches): never in the sandbox."""
    return Path(course_dir) / ".autograder"


def ensure_in_gradebook(assignment, course_dir: Path, db_url: str) -> None:
    """The assignment and its grade cells must be in the gradebook before scores go in."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            gb.find_notebook(Path(assignment.notebook).stem, assignment.name)
            return
        except MissingEntry:
            pass
    # nbgrader runs helper programs (alembic) by name: this interpreter's folder must be on PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # generate_assignment records the grade cells; it writes its release copy aside, not over release/.
    aside = state_dir(course_dir) / "gradebook-release"
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment.name, "--force",
                           f"--CourseDirectory.root={course_dir}", f"--CourseDirectory.db_url={db_url}",
                           f"--CourseDirectory.release_directory={aside}"],
                          cwd=course_dir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader could not register {assignment.name} in the gradebook:\n{done.stderr[-2000:]}")


def make_plan(assignment, course_dir: Path, *, seed: int, limits: sandbox.Limits, unsafe_no_sandbox: bool,
              progress: bool = True, kept: tuple[Path, Path] | None = None, reuse_outcomes: bool = True,
              defer_reference: bool = False) -> worker.Plan:
    """What one release of an assignment is graded against: the current one, or ``kept`` (source, release).

    The plan holds the reference's answers. With ``defer_reference`` a plan whose answers are not kept yet
    holds none; :func:`reference_answers` then computes them (the batch does that while the first notebooks run).
    """
    source_path, release_path = kept or (assignment.source_path(course_dir), assignment.release_path(course_dir))
    for path, what in ((source_path, "the instructor's notebook"), (release_path, "the released notebook")):
        if not path.is_file():
            raise SystemExit(f"{what} is missing: {path}\n(run the grader from the course folder, or pass "
                             "--course-dir; `nbgrader generate_assignment` writes release/)")
    state = state_dir(course_dir)
    source_sha256 = hashlib.sha256(source_path.read_bytes()).hexdigest()
    release = nbformat.read(release_path, as_version=4)
    stamp = release.metadata.get("course_release") if isinstance(release.metadata.get("course_release"), dict) else {}
    secret = challenges.load_secret(state)
    specs = challenges.draw(assignment, secret, source_sha256, seed)
    answers_path = reference.answers_path(assignment, state, specs, source_sha256)
    plan = worker.Plan(assignment=assignment.name, course_dir=str(course_dir), state_dir=str(state),
                       release_path=str(release_path), source_sha256=source_sha256,
                       release_label=str(stamp.get("label", "")), specs=tuple(specs),
                       reference_answers=reference.kept_answers(answers_path), seed=seed,
                       unsafe_no_sandbox=unsafe_no_sandbox, limits=limits, reuse_outcomes=reuse_outcomes,
                       reference_path=str(answers_path),
                       grading_key=challenges.grading_key(assignment, secret, source_sha256, seed))
    if plan.reference_answers is None and not defer_reference:
        plan = dataclasses.replace(plan, reference_answers=reference_answers(plan, source_path, progress))
    return plan


def reference_answers(plan: worker.Plan, source_path: Path, progress: bool) -> dict:
    """Run the reference solution through the sandbox and its own checks; stop the run if it fails them."""
    if progress:
        print(f"Reference answers for {len(plan.specs)} challenges (computed once per release and seed, "
              "while the first submissions run) ...", flush=True)
    try:
        return reference.answers(assignments.get(plan.assignment), source_path, Path(plan.release_path),
                                 Path(plan.state_dir), list(plan.specs), plan.source_sha256, plan.limits,
                                 plan.unsafe_no_sandbox, plan.grading_key)
    except reference.ReferenceError as error:
        raise SystemExit(f"Nothing was graded: {error}") from None


def _fault(plan: worker.Plan, job: worker.Job, error: BaseException) -> GradeResult:
    cells = nbmeta.grade_cells(nbformat.read(plan.release_path, as_version=4))
    result = worker.new_result(plan, job, cells)
    result.status = "grader_error"
    result.reason = f"grader fault (not the student's; rerun to retry): {error!r}"[:600]
    return result


class Publisher:
    """Everything the parent writes for one finished submission, each part guarded on its own."""

    def __init__(self, assignment, course_dir: Path, out_dir: Path, db_url: str):
        self.assignment, self.course_dir, self.out_dir, self.db_url = assignment, course_dir, out_dir, db_url
        self.source = nbformat.read(assignment.source_path(course_dir), as_version=4)
        self.release = nbformat.read(assignment.release_path(course_dir), as_version=4)
        self.problems: list[str] = []

    def publish(self, result: GradeResult, executed: dict | None, numbers: dict) -> None:
        banner = reports.UNSAFE_BANNER if result.unsafe_no_sandbox else ""
        steps = [("feedback page", lambda: write_atomically(
                     self.out_dir / "feedback" / f"{result.student}.html",
                     feedback.page(result, executed, numbers, banner).encode())),
                 ("gradebook", lambda: gradebook.record(self.db_url, self.course_dir, Path(self.assignment.notebook).stem,
                                                        result, nbmeta.answer_before(self.release))),
                 ("graded notebook", lambda: gradebook.write_autograded(self.course_dir, result, self.assignment.notebook,
                                                                        executed, numbers, self.source, self.release))]
        if result.status != "grader_error":
            steps.append(("results.json", lambda: reports.write_gradescope(
                result, self.out_dir / "results" / result.student / "results.json")))
        for what, step in steps:
            try:
                step()
            except Exception as error:
                self.problems.append(f"{result.student}: the {what} could not be written ({error!r}); "
                                     "it is written again on the next run")
                traceback.print_exc()


def grade_batch(assignment_name: str, submissions: Path, out_dir: Path, *, course_dir: Path, workers: int = 2,
                force: bool = False, unsafe_no_sandbox: bool = False, seed: int = 0,
                limits: sandbox.Limits = sandbox.Limits(), progress: bool = True) -> list[GradeResult]:
    assignment = assignments.get(assignment_name)
    out_dir, course_dir = Path(out_dir), Path(course_dir).resolve()
    db_url = f"sqlite:///{course_dir / 'gradebook.db'}"
    if not unsafe_no_sandbox:
        available, why = sandbox.sandbox_available()
        if not available:
            raise SystemExit(f"The grading sandbox is unavailable: {why}\nInstall it with: sudo apt-get install -y bubblewrap\n"
                             "(or pass --unsafe-no-sandbox to run student code unprotected; every output will say so)")
    # The preflight notebook runs in the sandbox while this process reads the release and the gradebook.
    with ThreadPoolExecutor(max_workers=1) as background:
        preflight = background.submit(reference.preflight, limits, unsafe_no_sandbox)
        try:
            prepared = _prepare(assignment, submissions, out_dir, course_dir, db_url, force=force,
                                unsafe_no_sandbox=unsafe_no_sandbox, seed=seed, limits=limits, progress=progress)
        except BaseException:
            preflight.result()  # a sandbox that cannot work is the message that matters
            raise
        preflight.result()
    plans, sources, found, keys, jobs, store = prepared
    skipped = len(found) - len(jobs)
    if skipped:
        print(f"{skipped} submission(s) already graded against this release with this grader: skipped "
              "(--force regrades)")
    publisher = Publisher(assignment, course_dir, out_dir, db_url)
    needed = {version for version, _ in jobs.values()}
    references = References(plans, sources, [v for v in plans if v in needed and plans[v].reference_answers is None],
                            progress)
    if jobs:
        _Grading(plans, jobs, store, publisher, workers, progress, references).run()
    results = []
    for sub in found:
        key = keys[sub.student]
        result = store.load(key)
        if key not in jobs:  # graded by an earlier run: make sure the gradebook and reports have it
            executed, numbers = store.executed(key)
            publisher.publish(result, executed, numbers)
        results.append(result)
    reports.write_csv(results, out_dir / "grades.csv")
    text = reports.summary(results)
    if publisher.problems:
        text += "\n## Reports that could not be written\n\n" + "\n".join(f"- {p}" for p in publisher.problems) + "\n"
    write_atomically(out_dir / "summary.md", text.encode())
    return results


def _prepare(assignment, submissions: Path, out_dir: Path, course_dir: Path, db_url: str, *, force: bool,
             unsafe_no_sandbox: bool, seed: int, limits: sandbox.Limits, progress: bool):
    """The plans (one per release the submissions were made from), the submissions and the jobs still to do."""
    current = make_plan(assignment, course_dir, seed=seed, limits=limits, unsafe_no_sandbox=unsafe_no_sandbox,
                        progress=progress, reuse_outcomes=not force, defer_reference=True)
    sources = {current.source_sha256: assignment.source_path(course_dir)}
    ensure_in_gradebook(assignment, course_dir, db_url)
    found = intake.collect(Path(submissions), assignment.name, Path(assignment.notebook).stem)
    plans = {current.source_sha256: current}
    version_of = {}
    for sub in found:  # a submission made from an older release is graded against that release, if it is kept
        made_from = release.stamped_source(sub.raw)
        kept = release.kept_release(course_dir, assignment.name, made_from) if made_from else None
        if kept and made_from not in plans:
            plans[made_from] = make_plan(assignment, course_dir, seed=seed, limits=limits,
                                         unsafe_no_sandbox=unsafe_no_sandbox, progress=progress, kept=kept,
                                         reuse_outcomes=not force, defer_reference=True)
            sources[made_from] = kept[0]
        version_of[sub.student] = made_from if kept else current.source_sha256
    store = ResultStore(out_dir, assignment.name)
    keys = {sub.student: store.key(sub.student, sub.sha256, seed, assignment.version, version_of[sub.student])
            for sub in found}
    jobs = {keys[sub.student]: (version_of[sub.student], worker.Job(sub.student, sub.origin, sub.raw, sub.sha256,
                                                                    sub.problem))
            for sub in found if force or not store.has_final(keys[sub.student])}
    return plans, sources, found, keys, jobs, store


class References:
    """The reference answers a batch still needs, computed in a thread while the first notebooks run.

    Until every one of them is there the batch publishes nothing (so a reference that fails its own checks
    leaves nothing graded), judges nothing that needs them, and leaves one worker slot to the reference's own
    sandboxed run.
    """

    def __init__(self, plans: dict, sources: dict, versions: list[str], progress: bool):
        self.plans, self.sources, self.versions, self.progress = plans, sources, versions, progress
        self.answers: dict[str, dict] = {}
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._compute, name="reference answers", daemon=True)
        if versions:
            self._thread.start()

    def _compute(self) -> None:
        try:
            for version in self.versions:
                self.answers[version] = reference_answers(self.plans[version], self.sources[version], self.progress)
        except BaseException as error:  # SystemExit("Nothing was graded: ...") or a fault of the grader
            self.failure = error

    @property
    def pending(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until every reference is computed; stop the run if one could not be."""
        if self.versions:
            self._thread.join()
        if isinstance(self.failure, SystemExit):
            raise self.failure
        if self.failure is not None:
            raise SystemExit(f"Nothing was graded: the reference answers could not be computed: {self.failure!r}")

    def answers_for(self, version: str) -> dict:
        return self.plans[version].reference_answers or self.answers[version]


class _Grading:
    """A batch's jobs through a pool of workers.

    At most ``workers`` jobs run at once, one fewer while a reference is still being computed (its sandboxed run
    takes that place). Results are stored and published as they come in, except while a reference is pending:
    then they are held, and runs that need the reference's answers are judged once those exist.
    A worker that dies takes the pool with it: one job it held is charged a grader fault, the rest run again.
    """

    def __init__(self, plans: dict, jobs: dict, store: ResultStore, publisher: Publisher, workers: int,
                 progress: bool, references: References):
        self.plans, self.jobs, self.store, self.publisher = plans, jobs, store, publisher
        self.workers, self.references = max(1, workers), references
        self.pending = dict(jobs)
        self.held: list[tuple[str, tuple]] = []
        self.unjudged: list[tuple[str, worker.Unjudged]] = []
        self.bar = tqdm(total=len(jobs), desc="grading", unit="notebook", disable=not progress, smoothing=0)

    def run(self) -> None:
        while self.pending:
            with ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                     initializer=_start_worker, initargs=(self.plans,)) as pool:
                try:
                    self._until_done_or_broken(pool)
                except BaseException:
                    _stop(pool)
                    raise
        self.references.wait()  # every submission may have finished before the reference did
        self._flush()
        self.bar.close()

    def _until_done_or_broken(self, pool: ProcessPoolExecutor) -> None:
        queue, futures, broken = list(self.pending), {}, False
        while queue or futures:
            slots = self.workers - 1 if self.references.pending and self.workers > 1 else self.workers
            while queue and len(futures) < slots and not broken:
                try:
                    futures[pool.submit(_grade_in_worker, *self.pending[queue[0]])] = queue[0]
                except BrokenProcessPool as error:  # the jobs the dead worker held report it below
                    if not futures:  # it held none: charge one job, so that rebuilding the pool progresses
                        self._finished(queue[0], self._fault(queue[0], error))
                    broken = True
                    break
                queue.pop(0)
            if not futures:
                return
            done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                key = futures.pop(future)
                try:
                    value = future.result()
                except BrokenProcessPool as error:
                    if broken:
                        continue  # the pool is being rebuilt; this job runs again
                    broken = True
                    value = self._fault(key, error)
                except Exception as error:
                    traceback.print_exc()
                    value = self._fault(key, error)
                self._finished(key, value)
            self._flush()

    def _fault(self, key: str, error: BaseException) -> tuple:
        version, job = self.jobs[key]
        return _fault(self.plans[version], job, error), None, {}

    def _finished(self, key: str, value) -> None:
        self.pending.pop(key, None)
        (self.unjudged if isinstance(value, worker.Unjudged) else self.held).append((key, value))

    def _flush(self) -> None:
        """Once no reference is pending: judge what waited for one, then store and publish what is held."""
        if self.references.pending:
            if self.held or self.unjudged:
                self.bar.set_postfix_str(f"{len(self.held) + len(self.unjudged)} run, waiting for the reference's answers")
            return
        self.references.wait()  # raises if a reference failed: then nothing is published
        while self.unjudged:
            key, waiting = self.unjudged.pop(0)
            version = self.jobs[key][0]
            try:
                value = worker.complete(self.plans[version], waiting, self.references.answers_for(version))
            except Exception as error:
                traceback.print_exc()
                value = self._fault(key, error)
            self.held.append((key, value))
        while self.held:
            key, (result, executed, numbers) = self.held.pop(0)
            self.store.save(key, result, executed, numbers)
            self.publisher.publish(result, executed, numbers)
            self.bar.set_postfix_str(f"{result.student}: {result.status}")
            self.bar.update()


def _stop(pool: ProcessPoolExecutor) -> None:
    """End a pool now: its workers die, and their sandboxes with them (--die-with-parent)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            process.kill()
        except Exception:
            pass
    pool.shutdown(wait=False, cancel_futures=True)
