"""Sign-ins, failed sign-ins, lockouts and sign-outs in the audit log, from Django's and axes's
signals (connected in CallsConfig.ready); a wrong old password on a password change is a failed
sign-in "through" it. The password is never read, not even the cleansed one."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from calls.audit import trail
from calls.models import AuditEvent
from calls.security import password_change, signin_throttle

Action = AuditEvent.Action


def _through(request: Any) -> dict[str, str]:
    # A wrong old password on a password change form counts as a failed sign-in; the log says
    # which it was (someone in an open session guessing is worth knowing).
    return {"through": "password change"} if password_change.checking_old_password(request) else {}


@receiver(user_logged_in, dispatch_uid="bludash-audit-sign-in")
def signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    trail.record(Action.SIGN_IN, request, user=user)


@receiver(user_login_failed, dispatch_uid="bludash-audit-sign-in-failed")
def sign_in_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # A try the lock refused before any password was checked is no new event.
    if request is not None and signin_throttle.refused_while_locked(request):
        return
    # The name as typed, which may be no user at all; only that key of the credentials is read.
    typed = credentials.get(get_user_model().USERNAME_FIELD) or ""
    trail.record(Action.SIGN_IN_FAILED, request, username=str(typed), **_through(request))


@receiver(user_locked_out, dispatch_uid="bludash-audit-sign-in-locked")
def sign_in_locked(
    sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    until = signin_throttle.locked_until(username, ip_address)
    trail.record(
        Action.SIGN_IN_LOCKED,
        request,
        username=username or "",
        locked=kwargs.get("locked", []),  # "user", "address" or both
        until=until.isoformat() if until else None,
        **_through(request),
    )


@receiver(user_logged_out, dispatch_uid="bludash-audit-sign-out")
def signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:  # signing out when not signed in is no event
        trail.record(Action.SIGN_OUT, request, user=user)
