"""The audit log: one function writes every event, so each has the same who, when and where.

Callers pass what a reader needs (which account, which filter, how many rows), never a secret:
details are shown to every admin.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from calls.models import AuditEvent
from calls.security.client_address import client_ip

Action = AuditEvent.Action


def account_added(account: Any, request: HttpRequest | None = None) -> AuditEvent:
    """A Blu account was added (in the admin or with `blu account add`): what it is, no key."""
    return record(
        AuditEvent.Action.ACCOUNT_ADDED,
        request,
        target=account.name,
        app_id=account.app_id,
        base_url=account.base_url,
        enabled=account.is_polled,
    )


def record(
    action: str,
    request: HttpRequest | None = None,
    *,
    user: Any = None,
    username: str = "",
    target: str = "",
    **details: Any,
) -> AuditEvent:
    """Write one event. The user defaults to the request's signed-in user."""
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        if candidate is not None and candidate.is_authenticated:
            user = candidate
    if user is not None and not username:
        username = user.get_username()
    return AuditEvent.objects.create(
        action=action,
        user=user,
        username=username[:150],
        ip=client_ip(request),
        target=target[:200],
        details=details,
    )
