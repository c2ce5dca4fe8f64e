"""The worker starts the trusted export checks as soon as the sandbox hands the exports over; their report
counts only for exactly the files the finished run returned."""
from pathlib import Path

from autograder.plugin import ArtifactReport, Assignment
from autograder.result import Check
from autograder.worker import ExportCheck


class Counting(Assignment):
    name = "counting"

    def __init__(self, fail_first=False):
        super().__init__()
        self.calls, self.keys, self.fail_first = [], [], fail_first

    def check_artifacts(self, exported, cache_dir, grading_key=b""):
        self.calls.append(dict(exported))
        self.keys.append(grading_key)
        if self.fail_first and len(self.calls) == 1:
            raise OSError("a passing fault")
        return ArtifactReport([Check("artifact:x", "artifact:x", exported.get("w") == b"good")], {})


def test_the_early_report_is_used_when_the_files_are_the_same():
    plugin = Counting()
    early = ExportCheck(plugin, Path("."))
    early.start({"w": b"good"})
    report = early.report_for({"w": b"good"})
    assert report.checks[0].passed and plugin.calls == [{"w": b"good"}]


def test_other_final_files_are_checked_again():
    plugin = Counting()
    early = ExportCheck(plugin, Path("."))
    early.start({"w": b"good"})
    report = early.report_for({"w": b"bad"})
    assert not report.checks[0].passed and plugin.calls == [{"w": b"good"}, {"w": b"bad"}]


def test_a_failed_early_check_runs_again_and_without_a_start_the_check_runs_once():
    plugin = Counting(fail_first=True)
    early = ExportCheck(plugin, Path("."))
    early.start({"w": b"good"})
    assert early.report_for({"w": b"good"}).checks[0].passed and len(plugin.calls) == 2
    plugin = Counting()
    assert not ExportCheck(plugin, Path(".")).report_for({}).checks[0].passed and plugin.calls == [{}]


def test_the_grading_key_reaches_both_the_early_and_the_final_check():
    plugin = Counting()
    early = ExportCheck(plugin, Path("."), b"secret key")
    early.start({"w": b"good"})
    early.report_for({"w": b"bad"})
    assert plugin.keys == [b"secret key", b"secret key"]
