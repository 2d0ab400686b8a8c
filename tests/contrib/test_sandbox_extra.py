"""Without the `sandbox` extra, cosell still starts, and the sandbox and the demo say what to install."""

import subprocess
import sys

import pytest

WITHOUT_TRUSTME = "import sys; sys.modules['trustme'] = None\nfrom cosell.cli import main\nmain()\n"


@pytest.mark.parametrize("command", [["sandbox"], ["demo", "--folder", "demo"]])
def test_a_sandbox_command_without_the_extra_is_a_config_error_naming_it(command, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRUSTME, *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "the sandbox cannot start" in result.stderr and "pip install 'cosell[sandbox]'" in result.stderr
    assert not (tmp_path / "demo").exists()


def test_the_command_line_starts_without_the_extra(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRUSTME, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0 and "sandbox" in result.stdout and "demo" in result.stdout
