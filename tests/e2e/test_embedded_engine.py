"""The engine on the embedded SQLite database (the single-writer paths of `make run`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_engine_paths_on_sqlite(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(CONDUCTOR_VAR_DIR=str(tmp_path), DEBUG="true")
    result = subprocess.run(
        [sys.executable, "tests/e2e/embedded_scenario.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    states = json.loads(result.stdout.strip().splitlines()[-1])
    assert states["many"] == ["succeeded"]
    assert states["flaky"] == "dead" and states["dead_letters"] == 2
    assert states["breaker"] == "open" and states["blocked"] == "parked"
    assert states["child"] == "succeeded"  # released by its dependency, then ran
    assert states["reclaimed"] == 2 and states["lease_expired_events"] == 2
    assert 0.9 <= states["reclaimed_backoff_s"] <= 1.1  # retried after its backoff
    assert states["put_back"] == ["pending", 0, 0]  # never reached: no attempt used
    total = states["jobs"]
    assert total == 156
    assert states["success_attempts"] == total - 3  # not the two flaky, not the parked
    assert states["submitted_events"] == total
    assert states["succeeded_events"] == total - 3
    assert states["ready_events"] == 1
    assert (tmp_path / "conductor.sqlite3").is_file()
