"""What every database starts with, seeded after migrate (and after a test flush): the periodic
poll, the nightly check of the figures, the borrowers' recount, the hourly clean-up of expired
exports, the catch-up of complaint emails and the daily draw of the calls to review in
django-celery-beat's schedule, Blu's conclusion dictionaries and the labels of the call statuses
Blu is known to send.

Each is added only where missing: what admins and managers changed is never overridden.
"""

from django.conf import settings
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from calls.ingest import summaries

POLL_TASK_NAME = "Poll Blu tasks"
VERIFY_TASK_NAME = "Verify the figures"
BORROWERS_TASK_NAME = "Recount borrowers' calls in 7 days"
# How far behind the borrower list's sort by calls in 7 days may fall (the counts shown are
# made at read).
BORROWERS_EVERY_SECONDS = 300
EXPIRE_EXPORTS_TASK_NAME = "Remove expired exports"
# Files are kept for hours: an hourly clean-up removes each within an hour of its expiry (its
# page says "expired" from the moment itself).
EXPIRE_EXPORTS_SECONDS = 3600
COMPLAINT_EMAILS_TASK_NAME = "Email new complaints"
# Each new complaint is emailed as its write commits; this catches one whose email was lost with
# the broker or the mail server.
COMPLAINT_EMAILS_SECONDS = 600
# The nightly check runs when calls are fewest, in the company's own night.
VERIFY_HOUR = 3
REVIEW_TASK_NAME = "Draw the calls to review"
# Yesterday's sample, drawn once the day is over in the company's zone.
REVIEW_HOUR = 1


def ensure_poll_schedule() -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=POLL_TASK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=settings.BLUDASH_POLL_SECONDS, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name=POLL_TASK_NAME, task="calls.tasks.poll_due_tasks", interval=interval
    )


def ensure_verify_schedule() -> None:
    _ensure_daily(VERIFY_TASK_NAME, "calls.tasks.verify_figures", VERIFY_HOUR)


def ensure_review_schedule() -> None:
    _ensure_daily(REVIEW_TASK_NAME, "calls.tasks.draw_review_sample", REVIEW_HOUR)


def _ensure_daily(name: str, task: str, hour: int) -> None:
    """A periodic task run daily at `hour` in the company's zone, added only where missing."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=name).exists():
        return
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour=str(hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(name=name, task=task, crontab=nightly)


def ensure_borrowers_schedule() -> None:
    _ensure_every(
        BORROWERS_TASK_NAME, "calls.tasks.refresh_borrower_counts", BORROWERS_EVERY_SECONDS
    )


def ensure_export_expiry_schedule() -> None:
    _ensure_every(EXPIRE_EXPORTS_TASK_NAME, "calls.tasks.expire_exports", EXPIRE_EXPORTS_SECONDS)


def ensure_complaint_email_schedule() -> None:
    _ensure_every(
        COMPLAINT_EMAILS_TASK_NAME, "calls.tasks.email_new_complaints", COMPLAINT_EMAILS_SECONDS
    )


def _ensure_every(name: str, task: str, seconds: int) -> None:
    """A periodic task run every `seconds`, added only where no task of that name is."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=name).exists():
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(name=name, task=task, interval=interval)


def ensure_conclusions() -> None:
    from calls.conclusions.dictionary import DICTIONARY
    from calls.models import Conclusion

    Conclusion.objects.bulk_create(
        [
            Conclusion(code=code, label=label, classified=True, **dict.fromkeys(flags, True))
            for code, (label, flags) in DICTIONARY.items()
        ],
        ignore_conflicts=True,
    )


def ensure_status_labels() -> None:
    from calls.blu.statuses import LABELS
    from calls.models import StatusLabel

    StatusLabel.objects.bulk_create(
        [StatusLabel(value=value, label=label) for value, label in LABELS.items()],
        ignore_conflicts=True,
    )


@receiver(post_migrate)
def _seed(sender, app_config, **kwargs) -> None:
    if app_config.label == "calls":
        ensure_poll_schedule()
        ensure_verify_schedule()
        ensure_review_schedule()
        ensure_borrowers_schedule()
        ensure_export_expiry_schedule()
        ensure_complaint_email_schedule()
        ensure_conclusions()
        ensure_status_labels()
        # A data migration may have reclassified codes: the flag counts follow (no call is read).
        summaries.apply_conclusion_flags()
