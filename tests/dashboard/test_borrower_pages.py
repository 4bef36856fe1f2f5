"""The borrower pages: a searchable list of borrowers, and one borrower's calls across tasks and
accounts with their recent contact; and the links to them from every call."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse
from django.utils import timezone

from calls.dashboard import borrowers as borrower_pages
from calls.ingest import borrower_backfill
from calls.models import Borrower, CallRecord, Task
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


def test_someone_who_may_see_borrowers_but_not_calls_sees_no_call_on_them(client, world):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("borrowers-only", password="pw-Long-enough-123")
    user.user_permissions.add(Permission.objects.get(codename="view_borrower"))
    client.force_login(user)

    for url in [reverse("calls:borrower_list"), reverse("calls:borrower_detail", args=["U1"])]:
        response = client.get(url)
        assert response.status_code == 403
        assert "u1-week" not in response.content.decode()
    assert 'href="/borrowers/"' not in client.get(reverse("calls:overview")).content.decode()


def test_blus_user_id_names_one_accounts_borrower_and_two_accounts_are_two_pages(
    staff_client, bare_task
):
    other = account_without_blu("other")
    elsewhere = Task.objects.create(account=other, blu_task_id="900")
    make_call(bare_task, "alice-call", ext_vars={}, user_id="17", name="Alice")
    make_call(elsewhere, "bob-call", ext_vars={}, user_id="17", name="Bob")
    borrower_backfill.backfill(bare_task.account)
    borrower_backfill.backfill(other)

    for call_id, shown, hidden in [("alice-call", "Alice", "Bob"), ("bob-call", "Bob", "Alice")]:
        call = CallRecord.objects.get(call_id=call_id)
        detail = staff_client.get(reverse("calls:call_detail", args=[call.pk])).content.decode()
        link = re.search(r'id="call-borrower"><a href="([^"]+)"', detail)[1].replace("&amp;", "&")
        page = html_text(staff_client.get(link).content.decode())
        assert call_id in page and shown in page and hidden not in page
    # Without the account, the key names two people: no page merges them.
    assert _page(staff_client, "userId:17").status_code == 404


def test_a_borrower_whose_calls_all_moved_to_another_has_no_page(staff_client, world):
    account = world.account
    account.borrower_keys = "orderId"
    account.save()
    borrower_backfill.backfill(account, relink=True)

    assert _page(staff_client, "U2").status_code == 404


ODD_KEYS = [
    ".",
    "..",
    "../tasks",
    "a/../../tasks",
    "a/./b",
    "~.",
    "~~..",
    "a/b",
    "a/",
    "50%",
    "a?b#c",
    "%2e%2E",
    "Đặng 1",
    "a%2Fb",
    "back\\slash",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_every_key_links_to_its_own_page_as_a_browser_resolves_the_link(
    staff_client, bare_task, key
):
    from urllib.parse import urljoin, urlsplit

    call = make_call(bare_task, "odd-call", ext_vars={"uniqueId": key})
    borrower_backfill.backfill(bare_task.account)
    detail = staff_client.get(reverse("calls:call_detail", args=[call.pk])).content.decode()
    link = re.search(r'id="call-borrower"><a href="([^"]+)"', detail)[1]

    # urljoin removes dot segments as a browser does (RFC 3986 5.2.4); %2E is WHATWG's too.
    resolved = urlsplit(urljoin(f"http://testserver/calls/{call.pk}/", link)).path
    assert resolved == link and ".%2e" not in link.lower() and "/%2e" not in link.lower()
    response = staff_client.get(resolved)
    assert response.status_code == 200 and "odd-call" in response.content.decode()
    assert html_text(response.content.decode()).count(key) >= 1


@pytest.mark.parametrize("key", ["a\nb", "tab\there"])
def test_a_key_stored_with_a_control_character_breaks_no_page(staff_client, bare_task, key):
    call = make_call(bare_task, "odd-call")
    borrower = Borrower.objects.create(account=bare_task.account, key=key, key_source="uniqueId")
    call.borrower = borrower
    call.save()

    for url in [
        reverse("calls:call_list"),
        reverse("calls:call_detail", args=[call.pk]),
        reverse("calls:task_detail", args=[bare_task.pk]),
        reverse("calls:borrower_list"),
        borrower.get_absolute_url(),
    ]:
        assert staff_client.get(url).status_code == 200, url


@pytest.mark.parametrize("term", ["émile", "ÉMILE", "Émile Ñú", "ñúñez"])
def test_a_search_by_a_name_with_accents_finds_it_in_any_case(staff_client, bare_task, term):
    make_call(bare_task, "e1", ext_vars={"uniqueId": "U-E1"}, name="Émile Ñúñez")
    make_call(bare_task, "n1", ext_vars={"uniqueId": "U-N1"}, name="Ñúñez Émile")
    borrower_backfill.backfill(bare_task.account)

    response = staff_client.get(reverse("calls:borrower_list"), {"q": term})
    found = "U-E1" if term[0] in "éÉ" else "U-N1"
    assert found in response.content.decode()


def _listed(client, **query) -> list[str]:
    body = client.get(reverse("calls:borrower_list"), query).content.decode()
    return re.findall(r'<a href="/borrowers/([^/"]+)/">', body)


@pytest.mark.parametrize("sort", ["-last_call_at", "last_call_at", "-calls_7d", "calls_7d"])
def test_a_search_matching_by_key_orderid_phone_and_name_pages_through_every_match_in_order(
    staff_client, bare_task, sort
):
    now = timezone.now()
    matches = {  # each found by another of the four tests
        "77-key": {"ext_vars": {"uniqueId": "77-key"}},
        "K-order": {"ext_vars": {"uniqueId": "K-order", "orderId": "77-1"}},
        "K-phone": {"ext_vars": {"uniqueId": "K-phone"}, "phone": "77***01"},
        "K-name": {"ext_vars": {"uniqueId": "K-name"}, "name": "77 Ana"},
        "77-key2": {"ext_vars": {"uniqueId": "77-key2"}},
    }
    for n, (key, fields) in enumerate(matches.items()):
        for c in range(n % 3 + 1):
            make_call(bare_task, f"{key}-{c}", now - timedelta(hours=n * 5 + c), **fields)
    make_call(bare_task, "other", now, ext_vars={"uniqueId": "K-other"})
    borrower_backfill.backfill(bare_task.account)

    field, reverse_order = sort.removeprefix("-"), sort.startswith("-")
    expected = [
        b.key
        for b in sorted(
            Borrower.objects.exclude(key="K-other"),
            key=lambda b: (getattr(b, field), b.pk),
            reverse=reverse_order,
        )
    ]
    pages = [_listed(staff_client, q="77", sort=sort, per_page=2, page=n) for n in (1, 2, 3)]
    assert [key for page in pages for key in page] == expected


def test_the_borrower_list_offers_no_page_past_its_last_and_answers_a_deeper_one_with_the_first(
    staff_client, bare_task, monkeypatch
):
    from calls.dashboard.views.borrowers import BorrowerPaginator

    monkeypatch.setattr(BorrowerPaginator, "max_page", 2)
    now = timezone.now()
    for n in range(4):
        make_call(bare_task, f"c{n}", now - timedelta(hours=n), ext_vars={"uniqueId": f"U{n}"})
    borrower_backfill.backfill(bare_task.account)

    last = staff_client.get(reverse("calls:borrower_list"), {"per_page": 1, "page": 2})
    assert _listed(staff_client, per_page=1, page=2) == ["U1"]
    assert "page=3" not in last.content.decode()
    assert _listed(staff_client, per_page=1, page=3) == ["U0"]


def _follow(client, url: str, link_id: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)"[^>]*id="{link_id}"', client.get(url).content.decode())
    return html.unescape(found[1]) if found else None


@pytest.mark.parametrize("sort", ["-last_call_at", "last_call_at", "-calls_7d", "calls_7d"])
def test_the_borrower_list_pages_by_cursor_through_every_borrower_and_back(
    staff_client, bare_task, sort
):
    """Next links walk every borrower once in the sort's order (ties by id), previous links
    walk back, and no link names a page number: any page costs what the first costs."""
    now = timezone.now()
    for n in range(7):
        for c in range(n % 3 + 1):  # calls in 7 days: 1, 2 or 3, so the counts tie
            make_call(
                bare_task,
                f"b{n}-{c}",
                now - timedelta(hours=n * 5 + c),
                ext_vars={"uniqueId": f"B{n}"},
            )
    make_call(bare_task, "old", now - timedelta(days=30), ext_vars={"uniqueId": "B-old"})
    borrower_backfill.backfill(bare_task.account)
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    expected = [
        b.key
        for b in sorted(
            Borrower.objects.all(), key=lambda b: (getattr(b, field), b.pk), reverse=descending
        )
    ]

    url = reverse("calls:borrower_list") + f"?sort={sort}&per_page=3"
    pages, urls = [], []
    while url:
        urls.append(url)
        pages.append(_listed(staff_client, **dict(parse_qsl(url.split("?", 1)[1]))))
        body = staff_client.get(url).content.decode().split("borrowers-table")[1]
        assert not re.search(r"[?&;]page=", body)
        url = _follow(staff_client, url, "borrowers-next")
    assert [key for page in pages for key in page] == expected
    assert [len(page) for page in pages] == [3, 3, 2]

    back = _follow(staff_client, urls[-1], "borrowers-previous")
    assert _listed(staff_client, **dict(parse_qsl(back.split("?", 1)[1]))) == pages[-2]
    assert _follow(staff_client, urls[0], "borrowers-previous") is None
    # A header clicked on a later page sorts from the first row, not from another sort's cursor.
    other = "calls_7d" if field == "last_call_at" else "-last_call_at"
    query = dict(parse_qsl(urls[1].split("?", 1)[1]), sort=other)
    assert len(_listed(staff_client, **query)) == 3


def test_a_search_pages_by_cursor_too_and_an_unreadable_cursor_shows_the_first_page(
    staff_client, bare_task
):
    now = timezone.now()
    for n in range(5):
        make_call(bare_task, f"k{n}", now - timedelta(hours=n), ext_vars={"uniqueId": f"77-{n}"})
    make_call(bare_task, "other", now, ext_vars={"uniqueId": "K-other"})
    borrower_backfill.backfill(bare_task.account)

    url = reverse("calls:borrower_list") + "?q=77&per_page=2"
    second = _follow(staff_client, url, "borrowers-next")
    assert "q=77" in second
    assert _listed(staff_client, **dict(parse_qsl(second.split("?", 1)[1]))) == ["77-2", "77-3"]

    response = staff_client.get(reverse("calls:borrower_list"), {"q": "77", "after": "x.1_1"})
    assert "could not be read" in response.content.decode()
    assert _listed(staff_client, q="77", after="x.1_1")[:1] == ["77-0"]
