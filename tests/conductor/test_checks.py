"""Bad configuration stops start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")
    }
    base.update(CONDUCTOR_VAR_DIR=str(tmp_path), SECRET_KEY="k" * 50)
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"CONDUCTOR_ENGINE_BATCH_SIZE": "0"}, "CONDUCTOR_ENGINE_BATCH_SIZE"),
        (
            {"CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES": "-5"},
            "CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES",
        ),
        ({"CONDUCTOR_ENGINE_LEASE_S": "soon"}, "CONDUCTOR_ENGINE_LEASE_S"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"SECRET_KEY": None, "DEBUG": "false"}, "SECRET_KEY"),
        ({"CONDUCTOR_RETRY_STRATEGY": "random"}, "CONDUCTOR_RETRY_STRATEGY"),
        ({"CONDUCTOR_RETRY_JITTER": "3"}, "CONDUCTOR_RETRY_JITTER"),
        ({"CONDUCTOR_RETRY_MAX_DELAY_MS": "500"}, "CONDUCTOR_RETRY_MAX_DELAY_MS"),
    ],
)
def test_bad_variable_fails_the_check_naming_it(tmp_path, env, named):
    result = _check(tmp_path, **env)
    assert result.returncode != 0
    assert f"{named}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_good_configuration_passes(tmp_path):
    result = _check(tmp_path)
    assert result.returncode == 0, result.stderr


def test_missing_secret_key_is_fine_in_debug(tmp_path):
    assert _check(tmp_path, SECRET_KEY=None, DEBUG="true").returncode == 0


def test_the_worker_refuses_to_start_on_bad_configuration(tmp_path):
    base = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")
    }
    base.update(CONDUCTOR_VAR_DIR=str(tmp_path), CONDUCTOR_ENGINE_BATCH_SIZE="0")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "conductor",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "nothing",
        ],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CONDUCTOR_ENGINE_BATCH_SIZE" in result.stdout + result.stderr
