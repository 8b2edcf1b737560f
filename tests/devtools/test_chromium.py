"""make test on a machine without Chromium: installed when it may be, else one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools import chromium

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_present_chromium_needs_nothing(tmp_path: Path) -> None:
    binary = tmp_path / "chromium"
    binary.touch()
    calls: list[list[str]] = []

    def apt_get(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    assert chromium.ensure(binary, can_install=True, run=apt_get) is None
    assert calls == []


def test_without_root_it_names_the_one_package_to_install(tmp_path: Path) -> None:
    problem = chromium.ensure(tmp_path / "chromium", can_install=False)
    assert problem is not None
    assert "sudo apt-get install -y chromium" in problem
    assert "\n" not in problem


def test_as_root_it_installs_debians_package(tmp_path: Path) -> None:
    binary = tmp_path / "chromium"
    calls: list[list[str]] = []

    def apt_get(argv: list[str]) -> int:
        # apt-get is the one thing faked: installing a browser is not what this tests.
        calls.append(argv)
        if argv[:2] == ["apt-get", "install"]:
            binary.touch()
        return 0

    assert chromium.ensure(binary, can_install=True, run=apt_get) is None
    assert calls == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]


def test_a_failed_install_still_says_what_to_do(tmp_path: Path) -> None:
    problem = chromium.ensure(tmp_path / "chromium", can_install=True, run=lambda argv: 100)
    assert problem is not None and problem.startswith("apt-get could not install chromium.")


def test_the_test_command_stops_first_when_chromium_is_missing(tmp_path: Path) -> None:
    # As a non-root user would see it: the first step stops, naming the package, before uv,
    # ruff or pytest run. (As root, the same step would install it.)
    env = {**os.environ, "UNEFEMME_CHROMIUM": str(tmp_path / "no-chromium")}
    script = (
        "import os, runpy, sys; os.geteuid = lambda: 1000; "
        "sys.argv = ['chromium']; runpy.run_module('devtools.chromium', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == chromium.missing_message(tmp_path / "no-chromium")
    test_sh = (REPO_ROOT / "devtools" / "test.sh").read_text()
    assert test_sh.index("-m devtools.chromium") < test_sh.index('"${uv[@]}" sync')
