"""The admin site opens to members of the Admins group (who may manage Blu accounts) as well as to
Django's staff flag, so that roles are granted by group alone."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class BludashAdminSite(admin.AdminSite):
    site_header = "bludash administration"
    site_title = "bludash admin"

    def has_permission(self, request) -> bool:
        from calls.security.access import can_use_admin

        return can_use_admin(request.user)


class BludashAdminConfig(AdminConfig):
    default_site = "bludash.admin.BludashAdminSite"
