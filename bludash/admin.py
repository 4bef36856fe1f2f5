"""The admin site opens to members of the Admins group (who may manage Blu accounts) as well as to
Django's staff flag, so that roles are granted by group alone."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import reverse


class BludashAdminSite(admin.AdminSite):
    site_header = "bludash administration"
    site_title = "bludash admin"

    def has_permission(self, request) -> bool:
        from calls.security.access import can_use_admin

        return can_use_admin(request.user)

    def password_change(self, request, extra_context=None):
        """Django's, but the old password is checked like a sign-in (counted, locked, audited):
        Django's admin builds its form without the request that needs."""
        from calls.security.password_change import (
            PasswordChangeView,
            ThrottledAdminPasswordChangeForm,
        )

        defaults = {
            "form_class": ThrottledAdminPasswordChangeForm,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)


class BludashAdminConfig(AdminConfig):
    default_site = "bludash.admin.BludashAdminSite"
