"""`manage.py demo` and the make targets around it: what the person who runs them is told."""

import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from calls.models import BluAccount, Task

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.BLUDASH_SANDBOX_ENABLED = True
    return tmp_path


def test_demo_sets_up_the_world_and_says_how_to_sign_in_but_starts_no_server(db, demo_dir):
    out = StringIO()
    call_command("demo", stdout=out)

    said = out.getvalue()
    password = (demo_dir / "demo-login").read_text().strip()
    assert f"Sign in as 'demo' with password {password!r}" in said
    assert BluAccount.objects.get().name == "demo" and Task.objects.count() >= 3
    # It starts nothing: `make demo` starts the processes, and says so itself.
    assert "Ctrl-C" not in said and "Open http" not in said


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_only_make_demo_which_starts_the_web_server_says_ctrl_c_stops_it():
    make = shutil.which("make")
    assert make is not None

    def recipe(target: str) -> str:
        # -n: print the commands, run none.
        return subprocess.run(  # noqa: S603 - a fixed command line
            [make, "-n", target],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    demo, screenshots = recipe("demo"), recipe("screenshots")
    assert "Ctrl-C stops" in demo and "honcho" in demo.split("Ctrl-C stops", 1)[1]
    assert "Ctrl-C" not in screenshots and "honcho" not in screenshots
