"""Reading the environment for ``conductor.settings``: typed values whose errors are
collected, not raised.

A value that cannot be parsed does not raise at import (that would be a stack trace
before anything can explain it); it is recorded in ``errors`` under the variable's
name, the default is used, and the system checks (``conductor.checks``) stop start-up
with a message naming the variable.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_DB_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "sqlite"}


class ConfigReader:
    def __init__(self, dotenv: Path):
        self.env = environ.Env()
        self.env.read_env(dotenv, overwrite=False)
        self.errors: dict[str, str] = {}

    def typed(self, name, parse, default):
        """Read ``name`` with ``parse``; a bad value is remembered, the default used."""
        try:
            return parse(name, default=default)
        except Exception as exc:
            raw = self.env.str(name, "")
            self.errors[name] = f"cannot parse {raw!r}: {exc}"
            return default

    def positive_int(self, name, default):
        return self._positive(name, self.typed(name, self.env.int, default), default,
                              "a positive integer")  # fmt: skip

    def positive_float(self, name, default):
        return self._positive(name, self.typed(name, self.env.float, default), default,
                              "a positive number")  # fmt: skip

    def _positive(self, name, value, default, what):
        if value <= 0 and name not in self.errors:
            self.errors[name] = f"must be {what}, got {value}"
            return default
        return value

    def strict_bool(self, name, default):
        """Like ``env.bool`` but a typo (``DEBUG=ture``) is an error, not False."""
        raw = self.env.str(name, default=str(default)).strip().lower()
        if raw not in _TRUE | _FALSE:
            raise ValueError(f"use one of {', '.join(sorted(_TRUE | _FALSE - {''}))}")
        return raw in _TRUE

    def ports(self, name, default):
        """A comma list of TCP ports (1-65535)."""
        raw = self.env.list(name, default=[str(port) for port in default])
        ports = sorted({int(port) for port in raw})
        if not ports or not all(0 < port < 65536 for port in ports):
            raise ValueError("ports are whole numbers from 1 to 65535")
        return ports

    def database(self, url: str) -> dict:
        """Django's DATABASES entry for ``url`` (PostgreSQL or SQLite)."""
        scheme = urlsplit(url).scheme
        if scheme not in _DB_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}; use postgres:// or sqlite://"
            )
        config = self.env.db_url_config(url)
        if config["ENGINE"].endswith("sqlite3"):
            if config["NAME"] != ":memory:":
                Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
            config["OPTIONS"] = {
                # Web, worker and beat write side by side: WAL + IMMEDIATE + a wait.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            }
        else:
            config["CONN_MAX_AGE"] = 60
            config["CONN_HEALTH_CHECKS"] = True
            config.setdefault("OPTIONS", {})["connect_timeout"] = 5
            test_name = self.env.str("CONDUCTOR_TEST_DB_NAME", default=None)
            config["TEST"] = {"NAME": test_name}
        return config
