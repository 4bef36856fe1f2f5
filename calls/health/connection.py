"""Testing an account's credentials against Blu: one signed query, its outcome in plain words.

Blu has no "ping": the cheapest signed request is one record of a task it knows. A wrong appId
or app key is refused before the task is looked at, so any answer with Blu's own code tells the
admin whether the credentials hold: "no such task" means they were accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpRequest

from calls.audit import trail
from calls.blu import client
from calls.models import BluAccount, Task
from calls.security.crypto import AppKeyUnreadable

# The appId travels as an HTTP header: a character outside printable ASCII (a zero-width space or
# full-width digits pasted from a chat) would fail every request before it left, not as Blu's "no".
_APP_ID = re.compile(r"[\x21-\x7e]+")
APP_ID_HELP = (
    "An appId is letters, digits and punctuation only, with no spaces or invisible characters: "
    "type it rather than paste it."
)


def validate_app_id(value: str) -> None:
    if not _APP_ID.fullmatch(value):
        raise ValidationError(APP_ID_HELP, code="app_id")


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    task_id: str
    message: str  # what the admin is told
    code: int | str | None = None  # Blu's code, when its answer carried one
    # Blu accepted the appId and sign (it answered success, or that it knows no such task).
    credentials_accepted: bool = False


def latest_task_id(account: BluAccount) -> str | None:
    """The account's most recently seen task (the newest registered if none was seen yet)."""
    task = (
        Task.objects.filter(account=account)
        .order_by(F("last_seen_at").desc(nulls_last=True), "-first_seen_at", "-pk")
        .only("blu_task_id")
        .first()
    )
    return task.blu_task_id if task else None


def _describe(exc: client.BluError) -> str:
    if isinstance(exc, client.BluUnreachable):
        # Says it all already: "cannot reach Blu at <host>: connection refused".
        return exc.blu_message[:1].upper() + exc.blu_message[1:]
    parts = []
    if exc.http_status not in (None, 200):
        parts.append(f"HTTP {exc.http_status}")
    if exc.code is not None:
        parts.append(f"code {exc.code}")
    parts.append(exc.blu_message)
    detail = ": ".join(parts)
    if not exc.temporary:
        return f"Blu refused: {detail}"
    if exc.code is not None:
        return f"Blu is busy: {detail}"
    return f"No answer from Blu: {detail}"


def test_connection(
    account: BluAccount, task_id: str, request: HttpRequest | None = None
) -> ConnectionResult:
    """Ask Blu for one record of `task_id` with the account's credentials; audit the outcome.

    One attempt, never retried: an admin waits for this page, and a busy or silent Blu is itself
    the answer they need.
    """
    code: int | str | None = None
    try:
        client.query_page(account.credentials(), task_id, page_no=1, page_size=1, retry=False)
    except AppKeyUnreadable as exc:
        result = ConnectionResult(False, task_id, str(exc))
    except client.BluError as exc:
        code = exc.code
        if isinstance(exc, client.BluTaskUnknown):
            message = (
                f"Credentials accepted; Blu does not know task {task_id} "
                f"(code {exc.code}: {exc.blu_message})"
            )
            result = ConnectionResult(False, task_id, message, code, credentials_accepted=True)
        else:
            result = ConnectionResult(False, task_id, _describe(exc), code)
    else:
        message = f"Blu answered success for task {task_id}"
        result = ConnectionResult(True, task_id, message, credentials_accepted=True)
    trail.record(
        trail.Action.CONNECTION_TESTED,
        request,
        target=account.name,
        ok=result.ok,
        credentials_accepted=result.credentials_accepted,
        task_id=task_id,
        code=code,
        message=result.message,
    )
    return result


# pytest would collect this function wherever a test module imports it by name: it is no test.
test_connection.__test__ = False  # type: ignore[attr-defined]
