"""Who may open what: every page for every kind of person, in one table.

The pages' own tests check what each role sees on them; this file checks the doors.
"""

import pytest
from django.urls import reverse

from calls.ingest import sync
from tests.helpers import DASHBOARD_PAGES, dashboard_url


@pytest.fixture
def world(make_task):
    task = make_task(calls=8)
    sync.sync_task(task)
    call = task.calls.exclude(record_url="").first()
    return {"task": task, "call": call}


def url_of(name: str, world) -> str:
    return dashboard_url(name, world["task"], world["call"])


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, world, name):
    response = client.get(url_of(name, world))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_someone_in_no_group_gets_a_polite_page_and_no_data(client, outsider, world, name):
    client.force_login(outsider)
    response = client.get(url_of(name, world))
    assert response.status_code == 403
    page = response.content.decode()
    assert "not in any bludash group" in page
    assert world["task"].blu_task_id not in page and world["call"].name not in page


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
@pytest.mark.parametrize("person", ["staff_user", "manager", "admin_user"])
def test_every_role_may_open_every_page(client, request, world, name, person):
    client.force_login(request.getfixturevalue(person))
    response = client.get(url_of(name, world))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("person", "allowed"), [("staff_user", False), ("manager", True), ("admin_user", True)]
)
def test_only_managers_and_admins_may_export(client, request, world, person, allowed):
    client.force_login(request.getfixturevalue(person))
    page = client.get(reverse("calls:call_list"), {"started_after": ""}).content.decode()
    export = client.get(reverse("calls:call_list"), {"started_after": "", "_export": "csv"})

    assert ('id="export-csv"' in page) is allowed
    assert (export.status_code == 200) is allowed
    if allowed:
        assert world["call"].call_id in b"".join(export.streaming_content).decode()


@pytest.mark.parametrize(
    ("person", "allowed"), [("staff_user", False), ("manager", False), ("admin_user", True)]
)
def test_only_admins_may_open_the_admin_and_manage_blu_accounts(
    client, request, db, person, allowed
):
    client.force_login(request.getfixturevalue(person))
    response = client.get(reverse("admin:index"))
    if allowed:
        assert response.status_code == 200 and "Blu accounts" in response.content.decode()
        assert client.get(reverse("admin:calls_bluaccount_add")).status_code == 200
    else:
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
        assert client.get(reverse("admin:calls_bluaccount_changelist")).status_code == 302


@pytest.mark.parametrize(
    ("person", "allowed"), [("staff_user", False), ("manager", False), ("admin_user", True)]
)
def test_only_admins_may_open_the_sync_health_page(client, request, world, person, allowed):
    client.force_login(request.getfixturevalue(person))
    response = client.get(reverse("calls:health"))
    assert response.status_code == (200 if allowed else 403)
    assert (world["task"].blu_task_id in response.content.decode()) is allowed


@pytest.mark.parametrize(
    ("person", "shown"), [("staff_user", False), ("manager", False), ("admin_user", True)]
)
def test_the_admin_link_shows_only_for_admins(client, request, db, person, shown):
    client.force_login(request.getfixturevalue(person))
    page = client.get(reverse("calls:overview")).content.decode()
    assert (reverse("admin:index") in page) is shown


def test_signing_out_shows_a_styled_page(staff_client):
    response = staff_client.post(reverse("logout"), follow=True)
    assert "Sign in" in response.content.decode()


def test_a_missing_page_says_so_in_the_dashboard_style(staff_client):
    response = staff_client.get("/tasks/999999/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


# The pages for those who act on the robot's calls: Managers (and Admins, who have their rights).
MANAGER_PAGES = ["calls:complaint_list", "calls:review_list", "calls:review_accuracy"]


@pytest.mark.parametrize("name", MANAGER_PAGES)
@pytest.mark.parametrize(
    ("person", "status"),
    [("staff_user", 403), ("manager", 200), ("admin_user", 200), ("outsider", 403)],
)
def test_only_managers_and_admins_may_open_the_managers_pages(
    client, request, db, name, person, status
):
    client.force_login(request.getfixturevalue(person))
    assert client.get(reverse(name)).status_code == status


@pytest.mark.parametrize("name", MANAGER_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in_from_the_managers_pages(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
