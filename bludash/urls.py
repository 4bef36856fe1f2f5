from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from calls.security import password_change


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico wherever a page names no icon (the admin's): a 404 there is
    an error in every console. Resolved per request, so the static manifest is read when ready."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.svg")


# Signing in and out, and changing one's own password. No self-service reset: without a mail
# server emails are written to the log, where a reset link is a sign-in for whoever reads it, and
# the reset form would mail anyone's inbox on a stranger's request. An administrator sets a new
# password instead (the sign-in pages say so).
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The old password is checked like a sign-in: counted, locked and audited.
    path("password_change/", password_change.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("", include("calls.urls")),
]
