"""A deleted job's file removed from the exports storage. Jobs go with their requester (the
ExportJob's foreign key cascades), so deleting a user, in the admin or anywhere else, removes
their files too; the audit log keeps its events (their user is set to none, their username
stays), which name the job by number only.

The file is removed once the deletion commits: a deletion rolled back must not lose a file its
job still names. A storage that refuses is logged with the file's name, for an admin to remove
it by hand: the user is gone either way."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from calls.models import ExportJob, export_storage

logger = logging.getLogger(__name__)


def remove_file(name: str) -> None:
    try:
        export_storage().delete(name)
    except Exception:
        logger.exception("Could not remove the export file %s of a deleted job", name)


@receiver(post_delete, sender=ExportJob, dispatch_uid="calls.exports.deleted.remove_its_file")
def remove_its_file(sender: Any, instance: ExportJob, **kwargs: Any) -> None:
    if instance.file_name:
        name = instance.file_name
        transaction.on_commit(lambda: remove_file(name))
