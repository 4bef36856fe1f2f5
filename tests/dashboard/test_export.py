"""Exporting the calls table: who may, and that the files hold exactly the filtered rows, in the
table's order, with its columns, however many pages they span."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tables2 import RequestConfig
from openpyxl import load_workbook

from calls.dashboard import export
from calls.dashboard.filters import CallFilter
from calls.dashboard.tables import CallTable
from calls.models import CallRecord
from tests.helpers import make_calls, run_background_export

URL = reverse("calls:call_list")
HEADER = [
    "Call",
    "Task",
    "Account",
    "Started (UTC)",
    "Name",
    "Phone",
    "Status",
    "Code",
    "Description",
    "Talk seconds",
    "Borrower",
    "Limits broken",
]


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def xlsx_rows(response) -> list[list]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    try:
        return [list(row) for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()


def xlsx_text_cells(response) -> dict[str, tuple[object, str, bool]]:
    """The first row's cells by header: value, openpyxl's type ("f": a formula) and whether the
    cell is marked to stay text (its "quote prefix", which shows no apostrophe)."""
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    header, row = list(book.active.iter_rows())[:2]
    return {
        h.value: (cell.value, cell.data_type, bool(cell.quotePrefix))
        for h, cell in zip(header, row, strict=True)
    }


def table_for(params: dict) -> CallTable:
    """The table the calls page would export for these query parameters."""
    request = RequestFactory().get(URL, params)
    filterset = CallFilter(request.GET, queryset=CallRecord.objects.all())
    assert filterset.is_valid(), filterset.errors
    return RequestConfig(request, paginate=False).configure(CallTable(filterset.qs))


# --- who may export ------------------------------------------------------------------------------


def test_managers_see_export_links_that_carry_the_filters(manager_client, synced):
    page = manager_client.get(URL, {"code": "PTP", "sort": "name"}).content.decode()

    start = (timezone.localdate() - timedelta(days=6)).isoformat()
    query = f"code=PTP&amp;sort=name&amp;started_after={start}"
    assert f'<a id="export-csv" href="?{query}&amp;_export=csv">Export CSV</a>' in page
    assert f'<a id="export-xlsx" href="?{query}&amp;_export=xlsx">Export XLSX</a>' in page


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_staff_who_craft_an_export_url_get_the_polite_refusal(staff_client, synced, export_format):
    response = staff_client.get(URL, {"_export": export_format})

    assert response.status_code == 403
    page = response.content.decode()
    assert "Your account may not do this" in page
    assert synced.calls.first().call_id not in page


def test_anonymous_visitors_cannot_export(client, synced):
    response = client.get(URL, {"_export": "csv"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- what the files hold -------------------------------------------------------------------------


def test_the_csv_holds_exactly_the_filtered_rows_of_every_page_in_table_order(
    manager_client, bare_task
):
    make_calls(bare_task, 120)
    CallRecord.objects.filter(duration__lt=10).update(code="PTP")

    response = manager_client.get(URL, {"talk_min": "5", "sort": "-duration", "_export": "csv"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="bludash-calls-\d{8}-\d{4}\.csv"',
        response["Content-Disposition"],
    )
    rows = csv_rows(response)
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == [f"c{n:03d}" for n in range(119, 4, -1)]
    first = rows[1]
    assert first[1:3] == ["777", "collections"]
    assert first[HEADER.index("Talk seconds")] == "119"


def test_the_xlsx_holds_the_same_rows_with_real_numbers_and_times(manager_client, synced, settings):
    settings.TIME_ZONE = "Asia/Colombo"
    params = {"code": ["PTP", "D00"], "_export": "xlsx"}

    response = run_background_export(manager_client, params)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert ".xlsx" in response["Content-Disposition"]
    rows = xlsx_rows(response)
    assert rows[0][3] == "Started (Asia/Colombo)"
    expected = list(synced.calls.filter(code__in=["PTP", "D00"]).order_by("-start_time", "-id"))
    assert [row[0] for row in rows[1:]] == [call.call_id for call in expected]
    colombo = ZoneInfo("Asia/Colombo")
    assert rows[1][3] == expected[0].start_time.astimezone(colombo).replace(tzinfo=None)
    assert rows[1][9] == expected[0].duration and isinstance(rows[1][9], int)


def test_status_labels_and_empty_values_export_cleanly(bare_task):
    make_calls(bare_task, 1, name="", phone="0771***1234")
    rows = list(export.table_values(table_for({"started_after": ""})))
    assert rows[1][HEADER.index("Name")] is None
    assert rows[1][HEADER.index("Phone")] == "0771***1234"
    assert rows[1][HEADER.index("Status")] == "Ended"


def test_text_a_spreadsheet_would_run_as_a_formula_is_made_inert(manager_client, bare_task):
    make_calls(bare_task, 1, name='=HYPERLINK("http://evil.example","x")', desc="@SUM(A1)")

    csv_row = csv_rows(manager_client.get(URL, {"_export": "csv"}))[1]
    assert csv_row[HEADER.index("Name")] == '\'=HYPERLINK("http://evil.example","x")'
    assert csv_row[HEADER.index("Description")] == "'@SUM(A1)"

    cells = xlsx_text_cells(run_background_export(manager_client, {"_export": "xlsx"}))
    assert cells["Name"] == ('=HYPERLINK("http://evil.example","x")', "s", True)
    assert cells["Description"] == ("@SUM(A1)", "s", True)


# What spreadsheets skip before a formula sign, and the signs' full-width forms.
HIDDEN_FORMULAS = [
    "\x01=HYPERLINK(1)",
    "\x1f=HYPERLINK(1)",
    " =HYPERLINK(1)",
    "\xa0=HYPERLINK(1)",
    "\u200b=HYPERLINK(1)",
    "\ufeff=HYPERLINK(1)",
    "\uff1dHYPERLINK(1)",
    "\uff20SUM(A1)",
    "\tcmd",
    "\rcmd",
]


@pytest.mark.parametrize("hostile", HIDDEN_FORMULAS)
def test_a_formula_hidden_behind_what_spreadsheets_skip_is_made_inert(
    manager_client, bare_task, hostile
):
    make_calls(bare_task, 1, name=hostile, desc=hostile)

    csv_row = csv_rows(manager_client.get(URL, {"_export": "csv"}))[1]
    cells = xlsx_text_cells(run_background_export(manager_client, {"_export": "xlsx"}))

    for column in ("Name", "Description"):
        assert csv_row[HEADER.index(column)].startswith("'"), (
            column,
            csv_row[HEADER.index(column)],
        )
        value, kind, stays_text = cells[column]
        assert kind == "s" and stays_text, (column, value)


def test_ordinary_text_in_the_xlsx_is_the_text_itself_and_a_formula_sign_stays_text(
    manager_client, bare_task
):
    # What collections staff filter and sort by: no apostrophe added to a phone or a "-5".
    make_calls(bare_task, 1, phone="+94 77 123 4567", name="Ana Silva", desc="-5 days overdue")
    cells = xlsx_text_cells(run_background_export(manager_client, {"_export": "xlsx"}))

    assert cells["Phone"] == ("+94 77 123 4567", "s", True)
    assert cells["Description"] == ("-5 days overdue", "s", True)
    assert cells["Name"] == ("Ana Silva", "s", False)


def test_text_with_a_semicolon_is_quoted_so_no_locale_splits_it_into_a_formula(
    manager_client, bare_task
):
    make_calls(bare_task, 1, name="Ana;=HYPERLINK(1)")
    response = manager_client.get(URL, {"_export": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")

    assert '"Ana;=HYPERLINK(1)"' in text


def test_control_characters_do_not_break_the_xlsx(manager_client, bare_task):
    make_calls(bare_task, 1, name="Ana\x07\x1b Silva")
    row = xlsx_rows(run_background_export(manager_client, {"_export": "xlsx"}))[1]
    assert row[HEADER.index("Name")] == "Ana Silva"


def test_export_reads_rows_in_chunks_whatever_their_number(bare_task):
    make_calls(bare_task, 25)
    table = table_for({"started_after": "", "sort": "call_id"})

    rows = list(export.table_values(table, chunk_size=7))

    assert [row[0] for row in rows[1:]] == [f"c{n:03d}" for n in range(25)]


def test_exported_values_are_the_tables_own_as_values(synced, bare_task):
    make_calls(bare_task, 3, name="", desc="<b>x</b>", status=None)
    params = {"started_after": "", "sort": "name"}

    assert list(export.table_values(table_for(params))) == list(table_for(params).as_values())


class ShoutingTable(CallTable):
    """A table whose name column has a render_ method and no value_ method."""

    def render_name(self, value: str) -> str:
        return value.upper()


def test_a_column_rendered_by_the_table_exports_as_django_tables2_would(bare_task):
    make_calls(bare_task, 3, name="ana")
    request = RequestFactory().get(URL)
    table = ShoutingTable(CallRecord.objects.all())
    RequestConfig(request, paginate=False).configure(table)

    rows = list(export.table_values(table, chunk_size=2))

    assert rows == list(table.as_values())
    assert {row[HEADER.index("Name")] for row in rows[1:]} == {"ANA"}


def test_export_costs_the_same_few_queries_however_many_rows(bare_task):
    make_calls(bare_task, 40)
    table = table_for({"started_after": ""})

    with CaptureQueriesContext(connection) as queries:
        rows = list(export.table_values(table, chunk_size=7))

    assert len(rows) == 41
    assert len(queries) <= 3, [q["sql"] for q in queries.captured_queries]


def test_an_xlsx_beyond_the_row_limit_is_refused_with_a_way_out(bare_task):
    make_calls(bare_task, 6)

    with pytest.raises(export.TooManyRows, match=r"Narrow the filters .* or export CSV"):
        export.xlsx_response(table_for({"started_after": ""}), max_rows=5)
    response = export.xlsx_response(table_for({"started_after": ""}), max_rows=6)
    try:
        assert len(xlsx_rows(response)) == 7
    finally:
        response.close()


def test_the_row_limit_is_excels(bare_task):
    assert export.XLSX_MAX_ROWS == 1_048_576 - 1


def test_an_export_with_bad_filters_goes_back_to_the_page_with_a_message(manager_client, synced):
    response = manager_client.get(URL, {"talk_min": "abc", "_export": "csv"}, follow=True)

    assert response.redirect_chain[0][1] == 302
    assert "_export" not in response.redirect_chain[0][0]
    page = response.content.decode()
    assert "Nothing was exported: correct the filters first." in page
    assert "Enter a whole number of seconds" in page


def test_an_unknown_export_format_goes_back_to_the_page_with_a_message(manager_client, synced):
    response = manager_client.get(URL, {"_export": "pdf"}, follow=True)
    assert response.status_code == 200
    assert "Cannot export as &#x27;pdf&#x27;: choose CSV or XLSX." in response.content.decode()


def test_a_refused_export_redirects_to_the_calls_page_never_to_a_bare_query(manager_client, db):
    refused = manager_client.get(URL, {"_export": "pdf"})
    assert refused.status_code == 302 and refused["Location"] == URL

    with_filters = manager_client.get(URL, {"_export": "pdf", "code": "PTP", "page": "3"})
    assert with_filters["Location"] == URL + "?code=PTP"


def test_export_file_names_carry_the_company_time(settings):
    settings.TIME_ZONE = "Asia/Colombo"
    moment = datetime(2024, 8, 15, 7, 30, tzinfo=ZoneInfo("UTC"))
    assert export.filename("csv", moment) == "bludash-calls-20240815-1300.csv"
