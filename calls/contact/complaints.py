"""Complaints: opened by every write of calls (calls/ingest/borrowers.link_calls calls
follow_calls in the writer's transaction), changed by managers, emailed to them once.

A call whose code is flagged `complaint` has one complaint. A correction or a re-read that
takes the flag away removes the complaint only while nobody has acted on it (still new, no
assignee, no note): what a manager wrote about a call stays. A call that moves to another
borrower takes its complaint along. A code flagged or unflagged as a complaint (admin or
Conclusions page) queues `rebuild` of every account (calls.tasks.rebuild_complaints; by hand
`blu complaints rebuild`), by the same rule: unflagging removes the complaints nobody acted on
and keeps, as they were, those assigned, noted, acknowledged or resolved; none is resolved on a
manager's behalf.

A new complaint is announced with `complaint_opened` (calls.tasks queues the managers' email
once the write commits); `send_new_complaints` sends whatever is not emailed yet, so an email
lost with the broker goes out with the next one or the periodic job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from calls.audit import trail
from calls.models import AuditEvent, BluAccount, CallRecord, Complaint, Conclusion, one_of
from calls.security import recipients, roles

logger = logging.getLogger(__name__)

# Sent with complaint_ids when a write opened complaints; its receiver (calls.tasks) queues the
# managers' email once the write is committed.
complaint_opened = Signal()

# What a manager may write in a note; a longer one is refused, not cut.
MAX_NOTE = 4000


def complaint_codes() -> list[str]:
    return list(Conclusion.objects.filter(complaint=True).values_list("code", flat=True))


def _untouched() -> Q:
    return Q(state=Complaint.State.NEW, assignee__isnull=True, note="")


def follow_calls(
    account: BluAccount,
    call_ids: Iterable[str],
    *,
    calls: Sequence[Mapping[str, Any]] | None = None,
    new_calls: Set[int] = frozenset(),
) -> list[int]:
    """Open, move or remove the complaints of the account's calls named. Runs in the caller's
    transaction; returns the ids of the complaints opened. `calls`: those calls as stored (pk,
    borrower_id, code and their times), when the caller holds them already; otherwise read.
    `new_calls`: ids of calls the caller's transaction inserted, which have no complaint yet."""
    ids = list(call_ids)
    if not ids:
        return []
    flagged = set(complaint_codes())
    if calls is None:
        calls = list(
            CallRecord.objects.filter(account_id=account.pk, call_id__in=one_of(ids)).values(
                "pk", "borrower_id", "code", "start_time", "answer_time", "first_seen_at"
            )
        )
    complaining = {call["pk"]: call for call in calls if call["code"] in flagged}
    # The complaints the calls have: one read, then only what must change is written (a page
    # of new calls has none).
    existing: dict[int, int | None] = {}
    gone: list[int] = []
    stored = [call["pk"] for call in calls if call["pk"] not in new_calls]
    for pk, call_pk, borrower_pk in Complaint.objects.filter(
        call_id__in=one_of(stored) if stored else []
    ).values_list("pk", "call_id", "borrower_id"):
        if call_pk in complaining:
            existing[call_pk] = borrower_pk
        else:
            gone.append(pk)
    if gone:
        Complaint.objects.filter(_untouched(), pk__in=gone).delete()
    if not complaining:
        return []
    for call_pk, had in existing.items():
        if complaining[call_pk]["borrower_id"] != had:
            Complaint.objects.filter(call_id=call_pk).update(
                borrower_id=complaining[call_pk]["borrower_id"]
            )
    new = [
        Complaint(
            account_id=account.pk,
            borrower_id=call["borrower_id"],
            call_id=call["pk"],
            opened_at=call["answer_time"] or call["start_time"] or call["first_seen_at"],
        )
        for call_pk, call in complaining.items()
        if call_pk not in existing
    ]
    if not new:
        return []
    # Two writers of one call never race here: both hold the account's write turn.
    made = Complaint.objects.bulk_create(new)
    opened = [complaint.pk for complaint in made]
    complaint_opened.send(sender=Complaint, complaint_ids=opened)
    return opened


def rebuild(account: BluAccount, *, batch_size: int = 1000) -> int:
    """Follow again every stored call of the account whose code is flagged complaint or that
    has a complaint: after a manager flags a code as a complaint, or unflags one. Returns how
    many calls were read."""
    from calls.models import lock_account_writes

    wanted = CallRecord.objects.filter(account_id=account.pk).filter(
        Q(code__in=complaint_codes()) | Q(complaint__isnull=False)
    )
    after, read = 0, 0
    while True:
        batch = list(
            wanted.filter(pk__gt=after).order_by("pk").values_list("pk", "call_id")[:batch_size]
        )
        if not batch:
            return read
        with transaction.atomic():
            lock_account_writes(account.pk)
            follow_calls(account, [call_id for _, call_id in batch])
        after, read = batch[-1][0], read + len(batch)


@dataclass(frozen=True)
class Change:
    state: str
    assignee_id: int | None
    note: str


class BadChange(ValueError):
    """The change asked for is not one a complaint can take; the message says why."""


def change(complaint: Complaint, wanted: Change, request: HttpRequest) -> bool:
    """Apply a manager's change (state, assignee, note) and audit it; returns whether anything
    changed. Raises BadChange and changes nothing for a state that does not exist, an assignee
    who may not handle complaints, or a note over MAX_NOTE characters or holding NUL."""
    if wanted.state not in Complaint.State.values:
        raise BadChange(f"{wanted.state[:20]!r} is not a state: new, acknowledged or resolved.")
    if len(wanted.note) > MAX_NOTE:
        raise BadChange(f"The note is over {MAX_NOTE} characters.")
    if "\x00" in wanted.note:
        # PostgreSQL text cannot hold it: refused here rather than by the database (a 500).
        raise BadChange("The note holds a NUL character: remove it and save again.")
    if wanted.assignee_id is not None and wanted.assignee_id not in set(assignable_ids()):
        raise BadChange("That person may not handle complaints.")
    with transaction.atomic():
        current = Complaint.objects.select_for_update().get(pk=complaint.pk)
        before = {
            "state": current.state,
            "assignee": current.assignee_id,
            "note": current.note,
        }
        after = {"state": wanted.state, "assignee": wanted.assignee_id, "note": wanted.note}
        if before == after:
            return False
        now = timezone.now()
        current.state = wanted.state
        current.assignee_id = wanted.assignee_id
        current.note = wanted.note
        current.changed_at = now
        if wanted.state == Complaint.State.RESOLVED and before["state"] != wanted.state:
            current.resolved_at = now
        elif wanted.state != Complaint.State.RESOLVED:
            current.resolved_at = None
        current.save(update_fields=["state", "assignee", "note", "changed_at", "resolved_at"])
        changed: dict[str, list] = {
            name: [before[name], after[name]] for name in after if before[name] != after[name]
        }
        if "assignee" in changed:
            # Named, not numbered: the log outlives the user's id.
            names = dict(
                get_user_model()
                .objects.filter(pk__in=[pk for pk in changed["assignee"] if pk])
                .values_list("pk", "username")
            )
            changed["assignee"] = [names.get(pk) if pk else None for pk in changed["assignee"]]
        trail.record(
            AuditEvent.Action.COMPLAINT_CHANGED,
            request,
            target=f"complaint {current.pk}",
            complaint=current.pk,
            changes=changed,
        )
    complaint.refresh_from_db()
    return True


def history(complaint: Complaint) -> list[AuditEvent]:
    """The complaint's changes, oldest first."""
    return list(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.COMPLAINT_CHANGED, target=f"complaint {complaint.pk}"
        )
        .select_related("user")
        .order_by("at", "pk")
    )


def assignable_ids() -> list[int]:
    """The active users who may handle complaints."""
    users = recipients.users_who_may(roles.MANAGE_COMPLAINTS)
    return sorted(set(users.values_list("pk", flat=True)))


def send_new_complaints() -> int:
    """Email the managers every complaint not emailed yet, in one message; returns how many it
    told of (0 when there were none, nobody to tell, or the mail server failed: they are told
    next time)."""
    with transaction.atomic():
        pending = list(
            # Two senders at once (the queued job and the periodic one) tell of each once.
            Complaint.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(emailed_at__isnull=True)
            .select_related("borrower", "call", "account")
            .order_by("pk")[:200]
        )
        if not pending:
            return 0
        to = recipients.addresses_of_users_who_may(roles.MANAGE_COMPLAINTS)
        if not to:
            logger.warning(
                "%d new complaint%s and no manager with an email address to tell",
                len(pending),
                pluralize(len(pending)),
            )
            return 0
        try:
            sent = _email(pending, to)
        except Exception as exc:  # any mail trouble: the class only, a reply may quote the body
            logger.error("Could not email the managers of new complaints: %s", type(exc).__name__)
            return 0
        if not sent:
            return 0
        Complaint.objects.filter(pk__in=[c.pk for c in pending]).update(emailed_at=timezone.now())
    return len(pending)


def _email(pending: list[Complaint], to: list[str]) -> bool:
    base = settings.BLUDASH_PUBLIC_URL
    lines = []
    for complaint in pending:
        who = str(complaint.borrower) if complaint.borrower else "a borrower nobody could name"
        url = base + reverse("calls:complaint_detail", kwargs={"pk": complaint.pk})
        lines.append(f"- {who}, call {complaint.call.call_id} ({complaint.call.code}): {url}")
    count = len(pending)
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}{count} new complaint{pluralize(count)}"
    body = (
        f"The robots' calls brought {count} new complaint{pluralize(count)}. Until each is "
        "resolved its borrower is on the stop list.\n\n"
        + "\n".join(lines)
        + f"\n\nAll complaints: {base}{reverse('calls:complaint_list')}\n"
    )
    return EmailMessage(subject, body, to=to).send() > 0
