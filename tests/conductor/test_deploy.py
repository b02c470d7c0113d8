"""``manage.py check --deploy`` is clean with production settings (SPEC §11)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Qm2vN9pL4sT8wZ1cR6yB3kF5hJ0dG2aE7uI9oP4lK8nM1qW3zX6cV5bN2mA0s",
    "ALLOWED_HOSTS": "conductor.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "true",
    "CONDUCTOR_SECRETS_KEYS": "Qq8m1xWJ0f0hVtq7y8c6xQkq8yH3kq0cJ0mO3bq6y2E=",
}


def test_check_deploy_is_clean_with_production_variables():
    env = {**os.environ, **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
