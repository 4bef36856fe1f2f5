"""`manage.py blu rotate-keys`: then the old Fernet key can go and every account still signs."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from calls.health import connection
from calls.models import AuditEvent, BluAccount
from tests.helpers import APP_KEY, add_account

OLD, NEW, LOST = (Fernet.generate_key().decode() for _ in range(3))


def rotate_keys() -> str:
    out = StringIO()
    call_command("blu", "rotate-keys", stdout=out, stderr=out)
    return out.getvalue()


def test_after_rotating_the_old_fernet_key_can_be_removed(settings, db):
    settings.BLUDASH_FERNET_KEYS = [OLD]
    add_account("collections")
    add_account("recoveries", "the-recoveries-app-key-51c2")
    settings.BLUDASH_FERNET_KEYS = [NEW, OLD]

    out = rotate_keys()

    assert "Re-encrypted 2 app keys with the newest Fernet key." in out
    settings.BLUDASH_FERNET_KEYS = [NEW]
    keys = {a.name: a.credentials().app_key for a in BluAccount.objects.all()}
    assert keys == {"collections": APP_KEY, "recoveries": "the-recoveries-app-key-51c2"}
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.KEYS_ROTATED)
    assert event.details == {"count": 2, "unreadable": []}


def test_a_rotated_account_still_signs_requests_blu_accepts(settings, account, make_task):
    make_task("66547748")
    settings.BLUDASH_FERNET_KEYS = [NEW, *settings.BLUDASH_FERNET_KEYS]
    rotate_keys()
    settings.BLUDASH_FERNET_KEYS = [NEW]

    account.refresh_from_db()
    assert connection.test_connection(account, "66547748").ok


def test_an_account_no_key_opens_is_named_and_the_others_still_rotate(settings, db):
    settings.BLUDASH_FERNET_KEYS = [LOST]
    add_account("orphaned")
    settings.BLUDASH_FERNET_KEYS = [OLD]
    add_account("collections")
    settings.BLUDASH_FERNET_KEYS = [NEW, OLD]

    with pytest.raises(CommandError, match="opens the app key of 1 account: orphaned") as caught:
        rotate_keys()

    assert caught.value.returncode == 2
    settings.BLUDASH_FERNET_KEYS = [NEW]
    assert BluAccount.objects.get(name="collections").credentials().app_key == APP_KEY
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.KEYS_ROTATED)
    assert event.details == {"count": 1, "unreadable": ["orphaned"]}


def test_rotating_leaves_the_key_and_its_hint_as_they_were(settings, db):
    settings.BLUDASH_FERNET_KEYS = [OLD]
    before = add_account("collections")
    settings.BLUDASH_FERNET_KEYS = [NEW, OLD]
    rotate_keys()

    after = BluAccount.objects.get()
    assert after.app_key_encrypted != before.app_key_encrypted
    assert after.masked_app_key == before.masked_app_key
    assert after.app_key_changed_at == before.app_key_changed_at
