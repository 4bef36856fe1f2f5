"""The Blu V2.0 client: plain functions around one private request function, `_post`.

`_post` alone signs, sets the timeouts, holds one of the account's request slots for the
request (slots.py: at most BLUDASH_BLU_MAX_CONCURRENT at once, across every worker) and sorts
every answer into success, a temporary error (worth retrying) or a permanent one (stop and show
it). Endpoint functions name the section of
docs/blu-api.md they implement. Only the query is retried automatically: uploading or cancelling
twice is not harmless, so those surface their first failure.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from calls.blu import network_errors, slots
from calls.blu.signing import signed_headers

logger = logging.getLogger(__name__)

SUCCESS_CODE = 2000
UPLOAD_CHUNK = 200  # "At most 200 records per call."
# Blu publishes no error table; these words are how it says "later, please".
_BUSY_MESSAGE = re.compile(
    r"\bbusy\b|too frequent|too many requests|rate limit|try again later", re.IGNORECASE
)
# Nor a code for "no such task": these words are how it says it knows no task by that id (the
# sandbox answers "task not found" with code 4006; no published code fixes what 4006 means). A
# wrong appId or sign is refused before the task is looked at, so such an answer also says the
# credentials were accepted.
_TASK_UNKNOWN_MESSAGE = re.compile(
    r"\btask\w*\b.*\b(?:not found|not exists?|does not exist|doesn't exist|unknown)\b"
    r"|\b(?:unknown|no such)\s+task",
    re.IGNORECASE,
)
_MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class Credentials:
    """What a request to one Blu account needs. The key never appears in repr or str."""

    account: str
    base_url: str
    app_id: str
    app_key: str = field(repr=False)


class BluError(Exception):
    """A failed exchange with Blu. Carries what a person needs to act on it, never the key."""

    temporary = False

    def __init__(
        self,
        account: str,
        endpoint: str,
        message: str,
        *,
        code: int | str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.account = account
        self.endpoint = endpoint
        self.code = code
        self.blu_message = message[:_MESSAGE_LIMIT]
        self.http_status = http_status
        super().__init__(str(self))

    def __reduce__(self):
        # Celery pickles exceptions between processes; rebuild from our fields, not from args.
        return (
            _rebuild_error,
            (
                type(self),
                self.account,
                self.endpoint,
                self.blu_message,
                self.code,
                self.http_status,
            ),
        )

    def __str__(self) -> str:
        where = f"Blu {self.endpoint} for account {self.account!r}"
        if self.http_status not in (None, 200):
            where = f"{where}: HTTP {self.http_status}"
        if self.code is not None:
            return f"{where}: code {self.code}: {self.blu_message}"
        return f"{where}: {self.blu_message}"


def _rebuild_error(cls, account, endpoint, message, code, http_status):
    return cls(account, endpoint, message, code=code, http_status=http_status)


class BluTemporaryError(BluError):
    """Network trouble, a timeout, HTTP 5xx or 429, an unreadable body, or Blu saying it is busy."""

    temporary = True


class BluUnreachable(BluTemporaryError):
    """No answer at all: Blu's host refused, did not resolve, or did not answer in time. Its
    message names the host and the cause (calls/blu/network_errors.py)."""


class BluSlotsBusy(BluTemporaryError):
    """Every one of the account's request slots stayed taken for the whole wait: the request
    was not sent. Our own limit speaks, not Blu."""


class BluPermanentError(BluError):
    """Bad appId or sign, a bad request, anything retrying will not fix."""


class BluTaskUnknown(BluPermanentError):
    """Blu knows no task by this id: made up, mistyped, or not made yet. A fact about the task,
    not about the account: Blu read our signed request and answered."""


_session_lock = threading.Lock()
_session_state: dict[str, Any] = {"session": None, "pid": None}


def _session() -> requests.Session:
    """One pooled session per process (a forked Celery worker must not share its parent's
    sockets); urllib3's pool behind it serves the sync's prefetch threads safely."""
    with _session_lock:
        if _session_state["pid"] != os.getpid():
            _session_state["session"] = requests.Session()
            _session_state["pid"] = os.getpid()
        return _session_state["session"]


def _post(creds: Credentials, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST one signed request and return Blu's JSON answer, or raise a classified BluError."""
    endpoint = path.rsplit("/", 1)[-1]
    try:
        with slots.held(slots.account_key(creds.app_id, creds.base_url)):
            return _exchange(creds, endpoint, creds.base_url.rstrip("/") + path, body)
    except slots.AllTaken:
        raise BluSlotsBusy(
            creds.account,
            endpoint,
            f"Blu busy for this account: {settings.BLUDASH_BLU_MAX_CONCURRENT} requests to it "
            f"were under way for {settings.BLUDASH_BLU_SLOT_WAIT_SECONDS:g} s "
            "(BLUDASH_BLU_MAX_CONCURRENT); nothing was sent",
        ) from None


def _exchange(creds: Credentials, endpoint: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """`_post`'s request, in the slot it holds."""
    try:
        response = _session().post(
            url,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=signed_headers(creds.app_id, creds.app_key),
            timeout=(settings.BLUDASH_BLU_CONNECT_TIMEOUT, settings.BLUDASH_BLU_READ_TIMEOUT),
        )
    except UnicodeEncodeError:
        # An appId pasted with an invisible character (saved before the forms refused it).
        raise BluPermanentError(
            creds.account, endpoint, "the appId has characters an HTTP header cannot carry"
        ) from None
    except (
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidURL,
    ) as exc:
        # A base URL saved before the account forms refused it (ftp://, no scheme, no host):
        # retrying the same URL would never reach Blu.
        raise BluPermanentError(
            creds.account, endpoint, f"the base URL cannot be fetched: {type(exc).__name__}"
        ) from None
    except requests.RequestException as exc:
        # Named from its causes, not its text (which holds the URL): never a header or the key.
        connect, read = settings.BLUDASH_BLU_CONNECT_TIMEOUT, settings.BLUDASH_BLU_READ_TIMEOUT
        why = network_errors.describe(exc, url, connect, read)
        raise BluUnreachable(creds.account, endpoint, why) from None

    status = response.status_code
    try:
        answer = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's stack
        answer = None
    if status != 200:
        # Keep Blu's own code and message when the error page carries them.
        code = answer.get("code") if isinstance(answer, dict) else None
        message = answer.get("message") if isinstance(answer, dict) else None
        error = BluTemporaryError if status >= 500 or status == 429 else BluPermanentError
        raise error(
            creds.account,
            endpoint,
            str(message or response.reason or "unexpected answer"),
            code=code,
            http_status=status,
        )
    if answer is None:
        # A cut-off or garbled body: the next attempt usually reads whole.
        raise BluTemporaryError(
            creds.account, endpoint, "the answer is not JSON", http_status=status
        )
    if not isinstance(answer, dict) or "code" not in answer:
        raise BluTemporaryError(
            creds.account, endpoint, "the answer has no code", http_status=status
        )
    code = answer.get("code")
    if str(code) != str(SUCCESS_CODE):
        message = str(answer.get("message") or "no message")
        raise _refusal_class(message)(creds.account, endpoint, message, code=code)
    return answer


def _refusal_class(message: str) -> type[BluError]:
    """Which error a refusal (HTTP 200, a code other than success) is, by Blu's words."""
    if _BUSY_MESSAGE.search(message):
        return BluTemporaryError
    if _TASK_UNKNOWN_MESSAGE.search(message):
        return BluTaskUnknown
    return BluPermanentError


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: spreads retries of many workers apart."""
    ceiling = min(settings.BLUDASH_BLU_BACKOFF_MAX, settings.BLUDASH_BLU_BACKOFF * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def _post_retrying(creds: Credentials, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """`_post`, retried on temporary errors. Only for requests that are harmless to repeat."""
    attempts = settings.BLUDASH_BLU_RETRIES
    for attempt in range(attempts):
        try:
            return _post(creds, path, body)
        except BluTemporaryError as exc:
            if attempt + 1 >= attempts:
                raise
            delay = _backoff(attempt)
            logger.warning("%s; retrying in %.1fs (%d/%d)", exc, delay, attempt + 1, attempts)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def query_page(
    creds: Credentials, task_id: str, page_no: int, page_size: int, *, retry: bool = True
) -> list[dict[str, Any]]:
    """POST /rest/v1/queryCallResult: one page of a task's dial results (the last 45 days only).

    Returns the page's records as Blu sent them; an empty list means the pages have ended.
    `retry=False` asks once, for a person waiting on the answer (the admin's connection test).
    """
    post = _post_retrying if retry else _post
    answer = post(
        creds,
        "/rest/v1/queryCallResult",
        {"taskId": str(task_id), "pageNo": page_no, "pageSize": page_size},
    )
    data = answer.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise BluPermanentError(creds.account, "queryCallResult", "data is not a list")
    return data


def iter_pages(
    creds: Credentials, task_id: str, page_size: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Every page of a task, in order, until Blu answers an empty one.

    `count` is the number of records on a page, not the task's total, and Blu may quietly return
    fewer records than asked for, so a short page does not mean the last one: only an empty page
    ends the task.
    """
    size = page_size or settings.BLUDASH_PAGE_SIZE
    for page_no in range(1, settings.BLUDASH_MAX_PAGES + 1):
        records = query_page(creds, task_id, page_no, size)
        if not records:
            return
        yield records
    raise BluPermanentError(
        creds.account,
        "queryCallResult",
        f"task {task_id} still had records after {settings.BLUDASH_MAX_PAGES} pages "
        "(BLUDASH_MAX_PAGES); is Blu ignoring pageNo?",
    )


def _as_written(task_id: str) -> int | str:
    # Blu's upload and cancel examples send taskId as a number (the query's as a string).
    return int(task_id) if str(task_id).isdigit() else task_id


def cancel_call(
    creds: Credentials, task_id: str, mobile: str, order_id: str | int | None = None
) -> None:
    """POST /rest/v1/taskCancelPhoneCall: stop a call that has not happened yet. Not retried."""
    body: dict[str, Any] = {"taskId": _as_written(task_id), "mobile": mobile}
    if order_id is not None:
        body["orderId"] = order_id
    _post(creds, "/rest/v1/taskCancelPhoneCall", body)


def upload_records(creds: Credentials, task_id: str, records: Sequence[dict[str, Any]]) -> int:
    """POST /rest/v1/uploadAndStartJob, in chunks of at most 200 records. Not retried.

    Returns how many records Blu accepted. A failure stops at its chunk and says what is known,
    so a person can resume without calling anyone twice: a refusal means that chunk was not taken;
    a temporary error leaves it unknown whether Blu took it.
    """
    sent = 0
    for start in range(0, len(records), UPLOAD_CHUNK):
        chunk = list(records[start : start + UPLOAD_CHUNK])
        body = {"taskId": _as_written(task_id), "records": chunk}
        try:
            _post(creds, "/rest/v1/uploadAndStartJob", body)
        except BluSlotsBusy as exc:
            exc.blu_message = (
                f"{exc.blu_message} ({sent} records accepted; records from {start + 1} on were "
                "not sent)"
            )
            raise
        except BluTemporaryError as exc:
            exc.blu_message = (
                f"{exc.blu_message} ({sent} records accepted; whether Blu took records "
                f"{start + 1}-{start + len(chunk)} is unknown: check Blu's console first)"
            )
            raise
        except BluError as exc:
            exc.blu_message = (
                f"{exc.blu_message} ({sent} records accepted; records from {start + 1} on were not)"
            )
            raise
        sent += len(chunk)
    return sent
