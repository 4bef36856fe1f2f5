"""Learning conclusion codes as records are written: capped per account for what callbacks bring
(Blu signs none), never for what Blu's own query returns."""

from __future__ import annotations

from calls.ingest import callbacks, page_writer, sync
from calls.models import CallRecord, Conclusion
from tests.helpers import BLU_EXAMPLE, add_account, callback_body


def test_a_code_held_back_from_a_callback_is_learned_once_blus_query_returns_its_call(
    make_task, sandbox, settings
):
    settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY = 0
    task = make_task(calls=3)
    record = {**BLU_EXAMPLE, "taskId": task.blu_task_id, "callId": "zz1", "code": "ZZ1"}
    callbacks.receive(task.account, callback_body(record))
    assert not Conclusion.objects.filter(code="ZZ1").exists()

    # Blu's answer to our signed query carries the same call, unchanged.
    sandbox.inject("raw_records", task_id=task.blu_task_id, page_no=1, records=[record])
    sync.sync_task(task)

    assert Conclusion.objects.get(code="ZZ1").label == "Promised to payback"
    assert CallRecord.objects.get(call_id="zz1").code == "ZZ1"


def test_the_cap_counts_one_accounts_codes_apart_from_anothers(account, settings):
    settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY = 1
    other = add_account("other", app_id="2")

    held = page_writer.learn_codes(account.pk, [("ZZ1", ""), ("ZZ2", "")], capped=True)
    theirs = page_writer.learn_codes(other.pk, [("ZZ3", "")], capped=True)

    assert held == ["ZZ2"] and theirs == []
    assert sorted(
        Conclusion.objects.filter(code__startswith="ZZ").values_list("code", flat=True)
    ) == [
        "ZZ1",
        "ZZ3",
    ]


def test_the_codes_let_in_first_are_those_most_calls_carry(account, settings):
    settings.BLUDASH_CALLBACK_NEW_CODES_PER_DAY = 1

    held = page_writer.learn_codes(
        account.pk, [("ZZ1", ""), ("ZZ2", "Real"), ("ZZ2", "Real")], capped=True
    )

    assert held == ["ZZ1"] and Conclusion.objects.get(code="ZZ2").learned_from == account
