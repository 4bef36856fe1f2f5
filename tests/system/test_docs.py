"""The README and the code's docstrings against the repository: every document they send a
reader to is in it, and every variable settings.py reads is in the README's settings table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/system/ is two below it
README = (ROOT / "README.md").read_text()


def our_texts() -> dict[str, str]:
    files = [ROOT / "README.md", ROOT / "tests" / "README.md", ROOT / "bench" / "README.md"]
    for package in ("bludash", "calls", "tests", "bench"):
        files += (ROOT / package).rglob("*.py")
    return {str(path.relative_to(ROOT)): path.read_text() for path in files}


def test_every_document_named_is_in_the_repository():
    missing = [
        f"{where} names {document}"
        for where, text in our_texts().items()
        for document in sorted(set(re.findall(r"[\w./-]+/[\w.-]+\.md\b", text)))
        if not (ROOT / document).is_file()
    ]
    assert missing == []


def test_every_setting_read_from_the_environment_is_in_the_readme():
    settings_source = (ROOT / "bludash" / "settings.py").read_text()
    names = set(re.findall(r"env_[a-z_]+\(\s*\"([A-Z][A-Z0-9_]+)\"", settings_source))
    table = README.split("## Settings (environment variables)", 1)[1]

    assert len(names) > 40  # the pattern above still finds them
    assert sorted(name for name in names if f"`{name}`" not in table) == []
