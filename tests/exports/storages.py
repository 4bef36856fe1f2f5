"""Storages for the tests' settings (STORAGES["exports"]): a disk that fills up mid-file."""

from __future__ import annotations

import os

from django.core.files.storage import FileSystemStorage


class FullDisk(FileSystemStorage):
    """Writes half of each file, then fails as a full disk does."""

    def _save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        content.seek(0)
        data = content.read()
        with open(path, "wb") as half:
            half.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")


class DeniedOnRead(FileSystemStorage):
    """Stores files, then refuses to open them, as a bucket that lost its read permission."""

    def _open(self, name, mode="rb"):
        raise PermissionError(13, "Access Denied")


class RequesterDeletedOnSave(FileSystemStorage):
    """Stores the file, then deletes the job's requester (the job's number starts the name), as
    an admin deleting a user while their export is being written."""

    def _save(self, name, content):
        from django.contrib.auth import get_user_model

        from calls.models import ExportJob

        saved = super()._save(name, content)
        job = ExportJob.objects.get(pk=int(name.split("-", 1)[0]))
        get_user_model().objects.filter(pk=job.requester_id).delete()
        return saved
