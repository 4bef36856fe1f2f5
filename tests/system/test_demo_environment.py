"""`make demo`'s processes read their settings from the environment alone, as `migrate` and
`demo` before them do: a `.env` file (say, a copy of .env.example) is read by none of them."""

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it
BIN = Path(sys.executable).parent


def demo_commands() -> list[list[str]]:
    """The commands `make demo` runs, as make prints them without running them."""
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],  # noqa: S607 (make from PATH)
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [shlex.split(line) for line in printed.splitlines() if line.strip()]


def test_the_demos_processes_read_no_env_file(tmp_path):
    [honcho] = [command for command in demo_commands() if Path(command[0]).name == "honcho"]
    # The same honcho command line, in a folder holding a .env and one process that prints what
    # it was given, in place of the demo's four.
    (tmp_path / ".env").write_text("BLUDASH_PROBE=from-the-env-file\n")
    probe = f"{sys.executable} -c \"import os; print('probe:', os.environ.get('BLUDASH_PROBE'))\""
    (tmp_path / "Procfile.demo").write_text(f"probe: {probe}\n")
    honcho[0] = str(BIN / "honcho")

    result = subprocess.run(  # noqa: S603 (the Makefile's own command line)
        honcho, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert "probe: None" in result.stdout, result.stdout + result.stderr
    assert "from-the-env-file" not in result.stdout
