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

from django.conf import settings

from calls.contact import stop_list
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
    rows = list(found.values_list("pk", "account_id")[:20])
    return [pk for pk, owner in sorted(rows, key=lambda row: (row[1] != account.pk, row[0]))]


def decide(account: BluAccount, key: str | None, order_id: str | None, now: datetime) -> Answer:
    """The answer for the borrower named, recorded; undecided when nobody is named or known.
    Database errors go to the caller, which answers undecided without recording."""
    people = borrowers_named(account, key, order_id)
    if not people:
        answer = undecided("unknown borrower")
    else:
        found = stop_list.first_reason(people, now)
        if found is None:
            answer = Answer(PredialAnswer.Decision.GO, "", True, people[0])
        else:
            reason, borrower_pk = found
            answer = Answer(PredialAnswer.Decision.CANCEL, reason.label, True, borrower_pk)
    PredialAnswer.objects.create(
        account_id=account.pk,
        borrower_id=answer.borrower_pk,
        decision=answer.decision,
        reason=answer.reason[:200],
        decided=answer.decided,
        at=now,
    )
    return answer
