"""`make run` end to end: the embedded default (SQLite + filesystem broker), for real.

Starts ``scripts/run`` (what ``make run`` execs) with no DATABASE_URL / REDIS_URL /
SECRET_KEY / DEBUG, waits for ``/readyz``, checks the printed dashboard URL and demo
credentials (and that they really log in), runs a ``demo.noop`` job through the API and
the worker, then sends SIGTERM to the ``scripts/run`` process alone and checks that web,
worker and beat are all gone.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
READY_TIMEOUT_S = 60
JOB_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_proc(pid: str, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return b""


def _is_zombie(pid: str) -> bool:
    stat = _read_proc(pid, "stat")
    # "pid (comm) S ...": the state follows the last ")"; comm may contain spaces.
    return not stat or stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"


def _our_processes(var_dir: Path, port: int) -> dict[int, str]:
    """Live processes started for this run: by inherited env or by command line."""
    env_marker = f"CONDUCTOR_VAR_DIR={var_dir}".encode()
    port_marker = f"CONDUCTOR_PORT={port}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if not pid.isdigit() or int(pid) == os.getpid() or _is_zombie(pid):
            continue
        environ = _read_proc(pid, "environ").split(b"\0")
        argv = [
            a.decode(errors="replace")
            for a in _read_proc(pid, "cmdline").split(b"\0")
            if a
        ]
        if (
            env_marker in environ
            or port_marker in environ
            or any(str(var_dir) in a for a in argv)
            or str(port) in argv
        ):
            found[int(pid)] = " ".join(argv)
    return found


def _kill_everything(proc: subprocess.Popen, var_dir: Path, port: int) -> None:
    """Last resort: SIGKILL the run's group and every process it left (honcho puts
    each child in its own session, so one killpg is not enough)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for _ in range(3):
        leftovers = _our_processes(var_dir, port)
        if not leftovers:
            break
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _log_tail(log_path: Path, lines: int = 60) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(proc, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"scripts/run exited with {proc.returncode} before /readyz answered:\n"
                f"{_log_tail(log_path)}"
            )
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    pytest.fail(
        f"/readyz not 200 within {READY_TIMEOUT_S}s (last: {last}):\n{_log_tail(log_path)}"
    )


def _login_works(base_url: str, username: str, password: str) -> None:
    """The printed demo credentials open the dashboard through the login form."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        page = client.get("/accounts/login/", params={"next": "/dashboard/"})
        assert page.status_code == 200
        token = client.cookies.get("csrftoken")
        assert token, "login page set no CSRF cookie"
        response = client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "next": "/dashboard/",
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        assert response.status_code == 302, (
            f"printed credentials {username!r} / {password!r} do not log in "
            f"(status {response.status_code})"
        )
        assert response.headers["location"] == "/dashboard/"
        dashboard = client.get("/dashboard/")
        assert dashboard.status_code == 200
        assert 'data-testid="jobs-total"' in dashboard.text


def _create_api_key(env: dict) -> str:
    result = subprocess.run(
        [
            str(PYTHON),
            "manage.py",
            "create_api_key",
            "--name",
            "e2e",
            "--scopes",
            "read,write",
        ],
        cwd=ROOT,
        env=env,  # no SECRET_KEY, no DEBUG: the .env make run wrote is enough
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, f"create_api_key printed nothing; stderr:\n{result.stderr}"
    key = lines[-1].strip()
    assert key and " " not in key, f"last line is not a bare key: {key!r}"
    return key


def _run_noop_job(base_url: str, key: str) -> None:
    headers = {"Authorization": f"Api-Key {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        created = client.post("/api/v2/jobs", json={"type": "demo.noop", "payload": {}})
        assert created.status_code == 201, created.text
        job_id = created.json()["data"]["id"]

        deadline = time.monotonic() + JOB_TIMEOUT_S
        data = {}
        while time.monotonic() < deadline:
            response = client.get(f"/api/v2/jobs/{job_id}")
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            if data["state"] in {"succeeded", "failed", "dead", "cancelled"}:
                break
            time.sleep(0.25)
        assert data.get("state") == "succeeded", f"job did not succeed: {data}"
        assert data["result"] == {"ok": True}
        assert data["attempts"] == 1


def test_make_run_serves_runs_a_job_and_stops_on_sigterm(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "run.log"

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    env_file = tmp_path / "dotenv"  # the checkout's own .env is left alone
    env.update(
        CONDUCTOR_VAR_DIR=str(var_dir),
        CONDUCTOR_ENV_FILE=str(env_file),
        HOST="127.0.0.1",
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )

    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, base_url, log_path)

        output = log_path.read_text(errors="replace")
        assert f"Dashboard:  http://127.0.0.1:{port}/dashboard/" in output, output
        assert "embedded SQLite" in output and "broker: filesystem" in output, output
        credentials = re.search(r"^\s*Log in as:\s+(\S+) / (\S+)\s*$", output, re.M)
        assert credentials, f"no demo login line in output:\n{output}"
        _login_works(base_url, credentials.group(1), credentials.group(2))

        # Embedded means embedded: the database and broker live in CONDUCTOR_VAR_DIR.
        assert (var_dir / "conductor.sqlite3").is_file()
        assert (var_dir / "broker" / "queue").is_dir()

        assert env_file.read_text().count("\nSECRET_KEY=") == 1
        _run_noop_job(base_url, _create_api_key(env))

        # Web, worker and beat are running as Celery's / daphne's own programs.
        running = _our_processes(var_dir, port)
        commands = list(running.values())
        assert any("daphne" in c and str(port) in c for c in commands), commands
        assert any("celery -A conductor worker" in c for c in commands), commands
        assert any("celery -A conductor beat" in c for c in commands), commands

        # SIGTERM to the scripts/run process alone must stop everything.
        os.kill(proc.pid, signal.SIGTERM)
        stop_deadline = time.monotonic() + STOP_TIMEOUT_S
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"scripts/run still running {STOP_TIMEOUT_S}s after SIGTERM:\n"
                f"{_log_tail(log_path)}"
            )
        leftovers = _our_processes(var_dir, port)
        while leftovers and time.monotonic() < stop_deadline:
            time.sleep(0.25)
            leftovers = _our_processes(var_dir, port)
        assert not leftovers, (
            f"processes left after SIGTERM (run exited {proc.returncode}): {leftovers}\n"
            f"{_log_tail(log_path)}"
        )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base_url}/healthz", timeout=2)
    finally:
        _kill_everything(proc, var_dir, port)
        sys.stdout.write(
            f"\n--- scripts/run output (tail) ---\n{_log_tail(log_path, 30)}\n"
        )
