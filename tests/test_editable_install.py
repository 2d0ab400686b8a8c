"""After the README's development install (``pip install -e .``), type checkers see cosell: mypy checks a
plugin against cosell's own types, the way a plugin author's editor does."""

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = """\
from decimal import Decimal

from pydantic import BaseModel

from cosell import hookimpl
from cosell.context import PartnerFacts, RunContext
from cosell.results import MetricDefinition


class TinySettings(BaseModel):
    factor: Decimal = Decimal(1)


@hookimpl
def cosell_metric_definitions() -> list[MetricDefinition]:
    return [MetricDefinition("tiny", "deals times a factor")]


@hookimpl
def cosell_metrics(partner: PartnerFacts, context: RunContext) -> dict[str, Decimal | None]:
    settings = context.setting("tiny", TinySettings)
    FACTOR
    return {"tiny": factor * len(partner.deals)}
"""


@pytest.fixture(scope="module")
def editable_env(tmp_path_factory):
    """A fresh environment holding the editable wheel cosell's build backend makes (what
    ``pip install -e .`` installs), and the development environment's libraries."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    tmp = tmp_path_factory.mktemp("editable")
    env = tmp / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # The README's install, without the dependencies (the development environment lends them below).
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # pydantic, pluggy and the rest from the development environment (after cosell's own entries)
    (site / "zz_dev_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # The module's mypy runs share one cache, outside the repository: the first checks cosell and the
    # libraries, the others only what they bring (each about a quarter of the time).
    return mypy, python, tmp


def _strict_mypy(editable_env, target: str, cwd: Path):
    """mypy --strict on ``target`` (run in ``cwd``) against the editable install, in the shared cache."""
    mypy, python, tmp = editable_env
    command = [mypy, "--strict", "--cache-dir", str(tmp / "mypy-cache"), "--python-executable", str(python)]
    return subprocess.run([*command, target], cwd=cwd, capture_output=True, text=True)


def _mypy(editable_env, source: str):
    folder = editable_env[2] / "plugin"
    folder.mkdir(exist_ok=True)
    (folder / "tiny_plugin.py").write_text(textwrap.dedent(source))
    return _strict_mypy(editable_env, "tiny_plugin.py", folder)


def test_mypy_checks_a_plugin_against_cosells_types_after_the_editable_install(editable_env):
    good = PLUGIN.replace(
        "    FACTOR\n", "    factor = settings.factor if settings is not None else Decimal(1)\n"
    )
    result = _mypy(editable_env, good)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_a_plugins_type_error_through_cosells_types(editable_env):
    bad = PLUGIN.replace("    FACTOR\n", "    factor = settings.factor\n")  # settings may be None
    result = _mypy(editable_env, bad)
    assert result.returncode == 1
    assert 'Item "None" of "TinySettings | None" has no attribute "factor"' in result.stdout
    assert "import-not-found" not in result.stdout


def test_the_editable_install_serves_cosell_and_its_rule_packages_at_run_time(editable_env):
    _, python, _ = editable_env
    result = subprocess.run(
        [
            python,
            "-c",
            "import cosell.cli, cosell.plugins.metrics, cosell.connectors.files; print(cosell.__file__)",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == ROOT / "core" / "__init__.py"


@pytest.mark.parametrize("package", ["cosell-nps/cosell_nps", "cosell-webhook/cosell_webhook"])
def test_the_example_plugins_type_check_strictly_against_cosell(editable_env, package):
    folder = ROOT / "contrib" / package
    result = _strict_mypy(editable_env, folder.name, folder.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sdist_carries_the_build_backend_a_wheel_is_built_with(tmp_path):
    import tarfile

    build = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import editable_backend; print(editable_backend.build_sdist({str(tmp_path)!r}))",
        ],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "build_support"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    with tarfile.open(tmp_path / build.stdout.strip().splitlines()[-1]) as sdist:
        names = sdist.getnames()
    assert any(name.endswith("/build_support/editable_backend.py") for name in names), names
