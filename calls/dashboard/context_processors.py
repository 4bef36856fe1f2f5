from django.conf import settings
from django.utils.functional import SimpleLazyObject

from calls.health import sync_health
from calls.security import roles


def company(request):
    """What every page shows: the company's time zone (wherever times are), how often live parts
    refresh, and for admins the accounts failing too many syncs in a row."""
    return {
        "company_time_zone": settings.TIME_ZONE,
        "live_refresh_seconds": settings.BLUDASH_LIVE_REFRESH_SECONDS,
        "failing_accounts": failing_accounts(request),
    }


def failing_accounts(request) -> SimpleLazyObject:
    """Flagged accounts (sync_health.flagged_accounts) for a user who may manage accounts, else
    none. Lazy: a page or fragment that does not show the flag pays nothing for it."""
    user = getattr(request, "user", None)

    def flagged() -> list:
        if user is None or not user.is_authenticated or not user.has_perm(roles.MANAGE_ACCOUNTS):
            return []
        return sync_health.flagged_accounts()

    return SimpleLazyObject(flagged)
