"""No text from Blu becomes a formula in an export, whatever hides the formula sign: a search
across every Unicode category, read back the way a spreadsheet user's tools read the files. The CSV
puts an apostrophe before such text; the XLSX keeps the text as it is, in a cell marked to stay
text."""

from __future__ import annotations

import csv
import io
import os
import unicodedata

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from calls.dashboard import export
from tests.dashboard.test_export import table_for
from tests.helpers import make_call

# BLUDASH_HYPOTHESIS_SCALE=20 runs twenty times as many examples, for a search by hand.
SCALE = int(os.environ.get("BLUDASH_HYPOTHESIS_SCALE", "1"))
SIGNS = "=+-@\uff1d\uff0b\uff0d\uff20"  # and their full-width forms
# The columns that carry Blu's text, as the export names them.
BLU_TEXT = {"call_id": "Call", "phone": "Phone", "name": "Name", "desc": "Description"}


def skipped_before_a_formula(char: str) -> bool:
    """What a spreadsheet may pass over before it sees a formula sign: white space, control and
    format characters (zero-width spaces, a byte order mark, direction marks)."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def runs_as_formula(text: str) -> bool:
    if text[:1] in ("\t", "\r"):
        return True
    visible = next((char for char in text if not skipped_before_a_formula(char)), "")
    return visible != "" and visible in SIGNS


# Any character but a lone surrogate (no UTF-8 holds one) or NUL (the record reader refuses both:
# neither reaches a stored call).
any_char = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
hiding = st.text(
    st.one_of(
        st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"], exclude_characters="\x00"),
        st.sampled_from(" \t\r\n\xa0\u200b\u2060\ufeff\u3000"),
    ),
    max_size=4,
)
hostile = st.builds(
    lambda before, sign, after: before + sign + after,
    hiding,
    st.sampled_from(["", *SIGNS, "\t", "\r"]),
    st.text(any_char, max_size=12),
)
texts = st.one_of(hostile, st.text(any_char, max_size=16))


def csv_row() -> dict[str, str]:
    response = export.csv_response(table_for({}))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    return dict(zip(header, row, strict=True))


def xlsx_row() -> dict[str, tuple[object, str, bool]]:
    """Each cell's value, openpyxl's type for it ("f": a formula) and whether it is marked to
    stay text (its quote prefix)."""
    response = export.xlsx_response(table_for({}))
    try:
        book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    finally:
        response.file_to_stream.close()  # close() would also end the request (and its connection)
    header, row = book.active.iter_rows()
    return {
        h.value: (cell.value, cell.data_type, bool(cell.quotePrefix))
        for h, cell in zip(header, row, strict=True)
    }


def recovered(exported: str, original: str) -> bool:
    """The original text, or it made inert by one leading apostrophe because it ran as one."""
    return exported == original or (exported == "'" + original and runs_as_formula(original))


def xml_line_ends(text: str) -> str:
    """Every line end as XML reads it: "\\n" (XML 1.0, section 2.11)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.django_db
@settings(
    max_examples=120 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.fixed_dictionaries({field: texts for field in BLU_TEXT}))
def test_no_text_from_blu_exports_as_a_formula_and_each_reads_back_whole(bare_task, values):
    values["call_id"] = values["call_id"][:64] or "c"
    with transaction.atomic():
        make_call(bare_task, **values)
        from_csv, from_xlsx = csv_row(), xlsx_row()
        transaction.set_rollback(True)

    for field, column in BLU_TEXT.items():
        original = values[field]
        assert not runs_as_formula(from_csv[column]), (column, from_csv[column])
        assert recovered(from_csv[column], original), (column, from_csv[column], original)

        value, kind, stays_text = from_xlsx[column]
        value = value or ""  # openpyxl reads an empty cell as None
        # XML cannot hold most control characters (they are dropped); the rest is kept as it
        # is, marked to stay text where it would run.
        kept = ILLEGAL_CHARACTERS_RE.sub("", original)
        assert kind != "f", (column, value)
        assert xml_line_ends(value) == xml_line_ends(kept), (column, value, original)
        assert stays_text or not runs_as_formula(value), (column, value)
