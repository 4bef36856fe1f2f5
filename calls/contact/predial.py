"""The answer to Blu's pre-dial check: whether the borrower a call is about is on the stop
list, recorded for the borrower's page.

The borrower is the person the lender's key names, in every account (a complaint made to one
account's robot stops the other's call too); Blu's userId names an upload row, never a person,
so it is not looked up. Without a key, the orderId names them. Each reason is asked in turn,
down indexes that lead with the borrower, and the first that holds is the answer.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, router
from django.db.models import Field

from calls.contact import stop_statement
from calls.models import BluAccount, Borrower, PredialAnswer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    decision: str  # PredialAnswer.Decision
    reason: str  # the stop list reason's label; why it was undecided; "" for a plain go-ahead
    decided: bool
    borrower_pk: int | None

    def body(self) -> dict:
        """The JSON Blu gets: the settings' cancel or go-ahead body, the reason appended to a
        cancel answer's message."""
        if self.decision == PredialAnswer.Decision.CANCEL:
            body = dict(settings.BLUDASH_PREDIAL_CANCEL_BODY)
            if self.reason:
                message = str(body.get("message", "")).strip()
                body["message"] = f"{message}: {self.reason}" if message else self.reason
            return body
        return dict(settings.BLUDASH_PREDIAL_GO_BODY)


def undecided(reason: str, borrower_pk: int | None = None) -> Answer:
    """What BLUDASH_PREDIAL_UNDECIDED says when bludash cannot tell."""
    decision = (
        PredialAnswer.Decision.CANCEL
        if settings.BLUDASH_PREDIAL_UNDECIDED == "cancel"
        else PredialAnswer.Decision.GO
    )
    return Answer(decision, reason, False, borrower_pk)


# Stand-ins the lookups' SQL is built with once, the real values put in their places after.
_KEY, _ACCOUNT = "\x00key", -1


@functools.lru_cache(maxsize=8)
def _lookup(by_key: bool, db: str) -> tuple[str, tuple[Any, ...]]:
    """(the SQL, its stand-in parameters) of the borrowers named by a key or an orderId."""
    if by_key:
        found = Borrower.objects.using(db).filter(key=_KEY)
    else:
        found = Borrower.objects.using(db).filter(account_id=_ACCOUNT, order_id=_KEY)
    query = found.values_list("pk", "account_id")[:20]
    sql, params = query.query.get_compiler(using=db).as_sql()
    return sql, tuple(params)


def borrowers_named(account: BluAccount, key: str | None, order_id: str | None) -> list[int]:
    """The borrowers the key names (across accounts), else the account's with that orderId;
    the account's own first."""
    if not key and not order_id:
        return []
    # The ORM's SQL, built once and run on a plain cursor: building it again for each check
    # cost more CPU than the rest of the lookup.
    db = router.db_for_read(Borrower)
    sql, marks = _lookup(bool(key), db)
    real = {_KEY: key or order_id, _ACCOUNT: account.pk}
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [real[mark] for mark in marks])
        rows = cursor.fetchall()
    return [pk for pk, owner in sorted(rows, key=lambda row: (row[1] != account.pk, row[0]))]


def record(account: BluAccount, answer: Answer, now: datetime) -> None:
    """One row of PredialAnswer, in one plain INSERT (the ORM's create cost a check 0.5 ms)."""
    db = router.db_for_write(PredialAnswer)
    connection = connections[db]
    fields = _recorded_fields()
    values = [
        account.pk,
        answer.borrower_pk,
        answer.decision,
        answer.reason[:200],
        answer.decided,
        now,
    ]
    prepared = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(connection), prepared)


RECORDED = ("account", "borrower", "decision", "reason", "decided", "at")


def _recorded_fields() -> list[Field]:
    by_name = {field.name: field for field in PredialAnswer._meta.concrete_fields}
    return [by_name[name] for name in RECORDED]


def _insert_sql(connection: Any) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _recorded_fields())
    marks = ", ".join(["%s"] * len(RECORDED))
    table = quote(PredialAnswer._meta.db_table)
    # Names from the model, every value a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608


def decide(account: BluAccount, key: str | None, order_id: str | None, now: datetime) -> Answer:
    """The answer for the borrower named, recorded; undecided when nobody is named or known.
    Database errors before the answer is known go to the caller, which answers undecided
    without recording; once it is known, a failure to record it loses only the record."""
    people = borrowers_named(account, key, order_id)
    if not people:
        answer = undecided("unknown borrower")
    else:
        found = stop_statement.first_reason(people, now)
        if found is None:
            answer = Answer(PredialAnswer.Decision.GO, "", True, people[0])
        else:
            reason, borrower_pk = found
            answer = Answer(PredialAnswer.Decision.CANCEL, reason.label, True, borrower_pk)
    try:
        record(account, answer, now)
    except (OperationalError, InterfaceError) as exc:
        # A cancel known but lost with its record would have Blu call someone on the stop list.
        logger.error(
            "Could not record a pre-dial answer (%s): answered %s all the same",
            type(exc).__name__,
            answer.decision,
        )
    return answer
