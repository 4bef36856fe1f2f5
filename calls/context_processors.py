from django.conf import settings


def company(request):
    """The company's time zone, shown wherever times are."""
    return {"company_time_zone": settings.TIME_ZONE}
