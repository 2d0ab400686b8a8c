"""cosell's build backend: setuptools', with an editable install that type checkers can read.

setuptools serves a package whose folder is not named as it imports (``cosell`` lives in ``core/``)
through an import hook in the editable install, which mypy, Pylance and other static tools do not run:
after ``pip install -e .`` they cannot find ``cosell``. This backend adds one plain path entry to the
editable wheel, ``build_support/static``, where ``cosell`` is a link to ``core/``: static tools
resolve ``cosell`` and its modules from there (a module added later is seen at once), and at run time
the same entry serves ``cosell`` while setuptools' hook still serves ``cosell.connectors``,
``cosell.plugins`` and ``cosell.contrib`` from their folders. Wheels and sdists are setuptools' own.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Any

from setuptools import build_meta  # type: ignore[import-untyped]
from setuptools.build_meta import *  # type: ignore[import-untyped]  # noqa: F403  (every hook, unchanged)

STATIC = Path(__file__).resolve().parent / "static"
PTH = "__editable__.cosell_static.pth"


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    name: str = build_meta.build_editable(wheel_directory, config_settings, metadata_directory)
    add_path_entry(Path(wheel_directory) / name, PTH, f"{STATIC}\n")
    return name


def add_path_entry(wheel: Path, name: str, text: str) -> None:
    """Add a ``.pth`` file to a wheel, with its line in the wheel's RECORD."""
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(wheel) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(name, data)
        for info, content in members:
            if info.filename.endswith(".dist-info/RECORD"):
                content += f"{name},sha256={digest},{len(data)}\n".encode()
            out.writestr(info, content)
