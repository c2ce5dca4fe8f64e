"""The plug-in base builds an assignment's trusted checker once per process, and a background warm-up
(a worker starts one while its first notebook runs in the sandbox) never races a check."""
import threading
import time
from pathlib import Path

import pytest

from autograder.plugin import ArtifactReport, Assignment


class SlowChecker:
    def __init__(self, log: list, fail: bool):
        log.append("built")
        self.log, self.fail, self.warm = log, fail, False

    def warm_up(self):
        time.sleep(0.4)  # long enough that the check below starts while this still runs
        if self.fail:
            raise OSError("the cached features are unreadable")
        self.warm = True
        self.log.append("warmed")

    def check(self, exported, cache_dir, grading_key=b""):
        self.log.append("checked")
        return ArtifactReport([], {"warm_before_check": self.warm})


class Probe(Assignment):
    name = "probe"

    def __init__(self, fail=False):
        super().__init__()
        self.log, self.fail = [], fail

    def make_checker(self):
        return SlowChecker(self.log, self.fail)


def test_a_check_during_the_warm_up_waits_for_it_and_the_checker_is_built_once():
    probe = Probe()
    thread = probe.warm_up_in_background()
    time.sleep(0.05)
    report = probe.check_artifacts({}, Path("."))
    thread.join(timeout=5)
    assert report.measurements == {"warm_before_check": True}
    assert probe.log == ["built", "warmed", "checked"]
    probe.warm_up()  # a second warm-up does nothing
    assert probe.log == ["built", "warmed", "checked"]


def test_a_failed_warm_up_is_silent_and_the_check_still_runs():
    probe = Probe(fail=True)
    probe.warm_up_in_background().join(timeout=5)
    assert probe.check_artifacts({}, Path(".")).measurements == {"warm_before_check": False}
    with pytest.raises(OSError):  # called directly, the fault is not hidden
        probe.warm_up()


def test_checks_from_several_threads_share_one_checker():
    probe = Probe()
    threads = [threading.Thread(target=probe.check_artifacts, args=({}, Path("."))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert probe.log.count("built") == 1 and probe.log.count("checked") == 4


def test_an_assignment_that_exports_nothing_has_an_empty_report():
    assert Assignment().check_artifacts({}, Path(".")) == ArtifactReport([], {})
