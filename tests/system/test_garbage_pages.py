"""A Blu that answers some pages of some tasks with garbage, every time: the other tasks are
stored whole, a broken task keeps exactly the pages before its bad one, admins and staff see the
failures, and once Blu answers again a sync completes without a duplicate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.blu.client import BluError
from calls.ingest import sync
from calls.models import Task
from tests.helpers import (
    blu_call_ids,
    html_text,
    labelled_section,
    row_cells,
    stored_call_ids,
)

POLLS = 3

# Each task: (Blu task id, the fault every request for its bad page gets, that page, the
# error a person sees). 20 calls make pages of 7, 7 and 6.
BROKEN = [
    ("66547751", {"kind": "truncated"}, 2, "the answer is not JSON"),
    ("66547752", {"kind": "http500"}, 3, "HTTP 500"),
    ("66547753", {"kind": "code", "code": 5000, "message": "gateway garbage"}, 1, "gateway"),
]
WHOLE = ["66547761", "66547762"]


def poll(tasks: list[Task]) -> dict[int, str]:
    """One poll's worth of syncs, as the worker runs them: each task once, failures recorded."""
    errors = {}
    for task in tasks:
        try:
            sync.sync_task(task, trigger="poll")
        except BluError as exc:
            errors[task.pk] = str(exc)
    return errors


@pytest.fixture
def world(make_task, sandbox, settings):
    settings.BLUDASH_BLU_RETRIES = 2
    tasks = {blu_id: make_task(blu_id, calls=20) for blu_id, *_ in BROKEN}
    tasks.update({blu_id: make_task(blu_id, calls=20) for blu_id in WHOLE})
    for blu_id, fault, page_no, _ in BROKEN:
        params = {key: value for key, value in fault.items() if key != "kind"}
        sandbox.inject(fault["kind"], task_id=blu_id, page_no=page_no, times=None, **params)
    return tasks


def test_garbage_pages_cost_only_their_own_task_and_only_from_the_bad_page_on(world, sandbox):
    for _ in range(POLLS):
        errors = poll(list(world.values()))

    assert set(errors) == {world[blu_id].pk for blu_id, *_ in BROKEN}
    for blu_id, _, bad_page, error in BROKEN:
        task = world[blu_id]
        assert error in errors[task.pk]
        assert stored_call_ids(task) == blu_call_ids(sandbox, task, pages=bad_page - 1)
    for blu_id in WHOLE:
        assert stored_call_ids(world[blu_id]) == blu_call_ids(sandbox, world[blu_id]) != []


def test_admins_and_staff_see_which_tasks_fail_and_why(
    world, sandbox, admin_client_, staff_user, client
):
    for _ in range(POLLS):
        poll(list(world.values()))

    health = labelled_section(
        admin_client_.get(reverse("calls:health")).content.decode(), "health-tasks"
    )
    client.force_login(staff_user)
    overview = client.get(reverse("calls:overview")).content.decode()

    for blu_id, _, _, error in BROKEN:
        task = world[blu_id]
        row = row_cells(health, "task", task.pk)
        assert row["Name"] == str(task) and error in row["Last error"]
        assert row["Failures in a row"] == str(POLLS)
        assert str(task) in html_text(overview) and error in overview
    for blu_id in WHOLE:
        row = row_cells(health, "task", world[blu_id].pk)
        assert row["Failures in a row"] == "0" and row["Last error"] == "—"
    assert f"Failing {len(BROKEN)} tasks" in html_text(overview)


def test_once_blu_answers_again_a_sync_completes_without_duplicates(world, sandbox):
    for _ in range(POLLS):
        poll(list(world.values()))
    sandbox.clear_faults()

    assert poll(list(world.values())) == {}

    for task in world.values():
        stored = stored_call_ids(task)
        assert stored == blu_call_ids(sandbox, task) and len(stored) == len(set(stored)) == 20
        task.refresh_from_db()
        assert task.calls_total == 20 and task.consecutive_failures == 0 and task.last_sync_ok
