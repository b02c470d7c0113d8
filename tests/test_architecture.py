"""The house holds: one-way layers, pure modules that load only the standard library,
no imports hidden inside functions, no module grown past ~450 lines.

The layers and the pure set are defined once, in ``pyproject.toml``
(``[tool.importlinter]``); docs/architecture.md draws them.
"""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("conductor", "recovery", "scheduling", "webhooks", "dashboard")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["id"]: contract for contract in CONFIG["contracts"]}
LAYERS = [
    [name.strip() for name in layer.split(":")]
    for layer in CONTRACTS["layers"]["layers"]
]
PURE = CONTRACTS["pure"]["source_modules"]
MAX_LINES = 450

# Imports inside functions that stay, each for a reason (docs/decisions.md):
# Celery tasks import their service in the body (DESIGN §3: tasks stay thin and
# load nothing until they run); Django wants signal and check registration in
# AppConfig.ready; the system check runner imports django to set it up.
ALLOWED_INNER = {
    ("conductor/apps.py", "conductor"),
    ("conductor/tasks.py", "conductor"),
    ("conductor/tasks.py", "conductor.engine.run"),
    ("conductor/tasks.py", "conductor.engine.sweep"),
    ("conductor/tasks.py", "conductor.engine.dependents"),
    ("conductor/tasks.py", "conductor.engine.retention"),
    ("conductor/tasks.py", "conductor.services"),
    ("recovery/tasks.py", "recovery.services"),
    ("scheduling/tasks.py", "scheduling.services"),
}


def modules() -> list[tuple[str, Path]]:
    """Every project module (migrations aside) with its path."""
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((name.removesuffix(".__init__"), path))
    return found


def test_the_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_every_module_sits_in_exactly_one_layer():
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed))
    unplaced = []
    for name, path in modules():
        homes = [p for p in placed if name == p or name.startswith(p + ".")]
        if len(homes) > 1:
            unplaced.append(f"{name}: in {homes}")
        elif not homes and _has_code(path):
            unplaced.append(f"{name}: in no layer")
    assert unplaced == []


def _has_code(path: Path) -> bool:
    """More than a docstring (package markers need no layer)."""
    body = ast.parse(path.read_text()).body
    return any(not isinstance(node, ast.Expr) for node in body)


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_only_the_standard_library(module):
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    loaded = result.stdout.split()
    foreign = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and name not in PURE
        and not any(p.startswith(name + ".") for p in PURE)  # their packages
    ]
    assert foreign == []


def test_no_import_hides_inside_a_function():
    hidden = []
    for _name, path in modules():
        relative = path.relative_to(ROOT).as_posix()
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                target = _project_import(node)
                if target and (relative, target) not in ALLOWED_INNER:
                    hidden.append(f"{relative}:{node.lineno}: {target}")
    assert hidden == []


def _project_import(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom) and node.module:
        name = node.module
    elif isinstance(node, ast.Import):
        name = node.names[0].name
    else:
        return None
    return name if name.split(".")[0] in APPS else None


def test_no_module_is_over_450_lines():
    long = [
        f"{path.relative_to(ROOT)}: {count}"
        for _name, path in modules()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []
