"""Blu's dial-result callback ("Calls from Blu to the lender" in shared/blu-api.md).

Blu signs nothing on these requests, so the body is read strictly: anything not of the contract's
shape is refused whole and nothing is stored. Blu retries failed deliveries, so the same record
arriving again must change nothing; it goes through the same upsert as a sync.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import BluAccount, Task
from .records import UnstorableRecord, read_record, record_task_id
from .sync import WriteResult, register_task, write_records

MAX_RECORDS = 100  # Blu sends one record per request; a little slack, never a flood


class BadCallback(ValueError):
    """The body is not a dial-result callback; the message says what is wrong."""


def parse_body(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(taskId as text, records) from a callback body, or BadCallback."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadCallback("the body is not JSON") from None
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
            raise BadCallback(f"record {position} names task {own_task}, the body task {task_id}")
    return task_id, records


def receive(account: BluAccount, body: bytes) -> WriteResult:
    """Store the records of one callback body for this account, or raise BadCallback."""
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
    with transaction.atomic():
        task, _ = register_task(account, task_id)
        write_records(task, parsed, result)
        # A call just ended: the task is active again, whatever the last poll found.
        Task.objects.filter(pk=task.pk).update(last_seen_at=timezone.now(), next_poll_at=None)
    return result
