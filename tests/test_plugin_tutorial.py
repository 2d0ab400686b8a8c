"""The plugin tutorial in docs/plugins.md works as written: its files, laid out in an empty folder, make
a plugin whose own tests pass."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins.md"


def tutorial_files() -> dict[str, str]:
    """Each code block of the page whose first line is a comment naming a file: that file's text."""
    files = {}
    for block in re.findall(r"```(?:python|toml)\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S):
        first, _, rest = block.partition("\n")
        named = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first.strip())
        if named:
            files[named.group(1)] = rest if named.group(1).endswith(".py") else block
    return files


def test_the_tutorial_names_the_package_files_it_lays_out():
    assert set(tutorial_files()) == {"pyproject.toml", "cosell_certs/plugin.py", "tests/test_certs.py"}


def test_the_tutorials_plugin_passes_the_tutorials_tests(tmp_path):
    package = tmp_path / "cosell-certs"
    for name, text in tutorial_files().items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    (package / "cosell_certs" / "__init__.py").write_text("")
    (package / "cosell_certs" / "py.typed").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        env={"PYTHONPATH": str(package), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
