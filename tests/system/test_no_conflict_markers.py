"""No merge's conflict markers left where a page or a program would show them: a borrower page
once shipped `<<<<<<< HEAD` between its sections, and no test of the page's content noticed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


def test_no_template_code_or_test_holds_a_conflict_marker():
    found = [
        str(path.relative_to(ROOT))
        for folder in ("templates", "calls", "bludash", "static", "tests", "bench", "deploy")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".html", ".py", ".css", ".js", ".txt", ".conf", ".service"}
        and MARKER.search(path.read_text(errors="replace"))
    ]
    assert found == []
