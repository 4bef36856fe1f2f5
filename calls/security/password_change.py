"""Changing one's own password, on the dashboard's form and the admin's: the old password is
checked like a sign-in's, through authenticate(), so that a wrong one counts toward the same
per-user and per-address limits (signin_throttle), a locked user is refused before any password is
checked, and the audit log has it as a failed sign-in.

Whoever holds someone's open session could otherwise guess their password here without limit,
and learn the one that also opens the admin and every other session.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from calls.security import signin_throttle

# Set on the request while its old password is checked, for the audit log.
_CHECKING = "bludash_checking_old_password"


def checking_old_password(request: HttpRequest | None) -> bool:
    """Whether this request's authenticate() is a password change checking the old password."""
    return bool(getattr(request, _CHECKING, False))


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's form, with the old password checked through authenticate() with the request."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(user, *args, **kwargs)

    @sensitive_variables("old_password")
    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        username = self.user.get_username()
        setattr(self.request, _CHECKING, True)
        try:
            # A locked user is refused here without a check; a wrong password is counted.
            checked = authenticate(self.request, username=username, password=old_password)
        finally:
            delattr(self.request, _CHECKING)
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        signin_throttle.sign_in_succeeded(self.request, username)
        return old_password


class ThrottledAdminPasswordChangeForm(ThrottledPasswordChangeForm):
    # All that django.contrib.admin.forms.AdminPasswordChangeForm adds to Django's form.
    required_css_class = "required"


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the old password checked as a sign-in. Other sessions of the user end
    with the change (their session auth hash no longer matches); this one is kept."""

    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}
