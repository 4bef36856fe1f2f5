"""The borrower pages: a searchable list of borrowers, and one borrower's calls across tasks and
accounts with their recent contact; and the links to them from every call."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.dashboard import borrowers as borrower_pages
from calls.ingest import borrower_backfill
from calls.models import Task
from tests.helpers import FAKE_BLU, account_without_blu, html_text, make_call


@pytest.fixture
def world(bare_task):
    """Borrower U1 called in two tasks of one account and in a task of another, over 40 days;
    borrower U2 once; a call that names nobody."""
    now = timezone.now()
    second = Task.objects.create(account=bare_task.account, blu_task_id="778", name="Next day")
    other = account_without_blu("other")
    elsewhere = Task.objects.create(account=other, blu_task_id="900")
    answered = {"answer_time": now, "duration": 65, "record_url": FAKE_BLU}
    make_call(
        bare_task,
        "u1-old",
        now - timedelta(days=40),
        ext_vars={"uniqueId": "U1", "orderId": "O-1"},
        name="Anoji Mohoo",
        phone="0159***0188",
        code="PTP",
        **answered,
    )
    make_call(second, "u1-month", now - timedelta(days=20), ext_vars={"uniqueId": "U1"}, code="D02")
    make_call(
        second,
        "u1-week",
        now - timedelta(days=2),
        ext_vars={"uniqueId": "U1", "orderId": "O-2"},
        name="Anoji Mohoo",
        phone="0159***0188",
        code="NotOneself",
        **answered,
    )
    make_call(elsewhere, "u1-other", now - timedelta(days=1), ext_vars={"uniqueId": "U1"})
    make_call(
        bare_task, "u2", now - timedelta(hours=1), ext_vars={"uniqueId": "U2"}, name="Bob Lee"
    )
    make_call(bare_task, "nobody", now, ext_vars={})
    borrower_backfill.backfill(bare_task.account)
    borrower_backfill.backfill(other)
    return bare_task


def _page(client, key: str, **query):
    return client.get(reverse("calls:borrower_detail", kwargs={"key": key}), query)


def _timeline_ids(response) -> list[str]:
    body = response.content.decode().split('id="borrower-calls"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/calls/\d+/">([^<]+)</a>', body)


def test_a_borrowers_page_lists_every_call_across_tasks_and_accounts_newest_first(
    staff_client, world
):
    response = _page(staff_client, "U1")

    assert response.status_code == 200
    assert _timeline_ids(response) == ["u1-other", "u1-week", "u1-month", "u1-old"]
    page = response.content.decode()
    assert "Next day" in page and "other" in page


def test_a_borrowers_page_counts_calls_in_7_and_30_days_and_the_last_right_party_contact(
    staff_client, world
):
    page = _page(staff_client, "U1").content.decode()
    facts = html_text(page.split('id="borrower-facts"', 1)[1].split("</dl>", 1)[0])

    assert "Calls 4" in facts
    assert "Calls in the last 7 days 2" in facts
    assert "Calls in the last 30 days 3" in facts
    # PTP is a right-party contact; NotOneself (not the right person) is not.
    forty_days_ago = timezone.localtime(timezone.now() - timedelta(days=40))
    assert f"Last right-party contact {forty_days_ago:%Y-%m-%d}" in facts
    assert "orderId O-2" in facts and "0159***0188" in facts


def test_recordings_play_on_the_borrowers_page(staff_client, world):
    page = _page(staff_client, "U1").content.decode()

    assert page.count('<audio class="recording"') == 2
    assert FAKE_BLU not in page  # Blu's bearer link never leaves the server


def test_a_long_timeline_pages_by_cursor(staff_client, world, monkeypatch):
    monkeypatch.setattr(borrower_pages, "TIMELINE_PAGE", 3)
    first = _page(staff_client, "U1")
    older = re.search(r'href="\?older=([^"]+)"', first.content.decode())[1]

    assert _timeline_ids(first) == ["u1-other", "u1-week", "u1-month"]
    assert _timeline_ids(_page(staff_client, "U1", older=older)) == ["u1-old"]
    # A cursor nobody made shows the newest calls.
    assert _timeline_ids(_page(staff_client, "U1", older="nonsense"))[0] == "u1-other"


def test_an_unknown_borrower_is_404(staff_client, world):
    assert _page(staff_client, "nobody-by-this-key").status_code == 404


def _list_keys(client, **query) -> list[str]:
    page = client.get(reverse("calls:borrower_list"), query).content.decode()
    body = page.split('class="table borrowers-table"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/borrowers/([^"]+)/">', body)


def test_the_borrower_list_shows_the_last_called_first(staff_client, world):
    assert _list_keys(staff_client) == ["U2", "U1", "U1"]


@pytest.mark.parametrize(
    "term, keys",
    [("U2", ["U2"]), ("O-2", ["U1"]), ("0159***", ["U1"]), ("anoji", ["U1"]), ("bob l", ["U2"])],
)
def test_the_borrower_search_finds_by_key_order_phone_or_name(staff_client, world, term, keys):
    assert _list_keys(staff_client, q=term) == keys


def test_the_borrower_list_sorts_by_calls_in_7_days(staff_client, world):
    keys = _list_keys(staff_client, sort="-calls_7d")
    assert keys[0] == "U1"
    page = staff_client.get(reverse("calls:borrower_list"), {"sort": "-calls_7d"})
    row = page.content.decode().split('class="table borrowers-table"', 1)[1]
    assert "Calls in 7 days" in row


def test_every_call_and_call_list_row_links_to_its_borrower(staff_client, world):
    call = world.calls.get(call_id="u2")
    detail = staff_client.get(reverse("calls:call_detail", args=[call.pk])).content.decode()
    assert 'href="/borrowers/U2/"' in detail

    listing = staff_client.get(reverse("calls:call_list"), {"started_after": ""}).content.decode()
    assert 'href="/borrowers/U2/"' in listing and 'href="/borrowers/U1/"' in listing


@pytest.mark.parametrize("name", ["calls:borrower_list", "calls:borrower_detail"])
def test_outsiders_get_the_polite_page_and_anonymous_visitors_sign_in(
    client, outsider, world, name
):
    url = reverse(name, kwargs={"key": "U1"} if name == "calls:borrower_detail" else None)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(url).status_code == 403
