"""Who an email goes to: the active users holding a right (from a group, or granted alone), each
address once."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet


def users_who_may(permission: str) -> QuerySet:
    """The active users who hold `permission` ("app_label.codename"), from a group, granted
    alone, or as superusers; a user in two groups with it may come back twice."""
    app_label, codename = permission.split(".")
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    may = Q(is_superuser=True) | Q(groups__permissions__in=found) | Q(user_permissions__in=found)
    return get_user_model().objects.filter(may, is_active=True)


def addresses_of_users_who_may(permission: str, also: Iterable[str] = ()) -> list[str]:
    """`also` first, then every active user with an email address who holds `permission`;
    each address once, whatever its case."""
    users = (
        users_who_may(permission).exclude(email="").order_by("pk").values_list("email", flat=True)
    )
    # A user in two groups with the right comes back twice; addresses differ only in case.
    unique: dict[str, str] = {}
    for address in [*also, *users]:
        address = address.strip()
        if address:
            unique.setdefault(address.lower(), address)
    return list(unique.values())
