"""Lay the source folders out under their import names (core/ as cosell/, connectors/ as cosell/connectors/,
...) with symlinks, so mypy can check the package as the import system sees it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"connectors": "connectors", "plugins": "plugins", "contrib": "contrib"}


def _link_package(source: Path, target: Path) -> None:
    """Link a package's modules and subpackages; folders that are not importable names (the example
    distributions in contrib/, such as cosell-nps) are separate projects and are left out."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name == "__pycache__" or (entry.is_dir() and not entry.name.isidentifier()):
            continue
        os.symlink(entry, target / entry.name)


def build(target: Path) -> Path:
    package = target / "cosell"
    _link_package(ROOT / "core", package)
    for name, folder in FOLDERS.items():
        _link_package(ROOT / folder, package / name)
    return target
