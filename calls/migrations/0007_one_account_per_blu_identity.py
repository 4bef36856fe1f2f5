"""One Blu account per (base URL, appId): stored base URLs are normalised first, and an upgrade
that finds the same Blu account registered twice stops, naming both, for an admin to decide which
to keep (their calls are copies of each other)."""

from django.db import migrations, models

from calls.models import normalized_base_url


def normalise_and_check(apps, schema_editor):
    BluAccount = apps.get_model("calls", "BluAccount")
    seen: dict[tuple[str, str], str] = {}
    twice = []
    for account in BluAccount.objects.order_by("pk"):
        url = normalized_base_url(account.base_url)
        if url != account.base_url:
            BluAccount.objects.filter(pk=account.pk).update(base_url=url)
        key = (url, account.app_id)
        if key in seen:
            twice.append(f"{seen[key]} and {account.name} (appId {account.app_id} at {url})")
        else:
            seen[key] = account.name
    if twice:
        raise RuntimeError(
            "These Blu accounts are the same Blu account registered twice, so every call is "
            "stored twice: " + "; ".join(twice) + ". In the admin, disable one of each pair and "
            "give it an appId of its own (e.g. add '-duplicate'), then migrate again; run "
            "`manage.py blu verify` afterwards."
        )


class Migration(migrations.Migration):
    dependencies = [("calls", "0006_admins_read_the_audit_log")]

    operations = [
        migrations.RunPython(normalise_and_check, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="bluaccount",
            constraint=models.UniqueConstraint(
                fields=("base_url", "app_id"),
                name="account_unique_blu_identity",
                violation_error_message="Another Blu account has this base URL and appId.",
            ),
        ),
    ]
