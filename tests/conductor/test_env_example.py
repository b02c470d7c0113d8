""".env.example lists every variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_variable_is_in_env_example():
    settings = (ROOT / "conductor" / "settings.py").read_text()
    read = set(
        re.findall(
            r'(?:_typed|_positive_int|_positive_float|env\.str)\(\s*"([A-Z][A-Z0-9_]+)"',
            settings,
        )
    )
    listed = set(
        re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert read, "the pattern found no variables: the test would pass vacuously"
    assert read - listed == set()
