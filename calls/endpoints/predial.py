"""Blu's pre-dial check ("Pre-dial verification" in docs/blu-api.md): before each call Blu POSTs
the merchant's parameters for it, and waits for a go-ahead or a cancel answer.

Admitted as the callback is (calls/endpoints/intake.py: its own token, rate limit and size
limit), the body read as strictly (calls.ingest.callbacks.load_json). What Blu sends is the
lender's own upload columns: the borrower keys (BLUDASH_BORROWER_KEYS or the account's) and
orderId are looked for at the top of the object and in an `extVars` object (or JSON text) in it.

A check bludash cannot decide (no key, no such borrower, the database down) is answered as
BLUDASH_PREDIAL_UNDECIDED says, logged and counted. With the database down the token cannot be
checked either: the undecided answer is given to whoever asks, which tells them nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.contact import predial
from calls.endpoints import intake
from calls.health import callback_counts
from calls.ingest import borrowers, callbacks
from calls.models import BluAccount, PredialAnswer

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def _door() -> intake.Door:
    return intake.Door(
        what="pre-dial check",
        token_field="predial_token",  # noqa: S106 (the field that holds it, no secret)
        kind=callback_counts.PREDIAL,
        rate_key="predial",
        per_minute=settings.BLUDASH_PREDIAL_RATE_PER_MINUTE,
        max_bytes=settings.BLUDASH_PREDIAL_MAX_BYTES,
    )


def parameters(body: bytes) -> dict[str, Any]:
    """The check's parameters: the body's object, with an extVars object's (or JSON text's)
    keys under it. Raises callbacks.BadCallback for a body that is not a JSON object."""
    payload = callbacks.load_json(body)
    if not isinstance(payload, dict):
        raise callbacks.BadCallback("the body is not a JSON object")
    ext_vars = payload.get("extVars")
    if isinstance(ext_vars, str):
        try:
            ext_vars = callbacks.load_json(ext_vars.encode())
        except callbacks.BadCallback:
            ext_vars = None
    if isinstance(ext_vars, dict):
        return {**ext_vars, **payload}
    return payload


def _answer(account: BluAccount, params: dict[str, Any]) -> predial.Answer:
    key = borrowers.borrower_key(params, "", account.borrower_key_list())
    order_id = borrowers.key_text(params.get("orderId"))
    return predial.decide(account, key[0] if key else None, order_id or None, timezone.now())


def _outcome(answer: predial.Answer) -> str:
    if not answer.decided:
        return callback_counts.UNDECIDED_UNKNOWN_BORROWER
    if answer.decision == PredialAnswer.Decision.CANCEL:
        return callback_counts.CANCEL
    return callback_counts.GO


@csrf_exempt
@require_POST
def blu_predial(request: HttpRequest, token: str) -> HttpResponse:
    account_pk = None
    try:
        admitted = intake.admit(request, token, _door())
        if admitted is None:
            raise Http404("No such pre-dial check.")
        if not isinstance(admitted, intake.Admitted):
            return admitted
        account = admitted.account
        account_pk = account.pk
        try:
            params = parameters(admitted.body)
        except callbacks.BadCallback as exc:
            message = str(exc)[: intake.MAX_MESSAGE]
            logger.info("Refused a pre-dial check for account %s: %s", account.name, message)
            callback_counts.count(account.pk, callback_counts.BAD_BODY, callback_counts.PREDIAL)
            return intake.refusal(400, message)
        answer = _answer(account, params)
    except DATABASE_UNAVAILABLE as exc:
        answer = predial.undecided("database unavailable")
        logger.error(
            "Answered a pre-dial check %s without deciding: the database is unavailable (%s)",
            answer.decision,
            type(exc).__name__,
        )
        callback_counts.count(
            account_pk, callback_counts.UNDECIDED_DATABASE, callback_counts.PREDIAL
        )
        return JsonResponse(answer.body())
    if not answer.decided:
        logger.warning(
            "Answered a pre-dial check for account %s %s without deciding: %s",
            account.name,
            answer.decision,
            answer.reason,
        )
    callback_counts.count(account.pk, _outcome(answer), callback_counts.PREDIAL)
    return JsonResponse(answer.body())
