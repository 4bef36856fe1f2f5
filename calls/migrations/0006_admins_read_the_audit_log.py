"""Admins may read the audit log (calls.view_auditevent, added to calls/security/roles.py)."""

from django.db import migrations

from calls.migrations._groups import create_groups


class Migration(migrations.Migration):
    dependencies = [("calls", "0005_audit_and_account_health")]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
