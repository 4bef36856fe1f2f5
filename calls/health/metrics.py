"""What `/metrics` tells Prometheus, computed at each scrape from what every process shares (the
database, the cache's callback counters, the broker), so that any web process answers for all of
them, however many gunicorn and Celery processes there are: no per-process state, no multiprocess
directory.

Series are bounded: per task only for tasks still polled (a task that stops being polled drops
out), per account for the rest. Syncs still running are not counted until they end.

Not here: the duration of each page fetched from Blu, which is stored nowhere (a run keeps its
start, end and page count only); the sync histogram is of whole runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from calls.health import callback_counts
from calls.models import BluAccount, SyncRun, Task

# Upper bounds of the sync duration buckets, in seconds: a quiet task takes a second, a large
# one many minutes.
SYNC_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
NO_ACCOUNT_LABEL = "(none)"  # callbacks whose token named no account


def _age(then, now) -> float:
    """Seconds since `then`; +Inf for never, so that an alert on "too long ago" fires for it."""
    return float("inf") if then is None else max((now - then).total_seconds(), 0.0)


class BludashCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        accounts = {account.pk: account.name for account in BluAccount.objects.all()}
        yield from self._accounts(now)
        yield from self._tasks(now)
        yield from self._syncs()
        yield from self._sync_durations(accounts)
        yield from self._callbacks(accounts)
        yield from self._predial(accounts)
        yield from self._queues()

    def _accounts(self, now) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "bludash_account_last_success_age_seconds",
            "Seconds since the account's last successful sync (+Inf: never).",
            labels=["account"],
        )
        failures = GaugeMetricFamily(
            "bludash_account_consecutive_failures",
            "Syncs of the account's tasks that failed in a row because of Blu.",
            labels=["account"],
        )
        for account in BluAccount.objects.filter(is_polled=True).order_by("name"):
            age.add_metric([account.name], _age(account.last_success_at, now))
            failures.add_metric([account.name], account.consecutive_failures)
        yield age
        yield failures

    def _tasks(self, now) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "bludash_task_last_success_age_seconds",
            "Seconds since the polled task's last successful sync (+Inf: never).",
            labels=["account", "task"],
        )
        failures = GaugeMetricFamily(
            "bludash_task_consecutive_failures",
            "Syncs of the polled task that failed in a row.",
            labels=["account", "task"],
        )
        for task in _polled_tasks():
            labels = [task.account.name, task.blu_task_id]
            age.add_metric(labels, _age(task.last_success_at, now))
            failures.add_metric(labels, task.consecutive_failures)
        yield age
        yield failures

    def _syncs(self) -> Iterator[Metric]:
        syncs = CounterMetricFamily(
            "bludash_syncs",
            "Finished syncs of the polled task, by outcome.",
            labels=["account", "task", "outcome"],
        )
        created = CounterMetricFamily(
            "bludash_records_created",
            "Call records the polled task's syncs stored for the first time.",
            labels=["account", "task"],
        )
        changed = CounterMetricFamily(
            "bludash_records_changed",
            "Stored call records the polled task's syncs changed.",
            labels=["account", "task"],
        )
        names = {task.pk: (task.account.name, task.blu_task_id) for task in _polled_tasks()}
        rows = (
            SyncRun.objects.filter(task__is_polled=True)
            .exclude(outcome=SyncRun.Outcome.RUNNING)
            .values("task_id", "outcome")
            .annotate(runs=Count("pk"), created_sum=Sum("created"), changed_sum=Sum("changed"))
            .order_by("task_id", "outcome")
        )
        totals: dict[int, list[int]] = {pk: [0, 0] for pk in names}
        for row in rows:
            if row["task_id"] not in names:  # polled since the first query: next scrape
                continue
            syncs.add_metric([*names[row["task_id"]], row["outcome"]], row["runs"])
            totals[row["task_id"]][0] += row["created_sum"] or 0
            totals[row["task_id"]][1] += row["changed_sum"] or 0
        for pk, (created_n, changed_n) in totals.items():
            created.add_metric(list(names[pk]), created_n)
            changed.add_metric(list(names[pk]), changed_n)
        yield syncs
        yield created
        yield changed

    def _sync_durations(self, accounts: dict[int, str]) -> Iterator[Metric]:
        histogram = HistogramMetricFamily(
            "bludash_sync_duration_seconds",
            "How long each finished sync of the account's tasks took, start to end.",
            labels=["account"],
        )
        buckets: dict[str, Any] = {
            f"le_{bound}": Count("pk", filter=Q(took__lte=timedelta(seconds=bound)))
            for bound in SYNC_BUCKETS
        }
        rows = (
            SyncRun.objects.exclude(finished_at=None)
            .annotate(took=ExpressionWrapper(F("finished_at") - F("started_at"), DurationField()))
            .values("task__account_id")
            .annotate(runs=Count("pk"), total=Sum("took"), **buckets)
            .order_by("task__account_id")
        )
        # Typed loosely: the stubs know no annotation named by a variable (the buckets').
        row: Any
        for row in rows:
            name = accounts.get(row["task__account_id"])
            if name is None:
                continue
            cumulative = [(str(float(b)), row[f"le_{b}"]) for b in SYNC_BUCKETS]
            total = row["total"] or timedelta(0)
            histogram.add_metric(
                [name],
                [*cumulative, ("+Inf", row["runs"])],
                sum_value=_seconds(total),
            )
        yield histogram

    def _callbacks(self, accounts: dict[int, str]) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "bludash_callbacks_received",
            "Callbacks Blu sent to the account, accepted or refused.",
            labels=["account"],
        )
        refused = CounterMetricFamily(
            "bludash_callbacks_refused",
            "Callbacks refused, by reason (unknown_token: the URL named no enabled account).",
            labels=["account", "reason"],
        )
        up = GaugeMetricFamily(
            "bludash_callback_counts_up", "1 when the cache holding the callback counts answered."
        )
        try:
            found = callback_counts.counts(accounts)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        names = {callback_counts.NO_ACCOUNT: NO_ACCOUNT_LABEL, **accounts}
        per_account: dict[str, int] = {}
        for (pk, outcome), value in sorted(found.items()):
            name = names.get(pk)
            if name is None:
                continue
            per_account[name] = per_account.get(name, 0) + value
            if outcome != callback_counts.ACCEPTED:
                refused.add_metric([name, outcome], value)
        for name, value in sorted(per_account.items()):
            received.add_metric([name], value)
        yield up
        yield received
        yield refused

    def _predial(self, accounts: dict[int, str]) -> Iterator[Metric]:
        answered = CounterMetricFamily(
            "bludash_predial_checks",
            "Blu's pre-dial checks by outcome: go, cancel, undecided_* (answered with "
            "BLUDASH_PREDIAL_UNDECIDED's answer, logged), or a refusal as the callback's.",
            labels=["account", "outcome"],
        )
        try:
            found = callback_counts.counts(accounts, kind=callback_counts.PREDIAL)
        except Exception:  # bludash_callback_counts_up already says the cache is down
            return
        names = {callback_counts.NO_ACCOUNT: NO_ACCOUNT_LABEL, **accounts}
        for (pk, outcome), value in sorted(found.items()):
            if (name := names.get(pk)) is not None:
                answered.add_metric([name, outcome], value)
        yield answered

    def _queues(self) -> Iterator[Metric]:
        lengths = GaugeMetricFamily(
            "bludash_broker_queue_length",
            "Messages waiting in the broker's queue (not yet taken by a worker).",
            labels=["queue"],
        )
        up = GaugeMetricFamily("bludash_broker_up", "1 when the broker answered this scrape.")
        try:
            found = queue_lengths(sorted(current_app.amqp.queues))
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for name, length in found.items():
            lengths.add_metric([name], length)
        yield up
        yield lengths


def queue_lengths(names: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue; a queue the broker does not know yet holds none."""
    from kombu.exceptions import ChannelError

    found = {}
    with current_app.connection_for_read(connect_timeout=settings.BLUDASH_READY_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=0)
        for name in names:
            channel: Any
            with conn.channel() as channel:
                try:
                    found[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:  # never declared: nothing was ever sent to it
                    found[name] = 0
    return found


def _polled_tasks() -> Iterable[Task]:
    return Task.objects.filter(is_polled=True).select_related("account").order_by("pk")


def _seconds(value: timedelta | float | int) -> float:
    # PostgreSQL sums intervals to a timedelta; SQLite's sum of durations is microseconds.
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value / 1_000_000


def registry() -> CollectorRegistry:
    """A registry of our collector alone (the default one would add this process's own figures,
    which differ from one process to the next)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(BludashCollector())
    return collectors
