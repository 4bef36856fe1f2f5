"""The lender's systems send repayments here: `POST /api/repayments/` with `Authorization:
Bearer <token>` (an admin makes and revokes tokens) and a JSON body `{"repayments": [{"borrower":
..., "amount": ..., "paid_at": ..., "orderId": ..., "reference": ...}, ...]}`. The same import as
the file's (calls/promises/repayments.py): all or nothing, never twice; a bad row is reported by
its position in the list (from 1)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.models import Repayment
from calls.promises import repayments, tokens

logger = logging.getLogger(__name__)


def _refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    holder = tokens.holder(token.strip()) if scheme.lower() == "bearer" else None
    if holder is None:
        return _refusal(401, "a valid repayment token is needed (Authorization: Bearer ...)")
    limit = settings.BLUDASH_REPAYMENTS_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return _refusal(413, f"body over {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _refusal(413, f"body over {limit} bytes")
    try:
        given = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past Python's limit
        return _refusal(400, "the body is not JSON")
    rows = given.get("repayments") if isinstance(given, dict) else None
    if not isinstance(rows, list):
        return _refusal(400, 'the body must be {"repayments": [...]}')
    result = repayments.import_repayments(
        holder.account,
        [(n, row) for n, row in enumerate(rows, start=1)],
        source=Repayment.Source.API,
    )
    if not result.saved:
        errors = [{"row": error.line, "reason": error.reason} for error in result.errors]
        return JsonResponse({"message": "nothing imported", "errors": errors}, status=400)
    logger.info(
        "Token %s imported %d repayments to %s", holder.hint, len(result.new), holder.account.name
    )
    return JsonResponse({"imported": len(result.new), "duplicates": result.duplicates})
