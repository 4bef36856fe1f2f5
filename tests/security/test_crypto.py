import pytest
from cryptography.fernet import Fernet

from calls.security import crypto

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_keys_saved_with_an_older_fernet_key_still_open(settings):
    settings.BLUDASH_FERNET_KEYS = [OLD]
    token = crypto.encrypt("blu-app-key")
    settings.BLUDASH_FERNET_KEYS = [NEW, OLD]  # a new key in front, the old one kept for reading
    assert crypto.decrypt(token, "collections") == "blu-app-key"
    assert crypto.decrypt(crypto.encrypt("blu-app-key"), "collections") == "blu-app-key"


def test_the_ciphertext_is_not_the_key(settings):
    assert "blu-app-key" not in crypto.encrypt("blu-app-key")


def test_rotating_moves_a_key_to_the_newest_fernet_key(settings):
    settings.BLUDASH_FERNET_KEYS = [OLD]
    token = crypto.encrypt("blu-app-key")
    settings.BLUDASH_FERNET_KEYS = [NEW, OLD]
    rotated = crypto.rotate(token, "collections")
    settings.BLUDASH_FERNET_KEYS = [NEW]
    assert crypto.decrypt(rotated, "collections") == "blu-app-key"


def test_a_key_no_fernet_key_opens_is_named_not_shown(settings):
    settings.BLUDASH_FERNET_KEYS = [OLD]
    token = crypto.encrypt("blu-app-key")
    settings.BLUDASH_FERNET_KEYS = [NEW]
    with pytest.raises(crypto.AppKeyUnreadable, match="'collections' cannot be decrypted") as err:
        crypto.rotate(token, "collections")
    assert token not in str(err.value) and "blu-app-key" not in str(err.value)
