"""A code reclassified (its promise-to-pay or already-paid flag changed, in the admin or on the
Conclusions page) queues the rebuild of the promises, so the promises page agrees with the new
flags without anyone running `blu promises rebuild`; a change to anything else queues nothing."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.urls import reverse

from bludash.celery import app
from calls.models import Conclusion, Promise
from tests.dashboard.test_conclusions_page import formset_data
from tests.helpers import html_text, wait_for

SLOT = ["2024-01-02 17:00:00", "2024-01-02 18:00:00"]
BROKEN = {"state": "broken", "ends_after": "2023-12-01", "ends_before": "2024-02-01"}
PROMISE = {"classified": True, "connected": True, "live_person": True, "right_party": True}


def _admin_change(client, code: str, **flags: bool):
    conclusion = Conclusion.objects.get(code=code)
    values = {
        "code": conclusion.code,
        "label": conclusion.label,
        **{flag: getattr(conclusion, flag) for flag in [*PROMISE, "promise_to_pay"]},
        **flags,
    }
    data = {name: ("on" if value is True else value) for name, value in values.items() if value}
    return client.post(reverse("admin:calls_conclusion_change", args=[conclusion.pk]), data)


def _broken_count(client) -> int:
    text = html_text(client.get(reverse("calls:promise_list"), BROKEN).content.decode())
    return int(text.split("broken", 1)[1].split()[0])


def test_only_a_change_to_a_promise_flag_queues_a_rebuild(
    admin_client_, call, django_capture_on_commit_callbacks
):
    call("c1", code="MaybeFriday", slot=SLOT)

    with django_capture_on_commit_callbacks() as label_only:
        _admin_change(admin_client_, "MaybeFriday", label="Maybe on Friday")
    with django_capture_on_commit_callbacks() as flagged:
        response = _admin_change(admin_client_, "MaybeFriday", **PROMISE, promise_to_pay=True)

    assert response.status_code == 302
    assert Conclusion.objects.get(code="MaybeFriday").promise_to_pay
    assert (len(label_only), len(flagged)) == (0, 1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("role_groups")  # the admins' and managers' groups, after a flush
def test_a_worker_rebuilds_the_promises_after_the_admin_or_a_manager_reclassifies(
    call, admin_user, manager, client
):
    call("c1", code="MaybeFriday", slot=SLOT)
    call("c2", code="MaybeFriday", borrower="U2", slot=SLOT)
    assert not Promise.objects.exists()
    app.control.purge()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        client.force_login(admin_user)
        assert (
            _admin_change(client, "MaybeFriday", **PROMISE, promise_to_pay=True).status_code == 302
        )
        assert wait_for(lambda: Promise.objects.count() == 2)
        assert _broken_count(client) == 2

        client.force_login(manager)
        saved = client.post(
            reverse("calls:conclusions"), formset_data(MaybeFriday={"promise_to_pay": False})
        )
        assert saved.status_code == 302
        assert wait_for(lambda: not Promise.objects.exists())
        assert _broken_count(client) == 0


def test_a_flagged_code_deleted_queues_a_rebuild_and_an_unflagged_one_does_not(
    client, call, django_capture_on_commit_callbacks
):
    call("c1", code="MaybeFriday", slot=SLOT)
    Conclusion.objects.filter(code="MaybeFriday").update(**PROMISE, promise_to_pay=True)
    Conclusion.objects.create(code="ZZJUNK", label="Junk")
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 20))

    queued = []
    for code in ("ZZJUNK", "MaybeFriday"):
        url = reverse("admin:calls_conclusion_delete", args=[Conclusion.objects.get(code=code).pk])
        with django_capture_on_commit_callbacks() as callbacks:
            assert client.post(url, {"post": "yes"}).status_code == 302
        queued.append(len(callbacks))

    assert queued == [0, 1]
    assert not Conclusion.objects.filter(code__in=["ZZJUNK", "MaybeFriday"]).exists()
