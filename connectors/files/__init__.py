"""The ``files`` connector: records from a folder of CSV files, write-back to CSV files.

It needs no credentials, so it is cosell's default and the way to try a program on exported data.
See docs/csv.md for the files and their columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cosell.connector import ConnectorSpec
from cosell.hookspecs import hookimpl

from .reader import read_folder
from .writer import FilesConnector

__all__ = ["FilesConnector", "cosell_register_connectors", "read_folder"]


def _files_connector(options: Mapping[str, Any]) -> FilesConnector:
    return FilesConnector.from_options(options)


@hookimpl
def cosell_register_connectors(register: Callable[[ConnectorSpec], None]) -> None:
    register(
        ConnectorSpec(
            name="files",
            factory=_files_connector,
            description="CSV files: reads an --input folder, writes fields to an --output folder",
            input="the folder of CSV exports",
            output="where accounts.csv and deals.csv are written",
            default_for=("run", "explain", "compare"),
        )
    )
