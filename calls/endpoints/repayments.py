"""The lender's systems send repayments here: `POST /api/repayments/` with `Authorization:
Bearer <token>` (an admin makes and revokes tokens) and a JSON body `{"repayments": [{"borrower":
..., "amount": ..., "paid_at": ..., "orderId": ..., "reference": ...}, ...]}`. The same import as
the file's (calls/promises/repayments.py): all or nothing, never twice; a bad row is reported by
its position in the list (from 1).

A token is compared as the callback's is, in constant time, and wrong ones are counted per
client address: past BLUDASH_REPAYMENTS_BAD_TOKENS_PER_MINUTE in a minute, that address is
answered 429 (with Retry-After) whatever it sends until the minute ends, so a token cannot be
guessed at speed. Each import that stores is in the audit log, under the token's name."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.audit import trail
from calls.models import Repayment
from calls.promises import repayments, tokens
from calls.security import rate_limit
from calls.security.client_address import client_ip

logger = logging.getLogger(__name__)


def _refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def _too_many(wait: int) -> JsonResponse:
    response = _refusal(429, "too many wrong tokens from this address; retry later")
    response["Retry-After"] = str(wait)
    return response


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    address = client_ip(request) or "unknown"
    bad_tokens = f"repayments-bad-token:{address}"
    allowed = settings.BLUDASH_REPAYMENTS_BAD_TOKENS_PER_MINUTE
    # Before the token is looked at: a right guess among refused ones must not be told apart.
    if wait := rate_limit.already_over(bad_tokens, allowed):
        return _too_many(wait)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    holder = tokens.holder(token.strip()) if scheme.lower() == "bearer" else None
    if holder is None:
        if wait := rate_limit.wait_seconds(bad_tokens, allowed):
            logger.warning("Refused repayments from %s: too many wrong tokens", address)
            return _too_many(wait)
        return _refusal(401, "a valid repayment token is needed (Authorization: Bearer ...)")
    limit = settings.BLUDASH_REPAYMENTS_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
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
    trail.record(
        trail.Action.REPAYMENTS_IMPORTED,
        request,
        username=f"repayment token {holder.name}",
        target=holder.account.name,
        token=holder.name,
        hint=holder.hint,
        imported=len(result.new),
        duplicates=result.duplicates,
    )
    return JsonResponse({"imported": len(result.new), "duplicates": result.duplicates})
