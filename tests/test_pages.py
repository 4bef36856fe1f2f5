"""The first pages: login everywhere, tasks and calls visible once synced."""

import pytest
from django.urls import reverse

from calls import sync
from calls.models import Conclusion, StatusLabel


@pytest.mark.parametrize("name", ["calls:task_list", "calls:call_list"])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sign_in_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and b"Sign in" in response.content


def test_an_empty_tasks_page_says_what_to_do(staff_client):
    response = staff_client.get(reverse("calls:task_list"))
    assert b"No tasks yet" in response.content and b"blu task add" in response.content


def test_the_tasks_page_shows_each_task_with_its_outcomes(staff_client, make_task):
    task = make_task(calls=20)
    sync.sync_task(task)
    task.refresh_from_db()

    page = staff_client.get(reverse("calls:task_list")).content.decode()

    assert task.blu_task_id in page and task.account.name in page
    top_code = max(task.code_counts, key=task.code_counts.get)
    assert f"{top_code} {task.code_counts[top_code]}" in page


def test_the_task_page_shows_its_calls_and_sync_history(staff_client, make_task):
    task = make_task(calls=12)
    sync.sync_task(task)
    call = task.calls.exclude(record_url="").first()

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()

    assert call.call_id in page and call.name in page
    assert "Recent syncs" in page and ">ok" in page
    task.refresh_from_db()
    top_code = max(task.code_counts, key=task.code_counts.get)
    assert Conclusion.objects.get(code=top_code).label in page
    assert "Times are in UTC" in page


def test_the_calls_page_lists_calls_across_tasks(staff_client, make_task):
    first, second = make_task("66547748", calls=3), make_task("66547749", calls=3)
    sync.sync_task(first)
    sync.sync_task(second)
    page = staff_client.get(reverse("calls:call_list")).content.decode()
    assert "66547748" in page and "66547749" in page


def test_a_missing_task_is_404(staff_client):
    assert staff_client.get(reverse("calls:task_detail", args=[999])).status_code == 404


def test_a_recording_link_that_is_not_http_is_not_made_a_link(staff_client, make_task):
    task = make_task(calls=1)
    sync.sync_task(task)
    task.calls.update(record_url="javascript:alert(document.cookie)")

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()

    assert "javascript:" not in page


def test_status_values_show_their_labels_once_named(staff_client, make_task):
    task = make_task(calls=2)
    sync.sync_task(task)
    StatusLabel.objects.create(value=2, label="Finished")

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()

    assert "<td >Finished</td>" in page or ">Finished<" in page
