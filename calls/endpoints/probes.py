"""The probes a load balancer or an orchestrator sends: `/healthz/` (this process answers, and
touches nothing else) and `/readyz/` (the database, the broker, beat and a worker: see
calls/health/readiness.py).

Answered by a middleware placed before every other, so that a probe works where pages would not:
over plain HTTP with production's HTTPS redirect on (probes come from inside the network, to the
web server's own port), with whatever Host the prober sends (often the machine's address, which
ALLOWED_HOSTS rightly does not list), and without a session, a sign-in, CSRF or a rate limit. The
answers build no URL from the Host and hold nothing secret, so the checks skipped are not needed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from calls.health import readiness

logger = logging.getLogger(__name__)

LIVE_PATH = "/healthz/"
READY_PATH = "/readyz/"


def _answer(body: dict, status: int = 200) -> HttpResponse:
    response = JsonResponse(body, status=status)
    # Django logs every 5xx as an error and emails it to the admins: once per probe, every few
    # seconds while a worker is down. _log_change says it once per outage instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    # A cached "ready" would hide an outage from the next probe.
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def live() -> HttpResponse:
    return _answer({"status": "ok"})


class _LastAnswer:
    """What this process last answered, so that the log says when it changes, not every time."""

    lock = threading.Lock()
    failing: list[str] = []


def _log_change(failing: list[str], details: dict[str, str]) -> None:
    with _LastAnswer.lock:
        if failing == _LastAnswer.failing:
            return
        _LastAnswer.failing = failing
    if failing:
        logger.warning("Not ready: %s", "; ".join(f"{name}: {details[name]}" for name in failing))
    else:
        logger.info("Ready again: database, broker, beat and a worker answer")


def ready() -> HttpResponse:
    checks = readiness.readiness()
    failing = [check.name for check in checks if not check.ok]
    _log_change(failing, {check.name: check.detail for check in checks})
    body = {
        "ready": not failing,
        "failing": failing,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    return _answer(body, status=503 if failing else 200)


PROBES: dict[str, Callable[[], HttpResponse]] = {LIVE_PATH: live, READY_PATH: ready}


class ProbeMiddleware:
    """Answers the two probe paths itself; every other request goes on as usual."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return probe()
