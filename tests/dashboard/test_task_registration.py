"""Managers register the day's tasks from the dashboard: one or many ids, each synced at once
and audited; bad input changes nothing."""

from __future__ import annotations

from django.urls import reverse

from calls.models import AuditEvent, Task

URL = reverse("calls:task_register")


def test_a_manager_registers_pasted_ids_each_queued_and_audited(
    manager_client, account, django_capture_on_commit_callbacks
):
    Task.objects.create(account=account, blu_task_id="100")
    with django_capture_on_commit_callbacks() as queued:
        response = manager_client.post(
            URL, {"account": account.pk, "task_ids": "100\n200, 300;300  400"}, follow=True
        )

    assert response.redirect_chain[-1][0] == reverse("calls:task_list")
    page = response.content.decode()
    assert "Registered 3 tasks of collections, each syncing now: 200, 300, 400." in page
    assert "Registered already, left as they were: 100." in page
    assert sorted(Task.objects.values_list("blu_task_id", flat=True)) == [
        "100",
        "200",
        "300",
        "400",
    ]
    assert len(queued) == 3  # one sync queued per new task, once the registration committed
    events = AuditEvent.objects.filter(action=AuditEvent.Action.TASK_REGISTERED)
    assert sorted(events.values_list("target", flat=True)) == [
        "collections/200",
        "collections/300",
        "collections/400",
    ]
    assert {event.username for event in events} == {"manager"}


def test_registering_again_a_task_blu_did_not_know_polls_it_again_at_once(
    manager_client, account, django_capture_on_commit_callbacks
):
    stopped = Task.objects.create(
        account=account, blu_task_id="100", is_polled=False, blu_unknown_tries=4
    )
    with django_capture_on_commit_callbacks() as queued:
        response = manager_client.post(URL, {"account": account.pk, "task_ids": "100"}, follow=True)

    page = response.content.decode()
    assert "Blu did not know 1 task of collections; polling it again, syncing now: 100." in page
    stopped.refresh_from_db()
    assert stopped.is_polled and stopped.blu_unknown_tries == 0 and len(queued) == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.TASK_REGISTERED)
    assert event.target == "collections/100"


def test_an_id_that_is_no_task_id_registers_nothing_and_says_which(manager_client, account):
    response = manager_client.post(URL, {"account": account.pk, "task_ids": "500 6\u200b00"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "No task was registered" in page and "Not a Blu task id" in page
    assert not Task.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.TASK_REGISTERED).exists()


def test_an_empty_paste_is_refused(manager_client, account):
    response = manager_client.post(URL, {"account": account.pk, "task_ids": "  \n "})
    assert response.status_code == 200 and not Task.objects.exists()


def test_a_disabled_account_cannot_be_chosen(manager_client, account):
    account.is_polled = False
    account.save()
    response = manager_client.post(URL, {"account": account.pk, "task_ids": "700"})
    assert "Choose one of the enabled Blu accounts." in response.content.decode()
    assert not Task.objects.exists()


def test_staff_may_not_register_tasks(staff_client, account):
    assert staff_client.get(URL).status_code == 403
    assert staff_client.post(URL, {"account": account.pk, "task_ids": "800"}).status_code == 403
    assert not Task.objects.exists()


def test_the_empty_tasks_page_points_managers_to_registration(manager_client, db):
    page = manager_client.get(reverse("calls:task_list")).content.decode()
    assert f'href="{URL}"' in page and "register the day's task ids</a>" in page


def test_the_empty_tasks_page_tells_staff_who_registers_tasks(staff_client, db):
    page = staff_client.get(reverse("calls:task_list")).content.decode()
    assert f'href="{URL}"' not in page and "a manager registers the day" in page
