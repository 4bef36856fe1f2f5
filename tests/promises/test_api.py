"""The lender's repayments endpoint: a token an admin makes (shown once, stored hashed) and can
revoke, a size limit, and the same all-or-nothing, never-twice import as the file's."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from calls.models import AuditEvent, Promise, Repayment, RepaymentToken
from calls.promises import tokens

SLOT = ["2024-01-02 17:00:00", "2024-01-02 18:00:00"]


@pytest.fixture
def token(account) -> str:
    record = RepaymentToken(name="ledger", account=account)
    made = tokens.issue(record)
    record.save()
    return made


def _post(client, body, token: str | None = None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        reverse("calls:repayment_api"), data, content_type="application/json", **headers
    )


def test_repayments_sent_with_a_token_are_imported_once(client, call, token):
    call("c1", slot=SLOT)
    body = {
        "repayments": [
            {"borrower": "U1", "amount": 100, "paid_at": "2024-01-02 17:30:00", "reference": "R1"}
        ]
    }

    assert _post(client, body, token).json() == {"imported": 1, "duplicates": 0}
    assert _post(client, body, token).json() == {"imported": 0, "duplicates": 1}
    assert Repayment.objects.get().source == "api"
    assert Promise.objects.get().outcome == "kept"


def test_a_bad_row_is_reported_by_its_place_and_nothing_is_stored(client, call, token):
    call("c1", slot=SLOT)
    body = {
        "repayments": [
            {"borrower": "U1", "amount": "100", "paid_at": "2024-01-02 17:30:00"},
            {"borrower": "U1", "amount": None, "paid_at": "2024-01-02 17:30:00"},
            "not an object",
        ]
    }
    response = _post(client, body, token)
    assert response.status_code == 400
    assert [error["row"] for error in response.json()["errors"]] == [2, 3]
    assert not Repayment.objects.exists()


@pytest.mark.parametrize("sent", [None, "blurp_not-a-token", "Basic abc"])
def test_no_valid_token_no_import(client, call, token, sent):
    call("c1", slot=SLOT)
    headers = {"HTTP_AUTHORIZATION": sent} if sent and " " in sent else {}
    response = _post(client, {"repayments": []}, None if " " in (sent or " ") else sent, **headers)
    assert response.status_code == 401


def test_a_revoked_token_is_refused(client, token):
    RepaymentToken.objects.update(revoked_at="2024-01-01T00:00:00Z")
    assert _post(client, {"repayments": []}, token).status_code == 401


def test_only_the_tokens_hash_is_stored(token):
    record = RepaymentToken.objects.get()
    assert token not in json.dumps(list(RepaymentToken.objects.values()), default=str)
    assert record.token_hash == tokens.digest(token) and token.startswith("blurp_" + record.hint)


def test_a_body_over_the_limit_is_refused_unread(client, token, settings):
    settings.BLUDASH_REPAYMENTS_MAX_BYTES = 1024
    big = {"repayments": [{"borrower": "U1", "amount": 1, "paid_at": "x" * 2000}]}
    assert _post(client, big, token).status_code == 413
    assert _post(client, b"{not json", token).status_code == 400
    assert _post(client, {"rows": []}, token).status_code == 400


def test_an_admin_makes_a_token_seen_once_and_revokes_it(admin_client_, account):
    response = admin_client_.post(
        reverse("admin:calls_repaymenttoken_add"),
        {"name": "ledger", "account": account.pk},
        follow=True,
    )
    shown = re.search(r'id="new-token">([^<]+)<', response.content.decode()).group(1)
    record = RepaymentToken.objects.get()
    assert tokens.holder(shown) == record
    listing = admin_client_.get(reverse("admin:calls_repaymenttoken_changelist")).content.decode()
    assert shown not in listing

    admin_client_.post(
        reverse("admin:calls_repaymenttoken_changelist"),
        {"action": "revoke", "_selected_action": [record.pk]},
    )
    assert tokens.holder(shown) is None


def test_wrong_tokens_past_the_limit_are_refused_429_even_a_right_one_after(
    client, call, token, settings
):
    settings.BLUDASH_REPAYMENTS_BAD_TOKENS_PER_MINUTE = 3
    call("c1", slot=SLOT)
    body = {"repayments": [{"borrower": "U1", "amount": 1, "paid_at": "2024-01-02 17:30:00"}]}

    refused = [_post(client, body, f"blurp_guess{n}").status_code for n in range(4)]
    right = _post(client, body, token)

    assert refused == [401, 401, 401, 429]
    assert right.status_code == 429 and int(right["Retry-After"]) >= 1
    assert not Repayment.objects.exists()
    # Another address is not held back by this one's guesses.
    other = _post(client, body, token, REMOTE_ADDR="10.9.8.7")
    assert other.status_code == 200 and Repayment.objects.count() == 1


def test_right_tokens_are_not_counted_towards_the_limit(client, token, settings):
    settings.BLUDASH_REPAYMENTS_BAD_TOKENS_PER_MINUTE = 1
    assert [_post(client, {"repayments": []}, token).status_code for _ in range(4)] == [200] * 4


def test_each_import_through_the_api_is_audited_under_its_token(client, call, token):
    call("c1", slot=SLOT)
    body = {
        "repayments": [
            {"borrower": "U1", "amount": 100, "paid_at": "2024-01-02 17:30:00", "reference": "R1"}
        ]
    }
    _post(client, body, token)
    _post(client, body, token)
    _post(client, {"repayments": [{"borrower": "U1"}]}, token)  # a bad row: nothing imported

    events = AuditEvent.objects.filter(action=AuditEvent.Action.REPAYMENTS_IMPORTED).order_by("id")
    record = RepaymentToken.objects.get()
    assert [event.details for event in events] == [
        {"token": "ledger", "hint": record.hint, "imported": 1, "duplicates": 0},
        {"token": "ledger", "hint": record.hint, "imported": 0, "duplicates": 1},
    ]
    assert {(event.target, event.username) for event in events} == {
        ("collections", "repayment token ledger")
    }
    assert token not in json.dumps(list(AuditEvent.objects.values("details")))


def test_making_and_revoking_a_token_are_audited_without_the_token(
    admin_client_, admin_user, account
):
    response = admin_client_.post(
        reverse("admin:calls_repaymenttoken_add"),
        {"name": "ledger", "account": account.pk},
        follow=True,
    )
    shown = re.search(r'id="new-token">([^<]+)<', response.content.decode()).group(1)
    record = RepaymentToken.objects.get()
    changelist = reverse("admin:calls_repaymenttoken_changelist")
    for _ in range(2):  # revoked once: the second time revokes nothing and audits nothing
        admin_client_.post(changelist, {"action": "revoke", "_selected_action": [record.pk]})

    made = AuditEvent.objects.get(action=AuditEvent.Action.REPAYMENT_TOKEN_CREATED)
    revoked = AuditEvent.objects.get(action=AuditEvent.Action.REPAYMENT_TOKEN_REVOKED)
    for event in (made, revoked):
        assert (event.user, event.target) == (admin_user, "ledger")
        assert event.details == {"account": "collections", "hint": record.hint}
    assert shown not in json.dumps(list(AuditEvent.objects.values("details", "target")))
