"""Real processes for end-to-end tests: a Celery worker (and beat) on loopback services."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def process_env(database_name: str, **extra) -> dict:
    """The test process's environment, pointed at the test database."""
    env = dict(os.environ)
    url = urlsplit(env["DATABASE_URL"])
    env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{database_name}"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    def __init__(self, args, env, log: Path):
        self.log = log
        self.handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen; output:\n{self.output()[-3000:]}")

    def kill9(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.handle.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    from django.db import connection

    started: list[Proc] = []

    def start(name="w1", concurrency=2, **extra) -> Proc:
        env = process_env(connection.settings_dict["NAME"], **extra)
        proc = Proc(
            [
                str(BIN / "celery"),
                "-A",
                "conductor",
                "worker",
                "-l",
                "info",
                "-Q",
                "conductor",
                "-c",
                str(concurrency),
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            tmp_path / f"{name}.log",
        )
        started.append(proc)
        proc.wait_for("ready.")
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_beat(transactional_db, tmp_path):
    from django.db import connection

    started: list[Proc] = []

    def start(**extra) -> Proc:
        env = process_env(connection.settings_dict["NAME"], **extra)
        proc = Proc(
            [str(BIN / "celery"), "-A", "conductor", "beat", "-l", "info"],
            env,
            tmp_path / f"beat{len(started)}.log",
        )
        started.append(proc)
        proc.wait_for("beat: Starting")
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_until(predicate, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# --- a real browser: Debian's Chromium through Playwright ------------------------

CHROMIUM = "/usr/bin/chromium"
#: Screenshots for a human to look at.
RESULTS = ROOT / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium_browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; Django would otherwise
    # refuse ORM calls here (e.g. the transactional_db flush at teardown).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
