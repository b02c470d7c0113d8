"""Shared helpers for the benchmarks: the bench environment and real child processes.

Every benchmark runs against its own PostgreSQL database (``conductor_bench``) and
its own Redis database number (``/9``), never the development or test ones.
``scripts/bench`` creates and migrates the database and flushes the Redis database
before running; the helpers here only point this process and its children at them.

Child processes (Celery workers, gunicorn) start in their own session, so each is a
process group: stopping one signals the whole group (the main process and every pool
child) and waits until no member is left.
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_DATABASE_URL = os.environ.get(
    "CONDUCTOR_BENCH_DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/conductor_bench",
)
BENCH_REDIS_URL = os.environ.get(
    "CONDUCTOR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"
)
SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-0123"
LOG_DIR = ROOT / "var" / "bench" / "logs"


def configure() -> dict:
    """Point this process at the bench database and Redis; the env for children."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(
        {
            "DATABASE_URL": BENCH_DATABASE_URL,
            "REDIS_URL": BENCH_REDIS_URL,
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
            "CONDUCTOR_VAR_DIR": str(ROOT / "var" / "bench"),
            "DJANGO_SETTINGS_MODULE": "conductor.settings",
            "PYTHONPATH": str(ROOT),
        }
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return dict(os.environ)


def django_setup() -> None:
    import django

    configure()
    django.setup()
    from django.db import connection

    if connection.settings_dict["NAME"] != urlsplit(BENCH_DATABASE_URL).path[1:]:
        raise SystemExit("refusing to run: not the bench database")


def psycopg_conninfo() -> dict:
    u = urlsplit(BENCH_DATABASE_URL)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "password": u.password,
        "dbname": u.path.lstrip("/"),
    }


def emit(line: dict) -> None:
    print(json.dumps(line), flush=True)


def note(message: str) -> None:
    """Progress on stderr, so stdout stays one JSON line."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def load_1m() -> float:
    """The 1-minute load average: other work on the machine skews every figure."""
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes ------------------------------------------------------------------------

_RUNNING: list["Proc"] = []


def _stop_all(*_args) -> None:
    for proc in list(_RUNNING):
        proc.stop()


atexit.register(_stop_all)


def _on_signal(signum, _frame):
    _stop_all()
    raise SystemExit(128 + signum)


for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, _on_signal)


def group_members(pgid: int) -> list[int]:
    """Every live process in process group ``pgid`` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces), ")" closes it.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            found.append(int(entry))
    return found


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Proc:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict):
        self.name = name
        self.log = LOG_DIR / f"{name}.log"
        self._handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.popen.pid
        self.rss_peak: dict[int, int] = {}  # pid -> max VmRSS (KiB)
        self.rss_total_peak = 0
        _RUNNING.append(self)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.output()[-3000:]
        self.stop()
        raise SystemExit(f"{self.name}: {text!r} not seen; output:\n{tail}")

    def sample_rss(self) -> None:
        total = 0
        for pid in group_members(self.pgid):
            kib = rss_kib(pid)
            if kib is None:
                continue
            total += kib
            self.rss_peak[pid] = max(self.rss_peak.get(pid, 0), kib)
        self.rss_total_peak = max(self.rss_total_peak, total)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the group, wait for every member to go, SIGKILL what is left."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            if not group_members(self.pgid):
                break
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.popen.poll()  # reap the leader
                if not group_members(self.pgid):
                    break
                time.sleep(0.05)
        self.popen.poll()
        self._handle.close()
        left = group_members(self.pgid)
        if left:
            raise SystemExit(f"{self.name}: processes left behind: {left}")


def celery_worker(
    name: str,
    app: str,
    queue: str,
    env: dict,
    *,
    concurrency: int = 2,
    loglevel: str = "info",
    extra: tuple[str, ...] = (),
) -> Proc:
    args = [
        str(BIN / "celery"),
        "-A",
        app,
        "worker",
        "-l",
        loglevel,
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]
    return Proc(name, args, env)


def mib(kib: int) -> float:
    return round(kib / 1024, 1)
