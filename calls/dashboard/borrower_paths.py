"""A borrower's key in a URL path: the lender's text, any character, slashes included.

A browser resolves a path segment `.` or `..` (and their %2E spellings) before it sends the
request, so the page of borrower `..` would be /borrowers/ and that of `../tasks` the Tasks
page. Such a segment is written with a `~` before it (`~..`), and a segment that is already
tildes before one or two dots gains one more, so every key reads back as itself."""

from __future__ import annotations

import re

# Tildes then one or two dots: the segments that are written with one tilde more.
_DOTTED = re.compile(r"~*\.{1,2}")
_ESCAPED = re.compile(r"~+\.{1,2}")


class BorrowerKeyConverter:
    # Any character: a key stored before control characters were refused still has a page.
    regex = r"(?s:.+)"

    def to_python(self, value: str) -> str:
        return "/".join(part[1:] if _ESCAPED.fullmatch(part) else part for part in value.split("/"))

    def to_url(self, value: str) -> str:
        return "/".join(
            "~" + part if _DOTTED.fullmatch(part) else part for part in value.split("/")
        )
