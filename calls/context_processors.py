from django.conf import settings


def company(request):
    """The company's time zone, shown wherever times are, and how often live parts refresh."""
    return {
        "company_time_zone": settings.TIME_ZONE,
        "live_refresh_seconds": settings.BLUDASH_LIVE_REFRESH_SECONDS,
    }
