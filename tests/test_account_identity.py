"""One Blu account per (base URL, appId): a second registration would store every call twice."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from calls.models import BluAccount, normalized_base_url
from tests.helpers import APP_ID, APP_KEY


def test_the_cli_refuses_the_same_blu_account_twice_naming_the_first(account, monkeypatch):
    monkeypatch.setenv("BLU_APP_KEY", APP_KEY)
    with pytest.raises(CommandError) as refused:
        call_command(
            "blu",
            "account",
            "add",
            "again",
            "--base-url",
            account.base_url + "/",
            "--app-id",
            APP_ID,
        )
    assert "Blu account collections already has this base URL and appId" in str(refused.value)
    assert "__all__" not in str(refused.value)
    assert BluAccount.objects.count() == 1


def test_the_admin_refuses_the_same_blu_account_twice(admin_client_, account):
    response = admin_client_.post(
        reverse("admin:calls_bluaccount_add"),
        {
            "name": "again",
            "base_url": account.base_url.upper().replace("HTTP", "http"),
            "app_id": APP_ID,
            "app_key": "another-key-1234567890",
            "time_zone": "Asia/Colombo",
            "is_polled": "on",
            "contact_limits-TOTAL_FORMS": "0",
            "contact_limits-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.content.decode().count("already has this base URL and appId") == 1
    assert "Another Blu account has this base URL" not in response.content.decode()
    assert BluAccount.objects.count() == 1


def test_base_urls_are_stored_in_one_form():
    assert normalized_base_url(" HTTPS://Api.Blu.Example/v1/ ") == "https://api.blu.example/v1"
    assert normalized_base_url("https://api.blu.example:443/") == "https://api.blu.example"
    assert normalized_base_url("http://api.blu.example:80") == "http://api.blu.example"
    assert normalized_base_url("https://api.blu.example:8443") == "https://api.blu.example:8443"
