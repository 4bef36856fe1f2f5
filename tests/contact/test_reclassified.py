"""A code reclassified in the admin or on the Conclusions page queues what its flags feed, as the
promises' rebuild is queued: a complaint flag changed rebuilds the complaints, a right-party flag
changed rechecks the contact limits (and each borrower's last right-party call), so nobody has to
run `blu complaints rebuild` or `blu limits recheck`. A code unflagged as a complaint removes only
the complaints nobody acted on; one a manager acknowledged stays as it was."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from bludash.celery import app
from calls import tasks
from calls.contact import complaints
from calls.models import Borrower, Complaint, Conclusion
from tests.dashboard.test_conclusions_page import formset_data
from tests.helpers import wait_for
from tests.promises.test_reclassified import _admin_change


@pytest.mark.parametrize(
    ("flags", "changed", "queued"),
    [
        ({}, ["label"], []),
        ({"complaint": True}, ["complaint"], ["complaints"]),
        ({}, ["complaint"], ["complaints"]),  # unflagged
        ({"right_party": True}, ["right_party"], ["contact limits"]),
        # Only classified codes count as right party: classifying one changes who was reached.
        ({"right_party": True}, ["classified"], ["contact limits"]),
        ({}, ["classified"], []),
        (
            {"right_party": True, "promise_to_pay": True},
            ["right_party", "promise_to_pay"],
            ["promises", "contact limits"],
        ),
    ],
)
def test_each_flag_queues_the_rebuild_of_what_it_feeds_and_nothing_else(flags, changed, queued):
    assert tasks.rebuilds_for([(Conclusion(code="X", **flags), changed)]) == queued


def test_flagging_a_code_complaint_in_the_admin_queues_one_job_once_committed(
    admin_client_, call, django_capture_on_commit_callbacks
):
    call("c1", code="Whichcompany")
    with django_capture_on_commit_callbacks() as label_only:
        _admin_change(admin_client_, "Whichcompany", label="Which company is calling")
    with django_capture_on_commit_callbacks() as flagged:
        response = _admin_change(admin_client_, "Whichcompany", complaint=True)

    assert response.status_code == 302
    assert Conclusion.objects.get(code="Whichcompany").complaint
    assert (len(label_only), len(flagged)) == (0, 1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")  # the admins' and managers' groups, after a flush
def test_a_worker_follows_complaint_and_right_party_flags_as_they_change(
    call, admin_user, manager, client
):
    call("c1", code="Whichcompany", borrower="U1")
    call("c2", code="Whichcompany", borrower="U2")
    assert not Complaint.objects.exists()
    app.control.purge()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        client.force_login(admin_user)
        assert _admin_change(client, "Whichcompany", complaint=True).status_code == 302
        assert wait_for(lambda: Complaint.objects.count() == 2)

        worked_on = Complaint.objects.get(call__call_id="c1")
        request = RequestFactory().post("/")
        request.user = manager
        complaints.change(worked_on, complaints.Change("acknowledged", None, "rang back"), request)
        client.force_login(manager)
        saved = client.post(
            reverse("calls:conclusions"), formset_data(Whichcompany={"complaint": False})
        )
        assert saved.status_code == 302
        # The untouched complaint goes with the flag; the one a manager acted on stays as it was.
        assert wait_for(lambda: Complaint.objects.count() == 1)
        kept = Complaint.objects.get()
        assert (kept.pk, kept.state, kept.note) == (worked_on.pk, "acknowledged", "rang back")

        assert not Borrower.objects.filter(last_right_party_at__isnull=False).exists()
        saved = client.post(
            reverse("calls:conclusions"), formset_data(Whichcompany={"right_party": True})
        )
        assert saved.status_code == 302
        assert wait_for(
            lambda: Borrower.objects.filter(last_right_party_at__isnull=False).count() == 2
        )


def test_blu_complaints_rebuild_is_what_to_run_when_the_broker_was_down(call, capsys):
    call("c1", code="Whichcompany")
    Conclusion.objects.filter(code="Whichcompany").update(complaint=True)

    call_command("blu", "complaints", "rebuild")

    assert Complaint.objects.get().call.call_id == "c1"
    assert "read 1 call; 1 open complaint" in capsys.readouterr().out
