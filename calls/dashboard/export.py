"""The calls table as a CSV or XLSX file: exactly the table's rows (all pages), in its order, with
its columns and its `value_*` values, at flat memory however many rows match.

The table given is configured (filtered, sorted) but not paginated; its queryset is read with a
server-side cursor, chunk by chunk, and every cell is made by the column's own rule (its
`value_<name>` method, or the plain value), as `Table.as_values()` would make it.
"""

from __future__ import annotations

import csv
import inspect
import logging
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, BinaryIO

import django_tables2 as tables
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.encoding import force_str
from django_tables2 import A
from django_tables2.columns.base import BoundColumn
from django_tables2.export import TableExport
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from calls.audit import trail

logger = logging.getLogger(__name__)

CSV = TableExport.CSV
XLSX = TableExport.XLSX
FORMATS = (CSV, XLSX)
CHUNK_SIZE = 2000
# Excel's sheet holds 1,048,576 rows; one is the header.
XLSX_MAX_ROWS = 1_048_575
# Rows per piece of the CSV stream: big enough that the stream is not a flood of tiny writes.
_CSV_ROWS_PER_PIECE = 500
# A cell a spreadsheet would run as a formula: names and descriptions arrive in unsigned
# callbacks, so such text is made inert by a leading apostrophe (OWASP's advice). Spreadsheets
# pass over what cannot be seen before the formula sign (white space, control characters, format
# characters such as zero-width spaces and a byte order mark) and take the full-width signs too,
# so the sign is looked for after all of those; a leading tab or carriage return is enough by
# itself.
_FORMULA_SIGNS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_UNSEEN = frozenset(("Cc", "Cf"))


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet would run `text` as a formula."""
    if text[:1] in ("\t", "\r"):
        return True
    for char in text:
        if not (char.isspace() or unicodedata.category(char) in _UNSEEN):
            return char in _FORMULA_SIGNS
    return False


# Told, once an export is made, how many rows it holds and whether it holds them all (the
# streamed CSV also tells it (0, False) as its first bytes leave).
Done = Callable[[int, bool], None]


class TooManyRows(Exception):
    """More rows match than the format can hold; the message says what to do instead."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"More than {limit:,} calls match, more than an XLSX sheet can hold. "
            "Narrow the filters (a shorter date range, fewer codes) or export CSV instead."
        )
        self.limit = limit


def filename(export_format: str, now: datetime | None = None, subject: str = "calls") -> str:
    """bludash-<subject>-YYYYMMDD-HHMM.<format> (subject: calls or promises), the time in the
    company's zone."""
    return f"bludash-{subject}-{timezone.localtime(now):%Y%m%d-%H%M}.{export_format}"


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _inert(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would run, behind an apostrophe (OWASP's advice: CSV has
    no other way to say "text", and the apostrophe also keeps "+94 77..." from becoming a
    number)."""
    if isinstance(value, str) and runs_as_formula(value):
        return "'" + value
    return value


def _exported(table: tables.Table) -> list[BoundColumn]:
    return [
        bound
        for bound in table.columns.iterall()
        if not (bound.column.exclude_from_export or bound.name in table.exclude)
    ]


def _reader(table: tables.Table, bound: BoundColumn) -> Callable[[Any], Any] | None:
    """What BoundRow.get_cell_value does for one column, with the work done once per export
    rather than per cell: django-tables2 looks up the signature of the value function for every
    cell, which made a million-row export take a quarter of an hour. Covers plain columns and
    `value_<name>(value[, record])` methods; None for anything else (a `render_<name>` used as
    the value, a custom column class, choices shown by their label)."""
    column = bound.column
    accessor = A(bound.accessor)
    value_method = getattr(table, f"value_{bound.name}", None)
    if value_method is None:
        plain = (
            type(column).value is tables.Column.value
            and type(column).render is tables.Column.render
            and not hasattr(table, f"render_{bound.name}")
        )
        if not plain:
            return None
    else:
        wanted = set(inspect.signature(value_method).parameters)
        if not wanted <= {"value", "record"}:
            return None
    model = getattr(table.data, "model", None)
    if model is not None and getattr(_field(accessor, model), "choices", None):
        return None

    def read(record: Any) -> Any:
        try:
            value = accessor.resolve(record)
        except Exception:  # as django-tables2 does: an unresolvable accessor is an empty cell
            value = None
        if value in column.empty_values:
            return None
        if value_method is None:
            return value
        arguments = {"value": value, "record": record}
        return value_method(**{name: arguments[name] for name in wanted})

    return read


def _field(accessor: A, model: type) -> Any:
    try:
        return accessor.get_field(model)
    except FieldDoesNotExist:
        return None


def _related(table: tables.Table, model: type) -> list[str]:
    """The relations the exported columns reach through (task__blu_task_id: task)."""
    paths = set()
    for bound in _exported(table):
        parts = str(bound.accessor).split("__")
        for depth in range(len(parts) - 1, 0, -1):
            field = _field(A("__".join(parts[:depth])), model)
            if field is not None and field.is_relation:
                paths.add("__".join(parts[:depth]))
                break
    return sorted(paths)


def _for_export(queryset: QuerySet, table: tables.Table, fields_only: bool) -> QuerySet:
    """The table's queryset trimmed for reading every row: related rows joined (cheaper per row
    than a prefetch per chunk) and, when every cell comes from its column's own field, only those
    fields loaded, so no record's raw JSON is fetched and decoded for nothing."""
    model = queryset.model
    queryset = queryset.prefetch_related(None).select_related(*_related(table, model))
    paths = [str(bound.accessor) for bound in _exported(table)]
    if fields_only and all(_field(A(path), model) is not None for path in paths):
        queryset = queryset.only(*paths)
    return queryset


def _takes_record(table: tables.Table, bound: BoundColumn) -> bool:
    method = getattr(table, f"value_{bound.name}", None)
    return method is not None and "record" in inspect.signature(method).parameters


def table_values(table: tables.Table, chunk_size: int = CHUNK_SIZE) -> Iterator[list[Any]]:
    """The header, then one list of cell values per row of the table's (unpaginated) data, the
    values as `Table.as_values()` gives them. Rows are read chunk by chunk from a server-side
    cursor."""
    yield next(table.as_values(exclude_columns=table.exclude))
    exported = _exported(table)
    readers = [_reader(table, bound) for bound in exported]
    fast = all(readers)
    records = table.data.data
    if isinstance(records, QuerySet):
        fields_only = fast and not any(_takes_record(table, bound) for bound in exported)
        records = _for_export(records, table, fields_only).iterator(chunk_size=chunk_size)
    for chunk in _chunks(records, chunk_size):
        rows: Iterable[list[Any]]
        if fast:
            rows = ([read(record) for read in readers if read] for record in chunk)
        else:
            # order_by=(): the chunk is in order already; Meta.order_by would sort it again.
            chunk_table = type(table)(chunk, exclude=table.exclude, order_by=())
            rows = islice(chunk_table.as_values(exclude_columns=table.exclude), 1, None)
        for row in rows:
            yield [force_str(value, strings_only=True) for value in row]


# Told, every so many rows while a file is written, how many rows it holds so far.
Progress = Callable[[int], None]


class _Counter:
    """The rows passed through, told to `progress` every `every` rows (not per row: each telling
    is a database write)."""

    def __init__(self, progress: Progress | None, every: int) -> None:
        self.count = 0
        self._progress = progress
        self._every = max(1, every)

    def add(self, rows: int) -> None:
        before, self.count = self.count, self.count + rows
        if self._progress is not None and before // self._every != self.count // self._every:
            self._progress(self.count)


class _Line:
    """A file-like target whose write() returns what csv.writer gives it."""

    def write(self, text: str) -> str:
        return text


def _csv_pieces(
    rows: Iterable[list[Any]], done: Done | None = None, counter: _Counter | None = None
) -> Iterator[bytes]:
    """The CSV in pieces: the header, then the rows. `done` hears, when the stream ends, how many
    rows the server took and whether that was all: a browser that goes away stops it early;
    `counter` is given each piece's rows once it has been taken."""
    sent, finished = 0, False
    if done is not None:
        # Before the first byte leaves, and not caught: a stream whose end is never heard (its
        # worker killed at a timeout, the last write failing) is on record all the same.
        done(0, False)
    try:
        rows = iter(rows)
        # Every text field quoted: where the list separator is ";" (much of Europe), Excel splits
        # an unquoted "name;=formula" into two cells and runs the second.
        writer = csv.writer(_Line(), quoting=csv.QUOTE_NONNUMERIC)
        # The byte order mark makes Excel read the file as UTF-8 (names are rarely ASCII only).
        yield "\ufeff".encode() + writer.writerow(next(rows)).encode()
        for piece in _chunks(rows, _CSV_ROWS_PER_PIECE):
            yield "".join(writer.writerow(row) for row in piece).encode()
            sent += len(piece)  # counted once the server asks for more: this piece has left
            if counter is not None:
                counter.add(len(piece))
        finished = True
    finally:
        if done is not None:
            try:
                done(sent, finished)
            except Exception:
                # Django swallows what a response's close raises: say it here, or nobody will.
                logger.exception("Could not report the end of a CSV export")


def csv_response(
    table: tables.Table, done: Done | None = None, subject: str = "calls"
) -> StreamingHttpResponse:
    """A CSV streamed as the rows are read: the first bytes leave before the last row is read."""
    response = StreamingHttpResponse(
        _csv_pieces(([_inert(value) for value in row] for row in table_values(table)), done),
        content_type=TableExport.FORMATS[CSV],
    )
    response["Content-Disposition"] = f'attachment; filename="{filename(CSV, subject=subject)}"'
    return response


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    """An XLSX cell. openpyxl refuses control characters in text, and a hostile name must not
    fail the export, so they go. Text that would run as a formula (looked for once they are
    gone: what they hid may be a formula sign) is written as a text cell marked "quote prefix",
    as Excel marks what is typed after an apostrophe: it stays text on every edit, and the reader
    sees the text itself, with no apostrophe added."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not runs_as_formula(value):
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl would otherwise write text starting with "=" as a formula
    cell.quotePrefix = True
    return cell


def write_csv(
    table: tables.Table, file: BinaryIO, progress: Progress | None = None, every: int = CHUNK_SIZE
) -> int:
    """The table's CSV, as csv_response streams it, written to `file`; the rows written (after
    the header) are returned, and told to `progress` every `every` rows."""
    counter = _Counter(progress, every)
    rows = ([_inert(value) for value in row] for row in table_values(table))
    for piece in _csv_pieces(rows, counter=counter):
        file.write(piece)
    return counter.count


def write_xlsx(
    table: tables.Table,
    file: BinaryIO,
    progress: Progress | None = None,
    every: int = CHUNK_SIZE,
    max_rows: int = XLSX_MAX_ROWS,
) -> int:
    """The table's XLSX written to `file`, or TooManyRows when more than `max_rows` rows match;
    the rows written (after the header) are returned, and told to `progress` every `every` rows.

    The rows go, chunk by chunk, into openpyxl's write-only workbook, which spools the sheet to
    disk, so memory stays flat however many rows there are.
    """
    if table.data.data.order_by()[: max_rows + 1].count() > max_rows:
        raise TooManyRows(max_rows)
    counter = _Counter(progress, every)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Calls")
    for written, row in enumerate(table_values(table)):
        # Rows may arrive while we write; the limit holds all the same.
        if written > max_rows:
            raise TooManyRows(max_rows)
        sheet.append([_xlsx_cell(sheet, value) for value in row])
        if written:
            counter.add(1)
    workbook.save(file)
    return counter.count


def xlsx_response(
    table: tables.Table, max_rows: int = XLSX_MAX_ROWS, done: Done | None = None
) -> FileResponse:
    """An XLSX of the table, or TooManyRows when more than `max_rows` rows match.

    XLSX cannot stream from its first byte: it is a zip archive whose sheet is one compressed
    entry and whose directory of entries comes last, so nothing valid can be sent until the last
    row has been read. So the file is saved to an anonymous temporary file (write_xlsx), then
    sent from disk and deleted when the response closes. Memory stays flat; only the wait grows.
    """
    # No `with`: FileResponse closes the file once sent, and closing deletes it.
    file = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
    try:
        written = write_xlsx(table, file, max_rows=max_rows)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    if done is not None:
        done(written, True)
    return FileResponse(
        file,
        as_attachment=True,
        filename=filename(XLSX),
        content_type=TableExport.FORMATS[XLSX],
    )


WRITERS = {CSV: write_csv, XLSX: write_xlsx}


def response(
    table: tables.Table, export_format: str, done: Done | None = None, subject: str = "calls"
) -> StreamingHttpResponse | FileResponse:
    """The export of `table` in `export_format` (one of FORMATS), its file named for `subject`.
    `done(rows, finished)` is called once the file is made: for XLSX before this returns, for the
    streamed CSV when the stream ends."""
    if export_format == CSV:
        return csv_response(table, done, subject)
    if export_format == XLSX:
        return xlsx_response(table, done=done)
    raise ValueError(f"unknown export format {export_format!r}")


def audited(request: Any, export_format: str, query: str, target: str = "calls") -> Done:
    """One export event, written when first told and brought up to date when told again."""
    event: Any = None

    def done(rows: int, finished: bool) -> None:
        nonlocal event
        if event is not None:
            event.details.update(rows=rows, complete=finished)
            event.save(update_fields=["details"])
            return
        event = trail.record(
            trail.Action.EXPORT,
            request,
            target=target,
            format=export_format,
            filter=query,
            rows=rows,
            complete=finished,
        )

    return done
