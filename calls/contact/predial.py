"""The answer to Blu's pre-dial check: whether the borrower a call is about is on the stop
list, recorded for the borrower's page.

The borrower is the person the lender's key names, in every account (a complaint made to one
account's robot stops the other's call too); Blu's userId names an upload row, never a person,
so it is not looked up. Without a key, the orderId names them. Each reason is asked in turn,
down indexes that lead with the borrower, and the first that holds is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, router

from calls.contact import stop_statement
from calls.models import BluAccount, Borrower, PredialAnswer


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


def borrowers_named(account: BluAccount, key: str | None, order_id: str | None) -> list[int]:
    """The borrowers the key names (across accounts), else the account's with that orderId;
    the account's own first."""
    if key:
        found = Borrower.objects.filter(key=key)
    elif order_id:
        found = Borrower.objects.filter(account_id=account.pk, order_id=order_id)
    else:
        return []
    # The ORM's SQL, run on a plain cursor: building it again for each check cost more CPU
    # than the rest of the lookup.
    query = found.values_list("pk", "account_id")[:20]
    sql, params = query.query.get_compiler(using=query.db).as_sql()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [pk for pk, owner in sorted(rows, key=lambda row: (row[1] != account.pk, row[0]))]


def record(account: BluAccount, answer: Answer, now: datetime) -> None:
    """One row of PredialAnswer, in one plain INSERT (the ORM's create cost a check 0.5 ms)."""
    db = router.db_for_write(PredialAnswer)
    connection = connections[db]
    fields = [PredialAnswer._meta.get_field(name) for name in RECORDED]
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


def _insert_sql(connection: Any) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(PredialAnswer._meta.get_field(name).column) for name in RECORDED)
    marks = ", ".join(["%s"] * len(RECORDED))
    table = quote(PredialAnswer._meta.db_table)
    # Names from the model, every value a parameter.
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608


def decide(account: BluAccount, key: str | None, order_id: str | None, now: datetime) -> Answer:
    """The answer for the borrower named, recorded; undecided when nobody is named or known.
    Database errors go to the caller, which answers undecided without recording."""
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
    record(account, answer, now)
    return answer
