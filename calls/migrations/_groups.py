"""Creating the groups of calls/security/roles.py, shared by the migrations that (re)apply that table.
Re-running only adds what is missing, so an admin's later additions to a group survive.

(The migration loader skips modules whose names start with an underscore.)"""

from django.contrib.auth.management import create_permissions

# roles.py is plain data with no models: a later permission needs a new migration that runs this.
from calls.security.roles import GROUPS


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            # A permission of a model a later migration creates is added by a later run.
            if permission is not None:
                group.permissions.add(permission)
