"""Build cosell's API reference for plugin authors from the docstrings, a page per module (pdoc).

    python build_support/api_docs.py OUTPUT_FOLDER

Open ``OUTPUT_FOLDER/index.html``. The pages are built, not kept in the repository: they always say
what the installed code says.
"""

from __future__ import annotations

import sys
from pathlib import Path

API_MODULES = (
    "cosell",
    "cosell.hookspecs",
    "cosell.context",
    "cosell.computation",
    "cosell.records",
    "cosell.results",
    "cosell.periods",
    "cosell.money",
    "cosell.errors",
    "cosell.connector",
    "cosell.statements",
    "cosell.testing",
)
"""What a plugin imports: the hooks, what they receive and return, the helpers for money and periods,
the errors, the connector and statement types, and the testing tools."""


def build(output: Path) -> list[Path]:
    """Write the reference into ``output``; return the module pages written."""
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=True)
    pdoc.pdoc(*API_MODULES, output_directory=output)
    return [output / (name.replace(".", "/") + ".html") for name in API_MODULES]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pages = build(Path(sys.argv[1]))
    print(f"wrote {len(pages)} module pages; open {Path(sys.argv[1]) / 'index.html'}")
