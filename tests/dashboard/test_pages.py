"""The pages every visitor meets: sign-in (and no password reset), and the calls table seen from
the calls and task pages.

The tasks pages have their own files: test_task_list.py, test_task_detail.py.
"""

import pytest
from django.core import mail
from django.urls import reverse

from calls.ingest import sync
from calls.models import StatusLabel
from tests.helpers import html_text


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(reverse("calls:call_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sign_in_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and b"Sign in" in response.content


@pytest.mark.parametrize("form", ["login", "admin:login"])
def test_the_sign_in_pages_say_an_administrator_sets_a_forgotten_password(client, db, form):
    page = html_text(client.get(reverse(form)).content.decode())

    assert "Forgotten your password? Ask an administrator to set a new one" in page
    assert "no password reset by email" in page


def test_nobody_can_have_a_password_reset_link_sent_to_the_log(client, admin_user, settings):
    # Without a mail server emails are written to the log, where a reset link is a sign-in for
    # whoever reads it; the sign-in pages say an administrator sets a new password instead.
    admin_user.email = "boss@example.com"
    admin_user.save()

    response = client.post("/accounts/password_reset/", {"email": "boss@example.com"})

    assert response.status_code == 404
    assert mail.outbox == []
    assert client.get(reverse("login")).status_code == 200


def test_the_calls_page_lists_calls_across_tasks(staff_client, make_task):
    first, second = make_task("66547748", calls=3), make_task("66547749", calls=3)
    sync.sync_task(first)
    sync.sync_task(second)
    page = staff_client.get(reverse("calls:call_list")).content.decode()
    assert "66547748" in page and "66547749" in page


def test_a_recording_link_that_is_not_http_is_not_made_a_link(staff_client, make_task):
    task = make_task(calls=1)
    sync.sync_task(task)
    task.calls.update(record_url="javascript:alert(document.cookie)")

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()

    assert "javascript:" not in page


def test_status_values_show_their_labels_once_named(staff_client, make_task):
    task = make_task(calls=2)
    sync.sync_task(task)
    StatusLabel.objects.filter(value=2).update(label="Finished")

    page = staff_client.get(reverse("calls:task_detail", args=[task.pk])).content.decode()

    assert "<td >Finished</td>" in page or ">Finished<" in page
