"""A sample of the lender's repayments file for a sandbox world: what a ledger would say its
borrowers paid after the sandbox's promises. Made from the world's own plans (the same calls,
codes and payment-time slots the sandbox serves), so the demo has some promises kept, some
broken and some still open, whether or not the calls have been synced yet.

About half of the promises whose call has ended are paid, at a time drawn inside the window
(never after `until`); the rest are not paid at all, and break once their window and grace
pass."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta

from calls.blu.sandbox.world import World, conversation

PAID_SHARE = 0.55
_FORMAT = "%Y-%m-%d %H:%M:%S"


def sample_rows(world: World, until: datetime, default_days: int = 3) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    limit = until.timestamp()
    for task in world.tasks.values():
        zone = world.accounts[task.app_id].zone
        for i in range(task.calls):
            plan = task.plan(i)
            if plan.end > limit or plan.code not in ("PTP", "HPTP"):
                continue
            if not plan.ext_vars.startswith("{"):
                continue
            key = json.loads(plan.ext_vars).get("uniqueId")
            rng = random.Random(f"repayment:{task.task_id}:{i}")
            if not key or rng.random() >= PAID_SHARE:
                continue
            answered = datetime.fromtimestamp(plan.answer, zone)
            start, end = answered, answered + timedelta(days=default_days)
            if task.with_script and plan.answered:
                _, slots = conversation(task, i, plan, zone)
                if pair := slots.get("paymentTime"):
                    start, end = (datetime.strptime(t, _FORMAT).replace(tzinfo=zone) for t in pair)
            start = max(start, answered)
            paid_at = start + (end - start) * rng.random() if end > start else start
            if paid_at.timestamp() > limit:
                continue
            rows.append(
                {
                    "borrower": key,
                    "amount": str(rng.randrange(20, 400) * 50),
                    "paid_at": paid_at.strftime(_FORMAT),
                    "orderId": str(json.loads(plan.ext_vars).get("orderId", "")),
                    "reference": f"DEMO-{task.task_id}-{i}",
                }
            )
    return sorted(rows, key=lambda row: row["paid_at"])


def sample_csv(world: World, until: datetime, default_days: int = 3) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["borrower", "amount", "paid_at", "orderId", "reference"]
    )
    writer.writeheader()
    writer.writerows(sample_rows(world, until, default_days))
    return out.getvalue()
