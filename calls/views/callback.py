"""Blu's push callback: the one endpoint that answers without a session."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import callbacks
from ..models import BluAccount

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def blu_callback(request: HttpRequest, token: str) -> HttpResponse:
    """Blu's dial-result callback. Blu signs nothing: the unguessable token is the only key."""
    account = get_object_or_404(BluAccount, callback_token=token)
    declared = request.headers.get("Content-Length", "")
    limit = settings.BLUDASH_CALLBACK_MAX_BYTES
    if declared.isdigit() and int(declared) > limit:
        return JsonResponse({"code": 413, "message": f"body over {limit} bytes"}, status=413)
    body = request.read(limit + 1)
    if len(body) > limit:
        return JsonResponse({"code": 413, "message": f"body over {limit} bytes"}, status=413)
    try:
        result = callbacks.receive(account, body)
    except callbacks.BadCallback as exc:
        logger.info("Refused a callback for account %s: %s", account.name, exc)
        return JsonResponse({"code": 400, "message": str(exc)}, status=400)
    return JsonResponse(
        {"code": 200, "message": "success", "created": result.created, "changed": result.changed}
    )
