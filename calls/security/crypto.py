"""Blu app keys at rest: Fernet encryption with BLUDASH_FERNET_KEYS, newest key first."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class AppKeyUnreadable(Exception):
    """A stored app key that no configured Fernet key opens. Names the account, never the data."""


def _fernet() -> MultiFernet:
    # settings.py has checked every key, naming BLUDASH_FERNET_KEYS when one is bad.
    return MultiFernet([Fernet(key.encode()) for key in settings.BLUDASH_FERNET_KEYS])


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def hint(plain: str) -> str:
    """The last four characters of a key (none of a short one): enough to tell keys apart."""
    return plain[-4:] if len(plain) >= 16 else ""


def _unreadable(account_name: str) -> AppKeyUnreadable:
    return AppKeyUnreadable(
        f"The app key of Blu account {account_name!r} cannot be decrypted with "
        "BLUDASH_FERNET_KEYS: was the key it was saved with removed? Enter the app key again."
    )


def decrypt(token: str, account_name: str) -> str:
    if not token:
        raise AppKeyUnreadable(f"Blu account {account_name!r} has no app key stored")
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise _unreadable(account_name) from None


def rotate(token: str, account_name: str) -> str:
    """The same app key encrypted with the newest Fernet key, so older ones can be retired.

    Raises AppKeyUnreadable when no configured key opens the token.
    """
    if not token:
        raise AppKeyUnreadable(f"Blu account {account_name!r} has no app key stored")
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise _unreadable(account_name) from None
