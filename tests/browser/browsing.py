"""Real JupyterLab servers and a real headless Chromium, for the tests of what users click.

A failing test leaves a screenshot of every open browser in test-artifacts/screenshots/
(the hook is in tests/conftest.py).
"""
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from coursekit.paths import PROJECT_ROOT as ROOT

ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
_open_browsers: list = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server started the way the README says (python -m autograder lab ...)."""

    def __init__(self, course: Path, role: str, user: str | None = None):
        from autograder.course import lab_command

        self.port, self.token = free_port(), "browser-test"
        argv, env, self.folder = lab_command(course, role, user, self.port, self.token)
        self.log = open(course / f"lab-{role}-{user or 'staff'}.log", "w")
        self.process = subprocess.Popen(argv, env=env, cwd=self.folder, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not start: {(course / self.log.name).read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def chrome(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    _open_browsers.append(driver)
    return driver


def screenshot_all(name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, driver in enumerate(_open_browsers):
        try:
            driver.save_screenshot(str(ARTIFACTS / f"{name}-{number}.png"))
        except Exception:
            pass


def close_all() -> None:
    while _open_browsers:
        try:
            _open_browsers.pop().quit()
        except Exception:
            pass
