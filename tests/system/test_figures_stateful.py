"""Every figure, on every page, after any interleaving of writes: hypothesis drives a
RuleBasedStateMachine through sync pages, callbacks (new, duplicate, late, out of order, for
polled and retired tasks, naming another task, thinner finals), reclassifications through the
Conclusions page's function and the admin, and time-zone changes with a re-read. After every
step each task's kept figures equal a recount from its stored calls, and the overview, the tasks
list and the task page agree with them.

Each example runs in a transaction rolled back at its end, so examples do not see each other.
BLUDASH_HYPOTHESIS_SCALE=20 runs twenty times as many examples, for a search by hand.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from calls.dashboard.views.overview import overview_numbers
from calls.dashboard.views.tasks import task_numbers
from calls.ingest import callbacks, page_writer, reread, summaries, verify
from calls.models import BluAccount, CallRecord, Conclusion, Task, TaskDaySummary

SCALE = int(os.environ.get("BLUDASH_HYPOTHESIS_SCALE", "1"))
TASK_IDS = ["501", "502"]
CALL_IDS = [f"c{n}" for n in range(8)]
CODES = ["PTP", "AP", "NotOneself", "D03", "Willing", "NEWCODE", ""]
ZONES = ["Asia/Colombo", "Europe/London", "America/New_York", "UTC"]


@st.composite
def blu_records(draw: st.DrawFn, task_id: str) -> dict[str, Any]:
    """One record as Blu sends it: a call started in the last ten days (or with no readable
    start), in progress or over, answered or not, fat or thin."""
    call_id = draw(st.sampled_from(CALL_IDS))
    code = draw(st.sampled_from(CODES))
    minutes_ago = draw(st.integers(min_value=5, max_value=10 * 24 * 60))
    start = timezone.localtime(timezone.now() - timedelta(minutes=minutes_ago))
    answered = draw(st.booleans())
    ended = bool(code) or draw(st.booleans())
    thin = draw(st.booleans())  # a thinner record: no end time or talk time even when over
    fmt = "%Y-%m-%d %H:%M:%S"
    return {
        "taskId": task_id,
        "callId": call_id,
        "userId": "u" + call_id,
        "name": "Borrower " + call_id,
        "code": code,
        "desc": "",
        "startTime": "" if draw(st.integers(0, 9)) == 0 else start.strftime(fmt),
        "answerTime": (start + timedelta(seconds=5)).strftime(fmt) if answered else "",
        "endTime": "" if thin or not ended else (start + timedelta(seconds=50)).strftime(fmt),
        "duration": None if thin or not answered else draw(st.integers(0, 600)),
        "extVars": "{}",
    }


class Figures(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.account = BluAccount(
            name="stateful", base_url="https://blu.invalid", app_id="777", time_zone="UTC"
        )
        self.account.set_app_key("stateful-app-key-0123456789")
        self.account.save()
        self.tasks = {
            task_id: Task.objects.create(account=self.account, blu_task_id=task_id)
            for task_id in TASK_IDS
        }
        self.admin = Client()
        self.admin.force_login(_admin())

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- writes ---------------------------------------------------------------------------

    @rule(data=st.data(), task_id=st.sampled_from(TASK_IDS), size=st.integers(1, 4))
    def sync_page(self, data, task_id, size) -> None:
        task = self.tasks[task_id]
        records = [data.draw(blu_records(task_id)) for _ in range(size)]
        page_writer.store_records(task, records, median=False)
        summaries.refresh_median_talk(task)  # as the end of a sync does

    @rule(data=st.data(), task_id=st.sampled_from(TASK_IDS), size=st.integers(1, 3))
    def callback(self, data, task_id, size) -> None:
        records = [data.draw(blu_records(task_id)) for _ in range(size)]
        callbacks.receive(
            self.account, json.dumps({"taskId": task_id, "records": records}).encode()
        )

    @rule(task_id=st.sampled_from(TASK_IDS))
    def retire(self, task_id) -> None:
        Task.objects.filter(pk=self.tasks[task_id].pk).update(is_polled=False)

    @rule(code=st.sampled_from([c for c in CODES if c]), promise=st.booleans(), paid=st.booleans())
    def reclassify_on_the_page(self, code, promise, paid) -> None:
        # What the Conclusions page's save does (calls/dashboard/views/conclusions.py).
        Conclusion.objects.update_or_create(
            code=code,
            defaults={
                "label": code,
                "classified": True,
                "connected": True,
                "live_person": True,
                "right_party": promise or paid,
                "promise_to_pay": promise,
                "already_paid": paid,
            },
        )
        summaries.apply_conclusion_flags()

    @rule(code=st.sampled_from(["PTP", "AP", "Willing"]), promise=st.booleans())
    def reclassify_in_the_admin(self, code, promise) -> None:
        conclusion = Conclusion.objects.filter(code=code).first()
        if conclusion is None:
            return
        form = {
            "code": code,
            "label": conclusion.label,
            "classified": "on",
            "connected": "on",
            "live_person": "on",
            "right_party": "on",
        }
        if promise:
            form["promise_to_pay"] = "on"
        url = reverse("admin:calls_conclusion_change", args=[conclusion.pk])
        assert self.admin.post(url, form).status_code == 302

    @precondition(lambda self: CallRecord.objects.exists())
    @rule(zone=st.sampled_from(ZONES))
    def change_time_zone_and_reread(self, zone) -> None:
        BluAccount.objects.filter(pk=self.account.pk).update(time_zone=zone)
        self.account.refresh_from_db()
        reread.request_reread(self.account)
        reread.run_reread(self.account, batch_size=3)

    # --- what every page must agree on ---------------------------------------------------

    @invariant()
    def every_figure_equals_a_recount(self) -> None:
        for task in Task.objects.all():
            assert verify.task_drift(task) == []
        # The overview's day totals: the sums of the account's tasks' day rows.
        assert verify.account_drift(self.account) == []

    @invariant()
    def the_pages_agree(self) -> None:
        tasks = list(Task.objects.all())
        for task in tasks:
            page = task_numbers(task)  # the task page's funnel and breakdown
            assert page["kpis"].placed == task.calls_total  # == the tasks list's column
        month = overview_numbers()
        # Outside the month on either side: older days, and days after today in the company's
        # zone (a call re-read in a zone west of the company's may land tomorrow there).
        outside = TaskDaySummary.objects.filter(day__isnull=False).exclude(
            day__range=(month["month"].first, month["month"].last)
        )  # the undated row is the page's own "undated"
        shown = month["month"].kpis.placed + month["undated"]
        assert shown + sum(outside.values_list("calls", flat=True)) == sum(
            task.calls_total for task in tasks
        )


def _admin():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="stateful-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    return user


@pytest.mark.django_db
def test_figures_stay_right_through_any_interleaving_of_writes(settings_tz):
    Figures.TestCase.settings = settings(
        max_examples=60 * SCALE,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Figures.TestCase().runTest()


@pytest.fixture
def settings_tz(settings):
    settings.TIME_ZONE = "Asia/Colombo"
    return settings
