"""Blu's push callback: the one endpoint that answers without a session."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import tasks
from calls.health import callback_counts
from calls.ingest import callback_tasks, callbacks
from calls.security import rate_limit

logger = logging.getLogger(__name__)

# An error message quotes at most a few short values from the body (callbacks.quoted); this caps
# the whole, whatever a future message quotes.
MAX_MESSAGE = 200


def _refusal(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": status, "message": message[:MAX_MESSAGE]}, status=status)


@csrf_exempt
@require_POST
def blu_callback(request: HttpRequest, token: str) -> HttpResponse:
    """Blu's dial-result callback. Blu signs nothing: the unguessable token is the only key.

    Any Content-Type is read as JSON: the contract names none, and a check on it would protect
    nothing (whoever holds the token can send any header), while refusing a real delivery over a
    header would lose the call until the next poll. The body itself is read strictly.
    """
    account = callbacks.account_for(token)
    if account is None:
        callback_counts.count(None, callback_counts.UNKNOWN_URL)
        raise Http404("No such callback.")
    wait = rate_limit.wait_seconds(
        f"callback:{account.pk}", settings.BLUDASH_CALLBACK_RATE_PER_MINUTE
    )
    if wait:
        logger.warning("Refused a callback for account %s: over the rate limit", account.name)
        callback_counts.count(account.pk, callback_counts.RATE_LIMITED)
        response = _refusal(429, "too many callbacks for this account; retry later")
        response["Retry-After"] = str(wait)
        return response
    limit = settings.BLUDASH_CALLBACK_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        callback_counts.count(account.pk, callback_counts.TOO_LARGE)
        return _refusal(413, f"body over {limit} bytes")
    # Whatever the header said (Django reads at most Content-Length bytes, however it is
    # written), read one byte past the limit to know the body is too long without reading it all.
    body = request.read(limit + 1)
    if len(body) > limit:
        callback_counts.count(account.pk, callback_counts.TOO_LARGE)
        return _refusal(413, f"body over {limit} bytes")
    try:
        received = callbacks.receive(account, body)
    except callbacks.BadCallback as exc:
        message = str(exc)[:MAX_MESSAGE]
        logger.info("Refused a callback for account %s: %s", account.name, message)
        callback_counts.count(account.pk, callback_counts.BAD_BODY)
        return _refusal(400, message)
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
        response = _refusal(
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
