"""The import rules of docs/architecture.md, checked on every module of ours.

Each app may import only the apps below it; views never talk to QuickBooks themselves;
no app imports qbo_sandbox (QuickBooks' stand-in is reached over HTTP, as Intuit is). An
import inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# What each of our top-level packages may import of the others (docs/architecture.md,
# "What may import what"). Missing from a set means forbidden.
ALLOWED: dict[str, set[str]] = {
    "accounts": set(),
    "common": {"accounts"},
    "sync": {"accounts", "common"},
    "billing": {"accounts", "common"},
    "inventory": {"accounts", "common", "sync", "billing"},
    "reconciliation": {"accounts", "common", "sync", "billing", "inventory"},
    "history": {"accounts", "common", "sync", "billing", "inventory"},
    "dashboard": {
        "accounts",
        "common",
        "sync",
        "billing",
        "inventory",
        "reconciliation",
        "history",
        "notifications",
        "onboarding",
        "allowances",
        "unefemme",
    },
    "unefemme": {
        "accounts",
        "common",
        "sync",
        "billing",
        "inventory",
        "reconciliation",
        "history",
        "notifications",
        "onboarding",
        "allowances",
        "dashboard",
    },
    "notifications": {"accounts", "common", "sync", "billing", "inventory", "reconciliation"},
    "onboarding": {"accounts", "common", "sync", "inventory"},
    "allowances": {"accounts", "common", "sync", "billing", "inventory"},
    "qbo_sandbox": set(),
}
OURS = set(ALLOWED) | {"devtools", "tests", "bench"}
# The one file of unefemme/ that may start servers: the test settings start throw-away
# PostgreSQL and Redis with devtools (unefemme/settings_test.py's docstring says why).
EXCEPTIONS = {("unefemme/settings_test.py", "devtools")}


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((REPO_ROOT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            # "from sync import clients" names a module too.
            yield from ((node.lineno, f"{node.module}.{a.name}") for a in node.names)


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_app_imports_only_the_apps_below_it(package: str) -> None:
    broken = []
    for path in _modules(package):
        for line, module in _imports(path):
            top = module.split(".")[0]
            allowed = top not in OURS or top == package or top in ALLOWED[package]
            if not allowed and (_relative(path), top) not in EXCEPTIONS:
                broken.append(f"{_relative(path)}:{line} imports {module}")
    assert not broken, "\n".join(broken)


def _is_view_module(path: Path) -> bool:
    return path.name == "views.py" or "views" in path.parts[:-1]


def test_no_view_talks_to_quickbooks_itself() -> None:
    # Views parse, call a service and render; what talks to QuickBooks is sync's client,
    # behind services that own the retries, tokens and faults.
    broken = [
        f"{_relative(path)}:{line} imports {module}"
        for package in ALLOWED
        for path in _modules(package)
        if _is_view_module(path)
        for line, module in _imports(path)
        if module == "sync.clients" or module.startswith("sync.clients.")
    ]
    assert not broken, "\n".join(broken)


def test_the_rules_cover_every_package_of_ours() -> None:
    # A new top-level package must be placed in the rules (and in docs/architecture.md).
    packages = {
        p.name
        for p in REPO_ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith(".")
    }
    assert packages <= OURS, f"not in the import rules: {sorted(packages - OURS)}"


def test_the_checker_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    # The rules must not be dodged by importing late: sync once reached into inventory so.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from inventory.mapping import services\n")
    assert ("inventory.mapping") in {name for _, name in _imports(module)}
