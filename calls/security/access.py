"""Who may see what, in one place: every page view is built on DashboardView or checks one of
these, and templates ask the same permissions (calls/security/roles.py)."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from calls.security import roles


def no_access(request: HttpRequest, permission: str = roles.VIEW_DASHBOARD) -> HttpResponse:
    """The polite page for a signed-in user who lacks a right: what to ask for, nothing else.
    Someone who may not even see the dashboard is told to ask for a group, whatever the page."""
    needs_dashboard = permission == roles.VIEW_DASHBOARD or not request.user.has_perm(
        roles.VIEW_DASHBOARD
    )
    return render(request, "calls/no_access.html", {"needs_dashboard": needs_dashboard}, status=403)


class DashboardView(LoginRequiredMixin, PermissionRequiredMixin):
    """Sign-in first, then the permission: a user in no group gets the polite page."""

    permission_required: str | tuple[str, ...] = roles.VIEW_DASHBOARD
    request: HttpRequest

    def handle_no_permission(self):
        if not self.request.user.is_authenticated:
            return super().handle_no_permission()
        required = self.get_permission_required()
        return no_access(self.request, required[0] if required else roles.VIEW_DASHBOARD)


def can_use_admin(user) -> bool:
    return bool(user.is_active and (user.is_staff or user.has_perm(roles.MANAGE_ACCOUNTS)))
