"""Complaints: opened by every call whose code is flagged complaint, by whichever path the call
arrives, changed by managers with every change audited, and emailed to the managers once."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import RequestFactory

from calls.contact import complaints
from calls.ingest import sync
from calls.models import AuditEvent, CallRecord, Complaint, Conclusion
from calls.seed import COMPLAINT_EMAILS_TASK_NAME


def _request(user):
    request = RequestFactory().post("/complaints/1/", REMOTE_ADDR="198.51.100.7")
    request.user = user
    return request


def test_a_call_flagged_complaint_opens_a_new_complaint_for_its_borrower(call):
    call("c1", code="CPL", borrower="U1", at="2024-01-01 13:00:00")
    call("c2", code="NOST", borrower="U2")

    complaint = Complaint.objects.get()
    assert complaint.borrower.key == "U1" and complaint.call.call_id == "c1"
    assert complaint.state == Complaint.State.NEW and complaint.assignee is None
    assert complaint.opened_at == complaint.call.answer_time


def test_a_managers_own_code_flagged_complaint_opens_one_too(call):
    Conclusion.objects.create(code="Angry", label="Angry", complaint=True, live_person=True)
    call("c1", code="Angry")
    assert Complaint.objects.get().call.code == "Angry"


def test_the_same_callback_twice_opens_one_complaint(call):
    call("c1", code="Complan")
    call("c1", code="Complan")
    assert Complaint.objects.count() == 1


def test_a_correction_away_from_a_complaint_removes_it_while_nobody_acted(call):
    call("c1", code="CPL")
    call("c1", code="NOST")
    assert not Complaint.objects.exists()


def test_a_correction_keeps_a_complaint_a_manager_has_acted_on(call, manager):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()
    complaints.change(
        complaint, complaints.Change("acknowledged", None, "called back"), _request(manager)
    )
    call("c1", code="NOST")
    assert Complaint.objects.get().state == Complaint.State.ACKNOWLEDGED


def test_a_call_that_moves_to_another_borrower_takes_its_complaint(call):
    call("c1", code="CPL", borrower="U1")
    call("c1", code="CPL", borrower="U2")
    assert Complaint.objects.get().borrower.key == "U2"


def test_a_sync_opens_a_complaint_for_every_complaint_call(make_task):
    task = make_task(calls=40)
    sync.sync_task(task)
    flagged = CallRecord.objects.filter(code__in=complaints.complaint_codes())
    assert flagged.exists(), "the sandbox's mix of codes has complaints"
    assert set(Complaint.objects.values_list("call_id", flat=True)) == set(
        flagged.values_list("pk", flat=True)
    )


def test_flagging_a_code_later_and_rebuilding_opens_the_complaints_of_stored_calls(call, account):
    call("c1", code="Whichcompany")
    assert not Complaint.objects.exists()
    Conclusion.objects.filter(code="Whichcompany").update(complaint=True)
    complaints.rebuild(account)
    assert Complaint.objects.get().call.call_id == "c1"


def test_a_managers_changes_are_applied_and_each_audited(call, manager):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()

    assert complaints.change(
        complaint, complaints.Change("acknowledged", manager.pk, "listening"), _request(manager)
    )
    assert complaints.change(
        complaint, complaints.Change("resolved", manager.pk, "apologised"), _request(manager)
    )

    complaint.refresh_from_db()
    assert complaint.state == "resolved" and complaint.resolved_at is not None
    assert complaint.assignee == manager and complaint.note == "apologised"
    events = complaints.history(complaint)
    assert [event.details["changes"]["state"] for event in events] == [
        ["new", "acknowledged"],
        ["acknowledged", "resolved"],
    ]
    assert events[0].details["changes"]["assignee"] == [None, "manager"]
    assert all(event.username == "manager" for event in events)


def test_the_same_change_twice_changes_and_audits_nothing(call, manager):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()
    change = complaints.Change("acknowledged", None, "")
    assert complaints.change(complaint, change, _request(manager))
    assert not complaints.change(complaint, change, _request(manager))
    assert AuditEvent.objects.filter(action=AuditEvent.Action.COMPLAINT_CHANGED).count() == 1


def test_reopening_a_resolved_complaint_clears_when_it_was_resolved(call, manager):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()
    complaints.change(complaint, complaints.Change("resolved", None, ""), _request(manager))
    complaints.change(complaint, complaints.Change("acknowledged", None, ""), _request(manager))
    complaint.refresh_from_db()
    assert complaint.is_open and complaint.resolved_at is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (complaints.Change("closed", None, ""), "is not a state"),
        (complaints.Change("resolved", None, "x" * (complaints.MAX_NOTE + 1)), "over"),
    ],
)
def test_a_bad_change_is_refused_and_changes_nothing(call, manager, change, message):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()
    with pytest.raises(complaints.BadChange, match=message):
        complaints.change(complaint, change, _request(manager))
    complaint.refresh_from_db()
    assert complaint.state == "new" and complaint.note == ""
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.COMPLAINT_CHANGED).exists()


def test_a_complaint_is_assigned_only_to_someone_who_may_handle_complaints(
    call, manager, staff_user
):
    call("c1", code="CPL")
    complaint = Complaint.objects.get()
    with pytest.raises(complaints.BadChange, match="may not handle"):
        complaints.change(complaint, complaints.Change("new", staff_user.pk, ""), _request(manager))
    assert Complaint.objects.get().assignee is None


def test_new_complaints_are_emailed_to_the_managers_once(call, manager, staff_user):
    manager.email = "manager@lender.example"
    manager.save()
    staff_user.email = "agent@lender.example"
    staff_user.save()
    call("c1", code="CPL", borrower="U1")
    call("c2", code="Complan", borrower="U2")

    assert complaints.send_new_complaints() == 2
    assert complaints.send_new_complaints() == 0

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["manager@lender.example"]
    assert "2 new complaints" in email.subject
    assert "/complaints/" in email.body and "c1" in email.body and "c2" in email.body


def test_with_no_manager_to_tell_the_complaints_wait_for_one(call, manager):
    call("c1", code="CPL")
    assert complaints.send_new_complaints() == 0
    assert not mail.outbox
    manager.email = "manager@lender.example"
    manager.save()
    assert complaints.send_new_complaints() == 1
    assert len(mail.outbox) == 1


def test_a_mail_server_that_fails_leaves_the_complaints_for_the_next_try(call, manager, settings):
    manager.email = "manager@lender.example"
    manager.save()
    call("c1", code="CPL")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    assert complaints.send_new_complaints() == 0
    assert Complaint.objects.get().emailed_at is None


def test_the_catch_up_of_complaint_emails_is_in_the_schedule(db):
    from django_celery_beat.models import PeriodicTask

    job = PeriodicTask.objects.get(name=COMPLAINT_EMAILS_TASK_NAME)
    assert job.task == "calls.tasks.email_new_complaints" and job.enabled
