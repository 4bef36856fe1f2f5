"""Blu's push callback: the one endpoint that answers without a session."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import tasks
from calls.endpoints import intake
from calls.health import callback_counts
from calls.ingest import callback_tasks, callbacks

logger = logging.getLogger(__name__)


def _door() -> intake.Door:
    return intake.Door(
        what="callback",
        token_field="callback_token",  # noqa: S106 (the field that holds it, no secret)
        kind=callback_counts.CALLBACKS,
        rate_key="callback",
        per_minute=settings.BLUDASH_CALLBACK_RATE_PER_MINUTE,
        max_bytes=settings.BLUDASH_CALLBACK_MAX_BYTES,
    )


@csrf_exempt
@require_POST
def blu_callback(request: HttpRequest, token: str) -> HttpResponse:
    """Blu's dial-result callback. Blu signs nothing: the unguessable token is the only key.

    Any Content-Type is read as JSON: the contract names none, and a check on it would protect
    nothing (whoever holds the token can send any header), while refusing a real delivery over a
    header would lose the call until the next poll. The body itself is read strictly.
    """
    admitted = intake.admit(request, token, _door())
    if admitted is None:
        raise Http404("No such callback.")
    if not isinstance(admitted, intake.Admitted):
        return admitted
    account, body = admitted.account, admitted.body
    try:
        received = callbacks.receive(account, body)
    except callbacks.BadCallback as exc:
        message = str(exc)[: intake.MAX_MESSAGE]
        logger.info("Refused a callback for account %s: %s", account.name, message)
        callback_counts.count(account.pk, callback_counts.BAD_BODY)
        return intake.refusal(400, message)
    except callback_tasks.TooManyNewTasks as exc:
        # Blu retries a refused delivery (every 5 minutes, 5 times); a real task is best
        # registered by a person, whose tasks this cap does not count.
        logger.warning(
            "Refused a callback for account %s: it names a new task, and its callbacks added "
            "%d new tasks in the last hour (BLUDASH_CALLBACK_NEW_TASKS_PER_HOUR)",
            account.name,
            exc.limit,
        )
        callback_counts.count(account.pk, callback_counts.TOO_MANY_NEW_TASKS)
        response = intake.refusal(
            429,
            "too many new tasks from callbacks for this account this hour; register the task "
            "on the Tasks page, or retry later",
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    callback_counts.count(account.pk, callback_counts.ACCEPTED)
    if received.new_task:
        tasks.enqueue_sync_on_commit(received.task.pk, trigger="new")
    result = received.result
    return JsonResponse(
        {"code": 200, "message": "success", "created": result.created, "changed": result.changed}
    )
