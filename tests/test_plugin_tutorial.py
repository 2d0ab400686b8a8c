"""The plugin tutorial in docs/plugins.md works as written: its files, laid out in an empty folder, make
a plugin whose own tests pass."""

import re
import subprocess
import sys
import zipfile
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


def lay_out(folder: Path) -> Path:
    """The tutorial's package, laid out in ``folder`` as its file tree shows."""
    package = folder / "cosell-certs"
    for name, text in tutorial_files().items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    (package / "cosell_certs" / "__init__.py").write_text("")
    (package / "cosell_certs" / "py.typed").write_text("")
    return package


def test_the_tutorials_plugin_passes_the_tutorials_tests(tmp_path):
    package = lay_out(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        env={"PYTHONPATH": str(package), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout


def test_the_tutorials_package_builds_a_wheel_cosell_finds_by_its_entry_point(tmp_path):
    package = lay_out(tmp_path)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(package)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("cosell_certs-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read("cosell_certs-0.1.0.dist-info/entry_points.txt").decode()
    assert {"cosell_certs/plugin.py", "cosell_certs/py.typed"} <= set(names)
    assert "[cosell]\ncerts = cosell_certs.plugin" in entry_points
