"""The one import of the lender's payments feed, whichever way it comes (`blu repayments
import FILE.csv`, the managers' upload page, the JSON endpoint): rows of `borrower`, `amount`,
`paid_at`, optional `orderId` and `reference`.

All or nothing: every row is checked first, and a file with any bad row is reported (line and
reason) and stores nothing. Idempotent: a repayment's key is its reference, or else its
borrower, amount and time; a row already stored (or given twice in the file) is counted as a
duplicate and stored once. A reference stored with another borrower, amount or time is a bad
row, not a duplicate: the lender's ledger says two different things.

A borrower the calls have not named yet (the lender's ledger may be ahead of the calls, or the
file imported before the calls are synced) is added, with no calls; the preview says how many
such rows there are, and the borrower's calls link to it when they come.

`paid_at` is ISO 8601 (`2024-08-15 17:30:00`, `2024-08-15T17:30:00+05:30`); without an offset it
is the account's local time, as Blu's times are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calls.models import BluAccount, Borrower, Repayment, lock_account_writes
from calls.promises import ledger, windows

COLUMNS = ("borrower", "amount", "paid_at", "orderId", "reference")
REQUIRED = ("borrower", "amount", "paid_at")
MAX_ROWS = 50_000
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TEXT = 200
KEY_CHARS = Borrower._meta.get_field("key").max_length or 200
# Where a borrower no call has named yet came from (Borrower.key_source).
REPAYMENT_SOURCE = "repayment"
_LARGEST = Decimal("1e12")
# A payment a little ahead of our clock is the lender's clock; a day ahead is a wrong date.
_FUTURE_SLACK = timedelta(minutes=10)
# A date alone would be read as midnight, before that day's promises: a time is required.
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}")


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class Row:
    line: int
    key: str
    borrower: Borrower | None  # None: not named by any call yet
    amount: Decimal
    paid_at: datetime
    order_id: str
    reference: str

    def identity(self) -> tuple[Any, ...]:
        if self.reference:
            return ("reference", self.reference)
        return ("row", self.key, self.amount, self.paid_at)


@dataclass
class ImportResult:
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    new: list[Row] = field(default_factory=list)
    duplicates: int = 0
    saved: bool = False
    # The keys of the new rows' borrowers that no call has named yet.
    new_borrowers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def csv_records(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """A CSV file's rows with their line numbers (the header is line 1), or the error that
    makes the file unreadable."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
    except csv.Error as exc:
        return [], [RowError(1, f"not CSV: {exc}")]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        return [], [RowError(1, "missing column " + ", ".join(missing))]
    reader.fieldnames = header
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        for record in reader:
            if not any(
                (value or "").strip() for value in record.values() if isinstance(value, str)
            ):
                continue
            records.append((reader.line_num, record))
            if len(records) > MAX_ROWS:
                return [], [RowError(reader.line_num, f"more than {MAX_ROWS} rows: split the file")]
    except csv.Error as exc:
        return [], [RowError(reader.line_num, f"not CSV: {exc}")]
    return records, []


def import_repayments(
    account: BluAccount,
    records: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    source: str = Repayment.Source.FILE,
    save: bool = True,
) -> ImportResult:
    """Check every record (line, fields) and, when all are good and `save`, store the new ones
    and settle their borrowers' promises in one transaction. With save=False: the preview."""
    result = ImportResult()
    given = list(records)
    if len(given) > MAX_ROWS:
        result.errors.append(RowError(0, f"more than {MAX_ROWS} rows: split the file"))
        return result
    keys = {_text(fields.get("borrower")) for _, fields in given if isinstance(fields, Mapping)}
    known = {
        borrower.key: borrower
        for borrower in Borrower.objects.filter(account_id=account.pk, key__in=keys - {""})
    }
    for line, fields in given:
        row = _row(account, line, fields, known, result.errors)
        if row is not None:
            result.rows.append(row)
    if result.errors:
        return result
    with transaction.atomic():
        # The writers' turn: a page's promises and these repayments settle one after the other.
        lock_account_writes(account.pk)
        stored = _stored(account, result.rows)
        seen: dict[tuple[Any, ...], Any] = {}
        for row in result.rows:
            key = row.identity()
            old = stored.get(key)
            earlier = seen.get(key)
            if row.reference and earlier is not None and earlier != _value(row):
                # Silently a duplicate, the second payment would be lost without a word.
                result.errors.append(
                    RowError(
                        row.line,
                        f"reference {row.reference!r} is already used in this file with another "
                        "borrower, amount or time",
                    )
                )
            elif row.reference and old is not None and old != _value(row):
                result.errors.append(
                    RowError(
                        row.line,
                        f"reference {row.reference!r} is stored with another "
                        "borrower, amount or time",
                    )
                )
            elif key in seen or old is not None:
                result.duplicates += 1
            else:
                result.new.append(row)
            seen.setdefault(key, _value(row))
        result.new_borrowers = sorted({row.key for row in result.new if row.borrower is None})
        if result.errors or not save:
            return result
        _add_borrowers(account, result.new)
        Repayment.objects.bulk_create(
            [
                Repayment(
                    account_id=account.pk,
                    borrower_id=_borrower_pk(row),
                    amount=row.amount,
                    paid_at=row.paid_at,
                    order_id=row.order_id,
                    reference=row.reference,
                    source=source,
                )
                for row in result.new
            ],
            ignore_conflicts=True,
        )
        ledger.settle({_borrower_pk(row) for row in result.new})
        result.saved = True
    return result


def _borrower_pk(row: Row) -> int:
    assert row.borrower is not None and row.borrower.pk is not None
    return row.borrower.pk


def _add_borrowers(account: BluAccount, rows: list[Row]) -> None:
    """Add the borrowers no call has named yet, and give every row its borrower."""
    keys = sorted({row.key for row in rows if row.borrower is None})
    if not keys:
        return
    Borrower.objects.bulk_create(
        [Borrower(account_id=account.pk, key=key, key_source=REPAYMENT_SOURCE) for key in keys],
        ignore_conflicts=True,
    )
    found = {b.key: b for b in Borrower.objects.filter(account_id=account.pk, key__in=keys)}
    for row in rows:
        if row.borrower is None:
            row.borrower = found[row.key]


def _value(row: Row) -> tuple[int | None, Decimal, datetime]:
    return (row.borrower.pk if row.borrower else None, row.amount, row.paid_at)


def _stored(account: BluAccount, rows: list[Row]) -> dict[tuple[Any, ...], Any]:
    """The keys among `rows` already stored, with what a reference was stored as."""
    found: dict[tuple[Any, ...], Any] = {}
    references = [row.reference for row in rows if row.reference]
    for reference, borrower_id, amount, paid_at in Repayment.objects.filter(
        account_id=account.pk, reference__in=references
    ).values_list("reference", "borrower_id", "amount", "paid_at"):
        found[("reference", reference)] = (borrower_id, amount, paid_at)
    plain = [row for row in rows if not row.reference and row.borrower is not None]
    if plain:
        for key, amount, paid_at in Repayment.objects.filter(
            account_id=account.pk,
            reference="",
            borrower_id__in={_borrower_pk(row) for row in plain},
            paid_at__in={row.paid_at for row in plain},
        ).values_list("borrower__key", "amount", "paid_at"):
            found[("row", key, amount, paid_at)] = True
    return found


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def _row(
    account: BluAccount,
    line: int,
    fields: Mapping[str, Any],
    known: dict[str, Borrower],
    errors: list[RowError],
) -> Row | None:
    if not isinstance(fields, Mapping):
        errors.append(RowError(line, "not an object of borrower, amount, paid_at"))
        return None
    reasons: list[str] = []
    key = _text(fields.get("borrower"))
    borrower = known.get(key)
    if not key:
        reasons.append("borrower is empty")
    elif len(key) > KEY_CHARS:
        reasons.append(f"borrower is longer than {KEY_CHARS} characters")
    amount = _amount(fields.get("amount"), reasons)
    paid_at = _paid_at(fields.get("paid_at"), account, reasons)
    order_id, reference = _text(fields.get("orderId")), _text(fields.get("reference"))
    for name, value in (("orderId", order_id), ("reference", reference)):
        if len(value) > MAX_TEXT:
            reasons.append(f"{name} is longer than {MAX_TEXT} characters")
    if reasons or amount is None or paid_at is None:
        errors.append(RowError(line, "; ".join(reasons)))
        return None
    return Row(line, key, borrower, amount, paid_at, order_id, reference)


def _amount(value: Any, reasons: list[str]) -> Decimal | None:
    text = _text(value)
    if text and not _AMOUNT.fullmatch(text):
        # Decimal() also reads "1_000", "1e3" and other scripts' digits, none of them a ledger's.
        reasons.append(f"amount {text[:20]!r} is not a number like 1500 or 1500.50")
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        reasons.append(f"amount {text[:20]!r} is not a number" if text else "amount is empty")
        return None
    if not amount.is_finite() or amount <= 0 or amount >= _LARGEST:
        reasons.append(f"amount {text[:20]!r} is not a positive amount")
        return None
    if amount != amount.quantize(Decimal("0.01")):
        reasons.append(f"amount {text[:20]!r} has more than two decimal places")
        return None
    return amount.quantize(Decimal("0.01"))


def _paid_at(value: Any, account: BluAccount, reasons: list[str]) -> datetime | None:
    text = _text(value)
    try:
        parsed = parse_datetime(text) if text else None
    except ValueError:
        parsed = None
    if parsed is not None and not _HAS_TIME.search(text):
        reasons.append(f"paid_at {text[:30]!r} has no time of day (like 2024-08-15 17:30:00)")
        return None
    if parsed is not None and parsed.year not in windows.PLAUSIBLE_YEARS:
        reasons.append(f"paid_at {text[:30]!r} is not a plausible payment date")
        return None
    if parsed is None:
        reasons.append(
            f"paid_at {text[:30]!r} is not a date and time like 2024-08-15 17:30:00"
            if text
            else "paid_at is empty"
        )
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=account.zone)
    if parsed > timezone.now() + _FUTURE_SLACK:
        reasons.append(f"paid_at {text[:30]!r} is in the future")
        return None
    return parsed
