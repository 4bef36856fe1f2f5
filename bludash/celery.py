"""The Celery app: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery

from bludash.startup import read_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bludash.settings")

app = Celery("bludash")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _read_settings_first(**_) -> None:
    # Sent just before Celery reads its configuration from the settings (a worker, beat, or the
    # first task queued): a bad value stops `celery -A bludash ...` with one line.
    read_settings_or_exit()
