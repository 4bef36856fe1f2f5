"""The conclusions page: everyone reads the code dictionary, managers and admins edit it, and
the task rates follow an edit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from calls.ingest import sync
from calls.models import Conclusion
from tests.helpers import html_text

URL = reverse("calls:conclusions")


def formset_data(**changes: dict) -> dict[str, str]:
    """The form as the page submits it if rendered now (with the values it showed, as hidden
    initial values), with `changes` by code."""
    conclusions = list(Conclusion.objects.order_by("code"))
    data = {
        "form-TOTAL_FORMS": str(len(conclusions)),
        "form-INITIAL_FORMS": str(len(conclusions)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
    }
    flags = ["classified", "connected", "live_person", "right_party"]
    flags += ["promise_to_pay", "already_paid", "complaint"]
    for i, c in enumerate(conclusions):
        values = {"label": c.label, **{f: getattr(c, f) for f in flags}}
        values.update(changes.get(c.code, {}))
        data[f"form-{i}-id"] = str(c.pk)
        data[f"form-{i}-label"] = values["label"]
        data[f"initial-form-{i}-label"] = c.label
        for flag in flags:
            if values[flag]:
                data[f"form-{i}-{flag}"] = "on"
            data[f"initial-form-{i}-{flag}"] = str(getattr(c, flag))
    return data


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append(dict(attrs))


def rendered_form(page: str) -> tuple[dict[str, str], dict[str, str]]:
    """What a browser would submit from the page as rendered, and each code's field prefix."""
    parser = _Inputs()
    parser.feed(page)
    data, prefixes = {}, {}
    for attrs in parser.inputs:
        name = attrs.get("name")
        if not name:
            continue
        if attrs.get("type") == "checkbox":
            if "checked" in attrs:
                data[name] = "on"
        else:
            data[name] = attrs.get("value") or ""
        if name.startswith("form-") and name.endswith("-label"):
            code = str(attrs["aria-label"]).split(": ")[0]
            prefixes[code] = name.removesuffix("label")
    return data, prefixes


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_an_anonymous_post_changes_nothing(client, db):
    response = client.post(URL, formset_data(D00={"connected": True}))

    assert response.status_code == 302 and not Conclusion.objects.get(code="D00").connected


def test_someone_in_no_group_gets_the_polite_no_access_page(client, outsider):
    client.force_login(outsider)

    response = client.get(URL)

    assert response.status_code == 403 and b"not in any bludash group yet" in response.content


def test_staff_read_the_dictionary_without_a_form(staff_client):
    response = staff_client.get(URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert "PTP" in page and "Promised to payback" in page and "Promise to pay" in page
    main = page.split("<main>")[1]
    # The search box alone: nothing to post.
    assert re.findall(r"<input[^>]*>", main) == [
        '<input type="search" id="conclusions-q" name="q" value="" maxlength="64">'
    ]
    assert 'method="post"' not in main and "Save conclusions" not in page
    assert "Only managers and admins can change these" in page


def test_a_post_from_staff_is_refused_politely_and_changes_nothing(staff_client):
    before = list(Conclusion.objects.values())

    response = staff_client.post(URL, formset_data(D00={"label": "Hacked", "connected": True}))

    assert response.status_code == 403
    assert b"Your account may not do this" in response.content
    assert list(Conclusion.objects.values()) == before


def test_managers_and_admins_get_the_form(client, manager, admin_user):
    for person in (manager, admin_user):
        client.force_login(person)

        page = client.get(URL).content.decode()

        assert 'name="form-0-label"' in page and "Save conclusions" in page, person


def test_unclassified_codes_are_listed_first_and_marked(manager_client):
    Conclusion.objects.create(code="ZZNEW", label="Something new", classified=False)

    page = manager_client.get(URL).content.decode()

    assert page.index("ZZNEW") < page.index("PTP")
    assert 'class="unclassified"' in page and ">unclassified</span>" in page
    assert "1 code nobody has classified yet" in page


def test_a_manager_reclassifies_a_code_and_the_task_rates_follow(manager_client, make_task):
    task = make_task(calls=40)
    sync.sync_task(task)
    task.refresh_from_db()
    code = max((c for c in task.code_counts if c.startswith("D0")), key=task.code_counts.get)
    connected_before = task.calls_connected

    response = manager_client.post(
        URL, formset_data(**{code: {"connected": True, "label": "Picked up"}}), follow=True
    )

    assert response.redirect_chain == [(URL, 302)]
    assert "Saved 1 conclusion; rates updated for 1 task." in response.content.decode()
    conclusion = Conclusion.objects.get(code=code)
    assert conclusion.connected and conclusion.label == "Picked up"
    task.refresh_from_db()
    assert task.calls_connected == connected_before + task.code_counts[code]
    tasks_page = manager_client.get(reverse("calls:task_list")).content.decode()
    assert f"{task.calls_connected} connected calls / 40 calls placed" in tasks_page


def test_setting_a_flag_on_an_unclassified_code_classifies_it(manager_client):
    Conclusion.objects.create(code="ZZNEW", label="Something new", classified=False)

    manager_client.post(URL, formset_data(ZZNEW={"connected": True}))

    assert Conclusion.objects.get(code="ZZNEW").classified


def test_a_code_can_be_classified_as_not_connected_with_the_box_alone(manager_client):
    Conclusion.objects.create(code="ZZNEW", label="Something new", classified=False)

    manager_client.post(URL, formset_data(ZZNEW={"classified": True}))

    assert Conclusion.objects.get(code="ZZNEW").category == "Not connected"


def test_a_promise_without_the_right_party_is_refused_with_the_reason(manager_client):
    response = manager_client.post(
        URL, formset_data(D00={"promise_to_pay": True, "label": "Ringing, then a promise"})
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in page and "Promise to pay means right party too" in page
    assert not Conclusion.objects.get(code="D00").promise_to_pay
    assert Conclusion.objects.get(code="D00").label == "Ringing"


def test_an_empty_label_is_refused(manager_client):
    response = manager_client.post(URL, formset_data(D00={"label": ""}))

    assert "This field is required" in response.content.decode()
    assert Conclusion.objects.get(code="D00").label == "Ringing"


def test_saving_without_changes_says_so(manager_client):
    response = manager_client.post(URL, formset_data(), follow=True)

    assert "Nothing changed." in response.content.decode()


def test_a_forged_form_cannot_add_a_code(manager_client):
    data = formset_data()
    n = int(data["form-TOTAL_FORMS"])
    data.update({"form-TOTAL_FORMS": str(n + 1), f"form-{n}-label": "Forged"})

    before = Conclusion.objects.count()

    manager_client.post(URL, data)

    assert Conclusion.objects.count() == before
    assert not Conclusion.objects.filter(label="Forged").exists()


def test_saving_one_row_leaves_what_someone_else_changed_since_the_page_loaded(
    manager_client, admin_client_
):
    shown, prefix = rendered_form(manager_client.get(URL).content.decode())
    # An admin relabels D08 and marks it connected while the manager's page is open.
    theirs, theirs_prefix = rendered_form(admin_client_.get(URL).content.decode())
    theirs[theirs_prefix["D08"] + "label"] = "Voicemail greeting"
    theirs[theirs_prefix["D08"] + "connected"] = "on"
    admin_client_.post(URL, theirs)
    # The manager changes D99 alone, submitting every row as the page showed it.
    shown[prefix["D99"] + "label"] = "Connected, then silence"

    response = manager_client.post(URL, shown, follow=True)

    assert "Saved 1 conclusion;" in response.content.decode()
    d08 = Conclusion.objects.get(code="D08")
    assert d08.label == "Voicemail greeting" and d08.connected
    assert Conclusion.objects.get(code="D99").label == "Connected, then silence"


def test_a_row_saves_only_the_fields_changed_on_the_page(manager_client, admin_client_):
    shown, prefix = rendered_form(manager_client.get(URL).content.decode())
    Conclusion.objects.filter(code="D99").update(label="Picked up, said nothing")
    shown[prefix["D99"] + "live_person"] = "on"

    manager_client.post(URL, shown)

    d99 = Conclusion.objects.get(code="D99")
    assert d99.live_person and d99.label == "Picked up, said nothing"


# --- thousands of codes -------------------------------------------------------------------------


@pytest.fixture
def two_thousand_codes(db):
    Conclusion.objects.bulk_create(
        Conclusion(code=f"X{n:04d}", label=f"Made up {n}", classified=False) for n in range(2000)
    )


def test_two_thousand_codes_are_paged_and_a_save_of_one_changed_row_works(
    manager_client, two_thousand_codes, settings
):
    response = manager_client.get(URL)

    page = response.content.decode()
    assert response.status_code == 200
    shown, prefix = rendered_form(page)
    # What the browser posts stays within Django's limit on fields, whatever the dictionary.
    assert len(shown) < settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    total = Conclusion.objects.count()
    assert f"Codes 1\u201350 of {total:,}" in html_text(page)
    assert "X0000" in prefix and "X0050" not in prefix and "?page=2" in page
    shown[prefix["X0003"] + "label"] = "Renamed"
    shown[prefix["X0004"] + "classified"] = "on"

    response = manager_client.post(URL, shown, follow=True)

    assert "Saved 2 conclusions;" in response.content.decode()
    assert Conclusion.objects.get(code="X0003").label == "Renamed"
    assert Conclusion.objects.get(code="X0004").classified
    assert Conclusion.objects.filter(label__startswith="Made up").count() == 1999


def test_a_save_on_a_later_page_saves_that_page_and_comes_back_to_it(
    manager_client, two_thousand_codes
):
    url = f"{URL}?page=3"
    shown, prefix = rendered_form(manager_client.get(url).content.decode())
    assert sorted(prefix)[0] == "X0100"
    shown[prefix["X0120"] + "connected"] = "on"

    response = manager_client.post(url, shown, follow=True)

    assert response.redirect_chain == [(url, 302)]
    assert Conclusion.objects.get(code="X0120").connected


def test_a_manager_finds_a_code_among_thousands_by_searching(manager_client, two_thousand_codes):
    page = manager_client.get(URL, {"q": "x1999"}).content.decode()

    _, prefix = rendered_form(page)
    assert list(prefix) == ["X1999"] and "Codes 1\u20131 of 1" in html_text(page)


def test_staff_read_thousands_of_codes_a_page_at_a_time(staff_client, two_thousand_codes):
    page = staff_client.get(URL, {"page": 2}).content.decode()

    assert "X0050" in page and "X0049" not in page and "X0100" not in page


def test_more_rows_than_a_page_holds_are_refused_and_save_nothing(manager_client):
    Conclusion.objects.bulk_create(
        Conclusion(code=f"X{n:04d}", label=f"Made up {n}", classified=False) for n in range(30)
    )
    # Every code at once, as a page of the old form posted them: more than a page ever shows.
    data = formset_data(D00={"label": "Changed"})
    assert int(data["form-TOTAL_FORMS"]) > 60

    response = manager_client.post(URL, data)

    assert response.status_code == 200 and "Nothing was saved" in response.content.decode()
    assert Conclusion.objects.get(code="D00").label == "Ringing"
