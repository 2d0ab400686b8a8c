"""The package stays ruff-clean, ruff-formatted and mypy-clean (strict): checked here so CI holds every change
to it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from typecheck_tree import ROOT, build

SOURCES = ["core", "connectors", "plugins", "contrib", "tests", "bench", "build_support"]


def _tool(name):
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        message = f"{name} is not installed (pip install -e '.[dev]')"
        if _in_ci():
            # CI must check the code, not skip the check: a lost dev dependency fails the build.
            pytest.fail(message)
        pytest.skip(message)
    return path


def _in_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="ruff is not installed"):
        _tool("ruff")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="ruff is not installed"):
        _tool("ruff")


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", *SOURCES], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_would_change_nothing():
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", *SOURCES], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing(tmp_path):
    build(tmp_path)
    result = subprocess.run(
        [
            _tool("mypy"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".cache"),
            "-p",
            "cosell",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
