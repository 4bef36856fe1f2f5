"""What every database starts with, seeded after migrate (and after a test flush): the periodic
poll in django-celery-beat's schedule and Blu's conclusion dictionaries.

Both are added only where missing: what admins and managers changed is never overridden.
"""

from django.conf import settings
from django.db.models.signals import post_migrate
from django.dispatch import receiver

POLL_TASK_NAME = "Poll Blu tasks"


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


@receiver(post_migrate)
def _seed(sender, app_config, **kwargs) -> None:
    if app_config.label == "calls":
        ensure_poll_schedule()
        ensure_conclusions()
