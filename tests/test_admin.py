"""The admin's Blu account form: the app key is write-only."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from calls.models import BluAccount

from .conftest import APP_KEY


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 16))
    return client


def test_adding_an_account_encrypts_the_key_and_never_shows_it(admin_client):
    response = admin_client.post(
        reverse("admin:calls_bluaccount_add"),
        {
            "name": "collections",
            "base_url": "https://blu.example.test",
            "app_id": "10001",
            "app_key": APP_KEY,
            "time_zone": "Asia/Colombo",
            "is_polled": "on",
        },
    )
    assert response.status_code == 302
    account = BluAccount.objects.get()
    assert account.credentials().app_key == APP_KEY

    page = admin_client.get(reverse("admin:calls_bluaccount_change", args=[account.pk]))
    assert APP_KEY.encode() not in page.content
    assert account.app_key_encrypted.encode() not in page.content
    assert account.callback_token.encode() in page.content


def test_saving_without_a_key_keeps_the_old_one(admin_client, account):
    admin_client.post(
        reverse("admin:calls_bluaccount_change", args=[account.pk]),
        {
            "name": "collections",
            "base_url": account.base_url,
            "app_id": "10001",
            "app_key": "",
            "time_zone": "UTC",
        },
    )
    account.refresh_from_db()
    assert account.time_zone == "UTC" and account.credentials().app_key == APP_KEY


def test_a_new_account_needs_a_key(admin_client):
    response = admin_client.post(
        reverse("admin:calls_bluaccount_add"),
        {
            "name": "collections",
            "base_url": "https://blu.example.test",
            "app_id": "1",
            "time_zone": "UTC",
        },
    )
    assert response.status_code == 200 and b"A new account needs its app key" in response.content
    assert not BluAccount.objects.exists()
