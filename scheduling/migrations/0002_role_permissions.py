"""The roles of SPEC §6 carry the scheduling permissions (groups from conductor 0002).

- viewer: sees schedules and their runs.
- operator: edits schedules (SPEC §1: "edit schedules"), triggers, pauses and resumes
  them.
- admin: every scheduling permission, deletion included.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ("view_schedule", "view_schedulerun")
OPERATE = ("add_schedule", "change_schedule", "trigger_schedule", "pause_schedule")


def grant(apps, schema_editor):
    for config in apps.get_app_configs():  # permissions are made after migrate
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    mine = Permission.objects.filter(content_type__app_label="scheduling")
    roles = {
        "viewer": mine.filter(codename__in=VIEW),
        "operator": mine.filter(codename__in=VIEW + OPERATE),
        "admin": mine,
    }
    for name, permissions in roles.items():
        Group.objects.get(name=name).permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    mine = Permission.objects.filter(content_type__app_label="scheduling")
    for group in Group.objects.filter(name__in=("viewer", "operator", "admin")):
        group.permissions.remove(*mine)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_schedules"),
        ("conductor", "0012_role_permissions"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
