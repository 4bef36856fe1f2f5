"""The three groups of calls/security/roles.py with their permissions."""

from django.db import migrations

from calls.migrations._groups import create_groups


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_summaries_and_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
