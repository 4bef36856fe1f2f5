"""Blu's pre-dial check: a URL of its own per account, admitted as the callback is (token, rate,
size, strict JSON), answered from the stop list with the settings' bodies, undecided checks
answered as BLUDASH_PREDIAL_UNDECIDED says, every answer recorded and counted."""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calls import operations
from calls.health import callback_counts
from calls.models import AuditEvent, BluAccount, Borrower, PredialAnswer
from tests.helpers import free_port, html_text


def predial_path(token: str) -> str:
    return reverse("calls:blu_predial", kwargs={"token": token})


def ask(client, account: BluAccount, body, token: str | None = None):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        predial_path(token or account.predial_token), data=data, content_type="application/json"
    )


def predial_counts(account) -> dict[str, int]:
    found = callback_counts.counts([account.pk], kind=callback_counts.PREDIAL)
    return {outcome: n for (pk, outcome), n in found.items() if pk == account.pk}


@pytest.fixture
def people(call, settings):
    """FREE may be called; ANGRY complained (CPL); ORDERED is known by orderId ORD-5 only."""
    call("f1", code="NOST", borrower="FREE", at="2024-01-01 10:00:00")
    call("a1", code="CPL", borrower="ANGRY", at="2024-01-01 11:00:00")
    call("o1", code="NOST", borrower="ORDERED", at="2024-01-01 12:00:00", orderId="ORD-5")


def test_a_borrower_not_on_the_stop_list_gets_the_go_ahead(client, account, people):
    response = ask(client, account, {"uniqueId": "FREE", "phone": "0159***0188"})
    assert response.status_code == 200
    assert response.json() == {"code": 1, "message": "Call"}
    answer = PredialAnswer.objects.get()
    assert answer.borrower.key == "FREE" and answer.decision == "go" and answer.decided
    assert predial_counts(account) == {"go": 1}


def test_a_borrower_on_the_stop_list_gets_the_cancel_answer_with_the_reason(
    client, account, people
):
    response = ask(client, account, {"uniqueId": "ANGRY"})
    assert response.json() == {"code": 0, "message": "Cancel call: Complaint open"}
    answer = PredialAnswer.objects.get()
    assert answer.borrower.key == "ANGRY" and answer.decision == "cancel"
    assert answer.reason == "Complaint open"
    assert predial_counts(account) == {"cancel": 1}


def test_both_answers_are_the_settings_bodies(client, account, people, settings):
    settings.BLUDASH_PREDIAL_CANCEL_BODY = {"code": 9, "message": "Skip", "extra": True}
    settings.BLUDASH_PREDIAL_GO_BODY = {"code": 200, "result": "dial"}
    assert ask(client, account, {"uniqueId": "ANGRY"}).json() == {
        "code": 9,
        "message": "Skip: Complaint open",
        "extra": True,
    }
    assert ask(client, account, {"uniqueId": "FREE"}).json() == {"code": 200, "result": "dial"}


def test_the_borrower_is_found_by_orderid_without_a_key(client, account, people):
    ask(client, account, {"orderId": "ORD-5"})
    assert PredialAnswer.objects.get().borrower.key == "ORDERED"


def test_the_keys_may_come_inside_extvars_as_object_or_json_text(client, account, people):
    assert ask(client, account, {"extVars": {"uniqueId": "ANGRY"}}).json()["code"] == 0
    assert ask(client, account, {"extVars": '{"uniqueId": "ANGRY"}'}).json()["code"] == 0


def test_the_accounts_own_borrower_keys_are_used(client, account, people):
    account.borrower_keys = "customerNo"
    account.save()
    ask(client, account, {"customerNo": "ANGRY", "uniqueId": "FREE"})
    assert PredialAnswer.objects.get().decision == "cancel"


def test_an_unknown_borrower_gets_the_undecided_answer_logged_and_counted(
    client, account, people, caplog
):
    caplog.set_level(logging.WARNING)
    response = ask(client, account, {"uniqueId": "NOBODY"})
    assert response.json() == {"code": 1, "message": "Call"}  # default: go ahead
    answer = PredialAnswer.objects.get()
    assert answer.borrower is None and not answer.decided and answer.reason == "unknown borrower"
    assert "without deciding: unknown borrower" in caplog.text
    assert predial_counts(account) == {"undecided_unknown_borrower": 1}


def test_undecided_checks_are_cancelled_when_the_setting_says_so(client, account, people, settings):
    settings.BLUDASH_PREDIAL_UNDECIDED = "cancel"
    assert ask(client, account, {"uniqueId": "NOBODY"}).json() == {
        "code": 0,
        "message": "Cancel call: unknown borrower",
    }
    assert ask(client, account, {"phone": "no key at all"}).json()["code"] == 0


def test_a_wrong_token_gets_404_and_records_nothing(client, account, people):
    assert ask(client, account, {"uniqueId": "ANGRY"}, token="not-the-token").status_code == 404
    # The callback's token is not the pre-dial one, nor the other way round.
    assert (
        ask(client, account, {"uniqueId": "ANGRY"}, token=account.callback_token).status_code == 404
    )
    callback = reverse("calls:blu_callback", kwargs={"token": account.predial_token})
    assert client.post(callback, data="{}", content_type="application/json").status_code == 404
    assert not PredialAnswer.objects.exists()
    found = callback_counts.counts([account.pk], kind=callback_counts.PREDIAL)
    assert found[(callback_counts.NO_ACCOUNT, "unknown_token")] == 2


def test_a_disabled_account_gets_404(client, account, people):
    account.is_polled = False
    account.save()
    assert ask(client, account, {"uniqueId": "ANGRY"}).status_code == 404


def test_an_account_disabled_by_an_admin_gets_404_from_the_next_check(client, account, people):
    assert ask(client, account, {"uniqueId": "FREE"}).status_code == 200
    operations.set_accounts_enabled([account], enabled=False)
    assert ask(client, account, {"uniqueId": "FREE"}).status_code == 404
    operations.set_accounts_enabled([account], enabled=True)
    assert ask(client, account, {"uniqueId": "FREE"}).status_code == 200


def test_the_predial_token_is_never_sent_to_the_database(client, account, people):
    with CaptureQueriesContext(connection) as queries:
        ask(client, account, {"uniqueId": "ANGRY"})
    assert queries.captured_queries
    assert not any(account.predial_token[:20] in q["sql"] for q in queries.captured_queries)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"", "empty"),
        (b'["uniqueId", "ANGRY"]', "not a JSON object"),
        (b'{"uniqueId": "FREE", "uniqueId": "ANGRY"}', "'uniqueId' appears twice"),
        (b'{"amount": NaN}', "NaN"),
        (b"[" * 100 + b"]" * 100, "deeper than"),
        ('{"uniqueId": "\xff"}'.encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_bad_body_gets_400_and_records_nothing(client, account, people, body, says):
    response = ask(client, account, body)
    assert response.status_code == 400 and says in response.json()["message"]
    assert not PredialAnswer.objects.exists()
    assert predial_counts(account) == {"bad_body": 1}


def test_an_oversized_body_is_refused(client, account, people, settings):
    settings.BLUDASH_PREDIAL_MAX_BYTES = 1024
    response = ask(client, account, {"uniqueId": "FREE", "pad": "x" * 2000})
    assert response.status_code == 413
    assert not PredialAnswer.objects.exists()


def test_checks_over_the_accounts_rate_are_refused_with_429(client, account, people, settings):
    settings.BLUDASH_PREDIAL_RATE_PER_MINUTE = 2
    codes = [ask(client, account, {"uniqueId": "FREE"}).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429
    assert PredialAnswer.objects.count() == 2


def test_only_post_is_accepted(client, account):
    assert client.get(predial_path(account.predial_token)).status_code == 405


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite is a file: there is no server to go down"
)
def test_with_the_database_down_the_undecided_answer_is_given_logged_and_counted(
    client, account, people, transactional_db, caplog
):
    caplog.set_level(logging.ERROR)
    token = account.predial_token
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())  # nothing listens there: "down"
    try:
        response = client.post(
            predial_path(token), data='{"uniqueId": "ANGRY"}', content_type="application/json"
        )
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 200
    assert response.json() == {"code": 1, "message": "Call"}
    assert "database is unavailable" in caplog.text and token not in caplog.text
    found = callback_counts.counts([account.pk], kind=callback_counts.PREDIAL)
    assert found[(callback_counts.NO_ACCOUNT, "undecided_database_down")] == 1
    assert not PredialAnswer.objects.exists()


def test_the_predial_token_never_reaches_the_logs(client, account, caplog):
    caplog.set_level(logging.DEBUG)
    ask(client, account, b"not json")
    assert account.predial_token not in caplog.text
    assert "/blu/predial/[token]/" in caplog.text


def test_blu_account_show_prints_the_predial_url(account, settings):
    out = StringIO()
    call_command("blu", "account", "show", account.name, stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith("predial: "))
    assert line == f"predial: {settings.BLUDASH_PUBLIC_URL}{predial_path(account.predial_token)}"
    assert line.startswith("predial: http")


def test_every_account_gets_a_token_of_its_own(account):
    other = BluAccount.objects.create(name="other", base_url="https://b.example", app_id="2")
    assert other.predial_token != account.predial_token != account.callback_token


def test_an_admin_sees_and_regenerates_the_predial_url(client, admin_user, account, people):
    client.force_login(admin_user)
    change = reverse("admin:calls_bluaccount_change", args=[account.pk])
    assert account.predial_url() in client.get(change).content.decode()
    regenerate = reverse("admin:calls_bluaccount_regenerate_predial", args=[account.pk])
    assert "Regenerate the pre-dial URL?" in html_text(client.get(regenerate).content.decode())
    old = account.predial_token
    client.post(regenerate)
    account.refresh_from_db()
    assert account.predial_token != old
    assert ask(client, account, {"uniqueId": "FREE"}, token=old).status_code == 404
    assert ask(client, account, {"uniqueId": "FREE"}).status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.PREDIAL_TOKEN_REGENERATED)
    assert event.target == account.name


def test_every_answer_is_on_the_borrowers_page(client, staff_client, account, people):
    ask(client, account, {"uniqueId": "ANGRY"})
    url = Borrower.objects.get(key="ANGRY").get_absolute_url()
    text = html_text(staff_client.get(url).content.decode())
    assert "Pre-dial checks" in text and "Cancel" in text and "Complaint open" in text


def test_the_checks_are_counted_in_metrics(client, account, people, settings):
    settings.BLUDASH_METRICS_TOKEN = "metrics-token-for-tests"
    ask(client, account, {"uniqueId": "ANGRY"})
    ask(client, account, {"uniqueId": "NOBODY"})
    page = client.get(
        "/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"}, secure=True
    ).content.decode()
    assert f'bludash_predial_checks_total{{account="{account.name}",outcome="cancel"}} 1.0' in page
    assert (
        f'bludash_predial_checks_total{{account="{account.name}",'
        'outcome="undecided_unknown_borrower"} 1.0'
    ) in page


def test_a_content_length_of_non_ascii_digits_is_a_clear_refusal_not_an_error(
    client, account, people
):
    # "²" is a digit to str.isdigit() and not to int(): the header must not crash the check.
    response = client.generic(
        "POST",
        predial_path(account.predial_token),
        json.dumps({"uniqueId": "FREE"}),
        content_type="application/json",
        CONTENT_LENGTH="\u00b2",
    )
    assert response.status_code == 400
    assert not PredialAnswer.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the failing insert is a PL/pgSQL trigger"
)
def test_an_answer_decided_is_given_even_when_recording_it_fails(client, account, people, caplog):
    # The insert that records the answer times out (a statement timeout under load, as a
    # trigger raising query_canceled stands for): the borrower who complained is still on the
    # stop list, and Blu must hear cancel, not the undecided go-ahead.
    table = PredialAnswer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION predial_insert_times_out() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'canceling statement due to statement timeout' "
            "USING ERRCODE = '57014'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER predial_insert_times_out BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION predial_insert_times_out()"
        )
    response = ask(client, account, {"uniqueId": "ANGRY"})
    assert response.status_code == 200
    assert response.json() == {"code": 0, "message": "Cancel call: Complaint open"}
