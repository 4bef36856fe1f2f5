from django.db import migrations

from calls.migrations._groups import create_groups


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0013_conclusions_learned_from_an_account'),
    ]

    # Admins may delete a learned code no call uses (calls.delete_conclusion, added to
    # calls/security/roles.py; calls/admin.py allows no other).
    operations = [
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
