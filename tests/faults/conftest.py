"""Fault tests reuse the real-process fixtures of the end-to-end tests."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import start_beat, start_worker  # noqa: F401 - fixtures

# Short leases and a fast sweeper, so a dead worker is noticed in seconds.
FAST = {"CONDUCTOR_ENGINE_LEASE_S": 3, "CONDUCTOR_ENGINE_SWEEP_INTERVAL_S": 1}


def _pg_cluster() -> list[str]:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("PostgreSQL is not managed by pg_ctlcluster on this machine")
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def postgres(action: str) -> None:
    subprocess.run(
        [*_pg_cluster(), action], check=True, capture_output=True, timeout=60
    )


REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def redis_stop() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed here")
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"],
                   capture_output=True, timeout=30)  # fmt: skip


def redis_start() -> None:
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(REDIS_START, check=True, capture_output=True, timeout=30)
    for _ in range(50):
        if subprocess.run(
            ["redis-cli", "ping"], capture_output=True
        ).stdout.strip() == (b"PONG"):
            return
        time.sleep(0.1)
    raise RuntimeError("redis did not come back")
