"""Re-reading stored calls from their raw records: after an account's time zone is corrected, the
stored times and every figure built on them follow, in batches that resume where they stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from calls.ingest import reread, verify
from calls.models import AccountDaySummary, BluAccount, CallRecord, Conclusion, Task, TaskDaySummary
from tests.helpers import BLU_EXAMPLE


def deliver(client, account, *calls):
    records = [{**BLU_EXAMPLE, "taskId": 777, **call} for call in calls]
    url = reverse("calls:blu_callback", kwargs={"token": account.callback_token})
    response = client.post(
        url, json.dumps({"taskId": 777, "records": records}), content_type="application/json"
    )
    assert response.status_code == 200


def test_a_corrected_time_zone_moves_stored_times_and_their_days(client, account, settings):
    settings.TIME_ZONE = "Asia/Colombo"
    # 23:30 in Colombo is the 1st there; read in UTC (the mistake) it is 23:30 UTC, the 2nd.
    deliver(
        client,
        account,
        {
            "callId": "late",
            "startTime": "2024-05-01 23:30:00",
            "answerTime": "",
            "endTime": "2024-05-01 23:31:00",
        },
    )
    BluAccount.objects.filter(pk=account.pk).update(time_zone="UTC")
    account.refresh_from_db()
    reread.request_reread(account)
    reread.run_reread(account)
    assert CallRecord.objects.get().start_time == datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    assert str(TaskDaySummary.objects.get().day) == "2024-05-02"

    account.time_zone = "Asia/Colombo"
    account.save()
    result = reread.run_reread(account)

    assert result.changed == 1
    assert CallRecord.objects.get().start_time == datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    assert str(TaskDaySummary.objects.get().day) == "2024-05-01"
    assert [str(row.day) for row in AccountDaySummary.objects.all()] == ["2024-05-01"]
    assert [line for task in Task.objects.all() for line in verify.task_drift(task)] == []
    assert verify.account_drift(account) == []


def test_a_stopped_reread_goes_on_from_where_it_got_to(client, account):
    deliver(client, account, *({"callId": f"c{n}"} for n in range(5)))
    calls = list(CallRecord.objects.order_by("pk").values_list("pk", flat=True))
    reread.request_reread(account)
    seen = []

    def stop_after_first_batch(result):
        seen.append(result.read)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reread.run_reread(account, batch_size=2, progress=stop_after_first_batch)
    assert BluAccount.objects.get().reread_from_pk == calls[1] + 1

    result = reread.run_reread(account, batch_size=2)
    assert result.read == 3 and result.done  # the three not yet re-read, not all five
    assert BluAccount.objects.get().reread_from_pk is None


def test_saving_a_new_time_zone_in_the_admin_says_so_and_queues_the_reread(
    admin_client_, account, django_capture_on_commit_callbacks
):
    url = reverse("admin:calls_bluaccount_change", args=[account.pk])
    form = {
        "name": account.name,
        "base_url": account.base_url,
        "app_id": account.app_id,
        "app_key": "",
        "time_zone": "Europe/London",
        "is_polled": "on",
        "contact_limits-TOTAL_FORMS": "0",
        "contact_limits-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client_.post(url, form, follow=True)

    assert "will be re-read in Europe/London" in response.content.decode()
    assert BluAccount.objects.get().reread_from_pk == 0
    assert len(queued) == 1


def test_the_reread_command_reports_what_it_changed(client, account, capsys):
    deliver(client, account, {"callId": "c1"})
    call_command("blu", "reread", "--account", account.name)
    assert "re-read 1 call in Asia/Colombo, 0 changed" in capsys.readouterr().out


def test_a_zone_saved_while_a_reread_runs_starts_it_over_in_that_zone(client, account):
    deliver(
        client,
        account,
        *({"callId": f"c{n}", "startTime": "2024-05-01 12:00:00"} for n in range(6)),
    )
    BluAccount.objects.filter(pk=account.pk).update(time_zone="UTC")
    reread.request_reread(account)

    def admin_saves_london_after_the_first_batch(result):
        if result.read == 2:
            BluAccount.objects.filter(pk=account.pk).update(time_zone="Europe/London")
            reread.request_reread(account)

    reread.run_reread(account, batch_size=2, progress=admin_saves_london_after_the_first_batch)

    starts = set(CallRecord.objects.values_list("start_time", flat=True))
    assert starts == {datetime(2024, 5, 1, 11, 0, tzinfo=UTC)}  # 12:00 BST, every call
    assert BluAccount.objects.get().reread_from_pk is None


def test_a_kept_end_time_moves_with_the_reread_start(client, account):
    deliver(
        client,
        account,
        {
            "callId": "c1",
            "startTime": "2024-05-01 10:00:00",
            "answerTime": "2024-05-01 10:00:10",
            "endTime": "2024-05-01 10:01:00",
        },
    )
    # A thinner final record: no end time; the stored one is kept.
    deliver(
        client,
        account,
        {
            "callId": "c1",
            "startTime": "2024-05-01 10:00:00",
            "answerTime": "2024-05-01 10:00:10",
            "endTime": "",
        },
    )
    BluAccount.objects.filter(pk=account.pk).update(time_zone="UTC")
    account.refresh_from_db()
    reread.request_reread(account)
    reread.run_reread(account)

    call = CallRecord.objects.get()
    assert call.start_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert call.end_time - call.start_time == timedelta(minutes=1)


def test_a_code_first_seen_by_a_reread_is_listed_for_classifying(client, account):
    deliver(client, account, {"callId": "c1", "code": "PTP"})
    raw = {**CallRecord.objects.get().raw, "code": "BRANDNEW"}
    CallRecord.objects.update(raw=raw)
    reread.request_reread(account)
    reread.run_reread(account)

    assert Conclusion.objects.get(code="BRANDNEW").classified is False


def test_the_health_page_names_an_account_with_a_reread_pending(admin_client_, account):
    reread.request_reread(account)
    page = admin_client_.get(reverse("calls:health")).content.decode()
    assert "The stored calls of collections are being re-read in Asia/Colombo" in page
    assert "manage.py blu reread --account collections" in page
