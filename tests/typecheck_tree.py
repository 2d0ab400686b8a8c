"""Lay the source folders out under their import names (core/ as cosell/, connectors/ as cosell/connectors/,
...) with symlinks, so mypy can check the package as the import system sees it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"connectors": "connectors", "plugins": "plugins", "contrib": "contrib"}


def build(target: Path) -> Path:
    package = target / "cosell"
    package.mkdir(parents=True, exist_ok=True)
    for entry in (ROOT / "core").iterdir():
        if entry.name != "__pycache__":
            os.symlink(entry, package / entry.name)
    for name, folder in MAPPING.items():
        os.symlink(ROOT / folder, package / name)
    return target
