"""Prometheus' scrape: `/metrics` in its text format, for the holder of BLUDASH_METRICS_TOKEN.

The token is sent as `Authorization: Bearer <token>` and compared in constant time. Without a
token configured the endpoint does not exist (404): figures about accounts and tasks are no
one's business by default. Like every page but the probes, it is served over HTTPS only.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from calls.health import metrics as collected


def _refusal(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.BLUDASH_METRICS_TOKEN
    if not expected:
        raise Http404("No metrics here.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _refusal(401, "a bearer token is needed")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return _refusal(403, "wrong token")
    response = HttpResponse(generate_latest(collected.registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
