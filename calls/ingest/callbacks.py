"""Blu's dial-result callback ("Calls from Blu to the lender" in docs/blu-api.md).

Blu signs nothing on these requests, so the body is read strictly: anything not of the contract's
shape is refused whole and nothing is stored. Blu retries failed deliveries, so the same record
arriving again must change nothing; it goes through the same upsert as a sync.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from django.db import transaction
from django.utils import timezone

from calls.blu.records import UnstorableRecord, read_record, record_task_id
from calls.ingest import group_commit, page_writer
from calls.ingest.callback_tasks import task_for_callback
from calls.ingest.page_writer import Pending, WriteResult
from calls.models import BluAccount, Task

# Blu sends one record per request; a little slack, never a flood.
MAX_RECORDS = 10
# A record is an object in a list in an object; its script and slots nest a few levels more.
# Deeper than this is no record, and a deep enough nesting would exhaust the parser's stack.
MAX_DEPTH = 32
# How much of a value from the body an error message may quote.
QUOTED_CHARS = 40

# A quote or a bracket; and the rest of a string after its opening quote, up to and including
# its closing one (possessive: nothing is ever scanned twice).
_QUOTE_OR_BRACKET = re.compile(r'["\[\]{}]')
_REST_OF_STRING = re.compile(r'(?:[^"\\]++|\\.)*+"', re.DOTALL)


class BadCallback(ValueError):
    """The body is not a dial-result callback; the message says what is wrong."""


def quoted(value: Any) -> str:
    """A value from the body as an error message may show it: short, and in quotes."""
    text = str(value)
    return repr(text[:QUOTED_CHARS]) + ("..." if len(text) > QUOTED_CHARS else "")


def _deepest(text: str) -> int:
    """How deep the JSON text's arrays and objects nest, brackets inside strings not counted.

    One pass from left to right, each character looked at once: a body of unterminated quotes
    (\" repeated) made the regex this replaced rescan to the end from every quote, minutes of
    CPU for one 256 KiB request. An unterminated string ends the count; json.loads refuses it."""
    depth = deepest = 0
    position = 0
    while found := _QUOTE_OR_BRACKET.search(text, position):
        position = found.end()
        mark = found.group()
        if mark == '"':
            rest = _REST_OF_STRING.match(text, position)
            if rest is None:
                break
            position = rest.end()
        elif mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        else:
            depth -= 1
    return deepest


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers may keep different copies of a repeated key; we refuse to guess which is meant.
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise BadCallback(f"the key {quoted(key)} appears twice in one object")
        seen.add(key)
    return dict(pairs)


def _not_a_number(name: str) -> NoReturn:
    raise BadCallback(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: PostgreSQL's jsonb has no infinity
        raise BadCallback(f"the number {quoted(text)} is too large")
    return number


def load_json(body: bytes) -> Any:
    """The body as JSON, read strictly: UTF-8 only, no NaN or Infinity, no repeated keys, no
    nesting deeper than MAX_DEPTH. Raises BadCallback."""
    if not body:
        # Django reads Content-Length bytes and no more: a chunked body arrives as nothing.
        raise BadCallback("the body is empty (send it with a Content-Length, not chunked)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadCallback(f"the body is not UTF-8 (byte {exc.start})") from None
    if _deepest(text) > MAX_DEPTH:
        raise BadCallback(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_constant=_not_a_number, parse_float=_finite
        )
    except BadCallback:
        raise
    except ValueError:
        raise BadCallback("the body is not JSON") from None


def parse_body(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(taskId as text, records) from a callback body, or BadCallback."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise BadCallback("the body is not a JSON object")
    task_id = record_task_id(payload)
    if task_id is None or isinstance(payload.get("taskId"), bool) or len(task_id) > 64:
        raise BadCallback("taskId is missing or not a number or string")
    records = payload.get("records")
    if not isinstance(records, list) or not records:
        raise BadCallback("records is missing or not a non-empty list")
    if len(records) > MAX_RECORDS:
        raise BadCallback(f"more than {MAX_RECORDS} records")
    for position, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise BadCallback(f"record {position} is not an object")
        own_task = record_task_id(record)
        if own_task is not None and own_task != task_id:
            raise BadCallback(
                f"record {position} names task {quoted(own_task)}, the body task {quoted(task_id)}"
            )
    return task_id, records


@dataclass(frozen=True)
class Received:
    task: Task
    new_task: bool  # the callback named a task we did not know: its caller queues a sync
    result: WriteResult


def receive(account: BluAccount, body: bytes) -> Received:
    """Store the records of one callback body for this account, or raise BadCallback (the body
    is not a callback) or callback_tasks.TooManyNewTasks (it names one new task too many)."""
    task_id, records = parse_body(body)
    zone = account.zone
    parsed: dict[str, dict[str, Any]] = {}
    for position, raw in enumerate(records, 1):
        try:
            fields = read_record(raw, zone)
        except UnstorableRecord as exc:
            raise BadCallback(f"record {position}: {exc}") from None
        parsed[fields["call_id"]] = fields
    result = WriteResult()
    task = None
    if not transaction.get_connection().in_atomic_block:
        task = Task.objects.filter(account=account, blu_task_id=str(task_id).strip()).first()
    if task is not None:
        # A task we know (nearly every callback): written with the account's other callbacks
        # in flight, answered once committed (group_commit.py).
        group_commit.write(Pending(task, page_writer.look(account.pk, parsed, result), result))
        return Received(task, False, result)
    with transaction.atomic():
        # Raises TooManyNewTasks past the account's hourly share of new tasks: nothing stored.
        task, new_task = task_for_callback(account, task_id)
        page_writer.write_records(task, parsed, result)
        # A call just ended: the task is active again, whatever the last poll found.
        Task.objects.filter(pk=task.pk).update(last_seen_at=timezone.now(), next_poll_at=None)
    return Received(task, new_task, result)
