"""The sandbox's sample repayments file, which `make demo` imports: made from the world's own
promises, it leaves some kept, some broken and some open."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from calls.blu.sandbox.repayments import sample_csv
from calls.ingest import sync
from calls.models import Promise, Repayment
from calls.promises import repayments, states


def test_the_sample_file_keeps_some_promises_and_leaves_others_broken_or_open(
    make_task, sandbox, account
):
    task = make_task(
        "8001", calls=240, minutes_ago=9 * 24 * 60, pace=3000.0, with_script=True, borrowers=60
    )
    sync.sync_task(task)
    text = sample_csv(sandbox.world, sandbox.now())
    records, errors = repayments.csv_records(text)
    assert not errors and records
    assert repayments.import_repayments(account, records).saved

    found = {states.state_of(promise) for promise in Promise.objects.all()}
    assert {"kept", "broken"} <= found and found & {"open", "due", "overdue"}
    # Every repayment keeps the promise it was drawn for, or its later one.
    assert Repayment.objects.filter(promise__isnull=False).count() >= len(records) // 2
    # Imported again: nothing twice.
    assert repayments.import_repayments(account, records).duplicates == len(records)


def test_the_demo_imports_its_sample_file_once(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.BLUDASH_SANDBOX_ENABLED = True
    first, again = StringIO(), StringIO()
    call_command("demo", stdout=first)
    stored = Repayment.objects.count()
    call_command("demo", stdout=again)

    assert stored > 0 and (tmp_path / "demo-repayments.csv").exists()
    assert f"{stored} new from demo-repayments.csv (0 already stored)" in first.getvalue()
    # Run again, the file holds the same rows (and any promise paid since): none stored twice.
    assert f"({stored} already stored)" in again.getvalue()
