"""Seeds the periodic poll in django-celery-beat's schedule after migrate, once.

Admins change the interval in the admin afterwards; a later migrate never overrides them.
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


@receiver(post_migrate)
def _seed_poll_schedule(sender, app_config, **kwargs) -> None:
    if app_config.label == "calls":
        ensure_poll_schedule()
